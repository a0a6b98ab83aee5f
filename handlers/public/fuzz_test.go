package public

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/handlers/httpx/httpxtest"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// These fuzz targets run their seeds (below and under testdata/fuzz/<Name>) as ordinary tests; `go test -fuzz
// '^FuzzName$' ./handlers` explores further. None needs a database: each calls the code a request goes through
// after its target is resolved, so it runs thousands of inputs a second.

// FuzzWebhookTriggerData reads webhook calls (body, media type, query) as the webhook handler does once the
// signature is checked. Properties: a refusal is a 4xx fault; an accepted call makes trigger data that can be
// stored and that the sandbox's depth limit (128) admits.
func FuzzWebhookTriggerData(f *testing.F) {
	for _, s := range [][3]string{
		{`{"total":250}`, "application/json", "a=1&a=2"}, {"x\x00y", "text/plain", ""}, {"q=%00", "application/x-www-form-urlencoded", ""},
		{`{"a":"\ud800"}`, "application/vnd.api+json", ""}, {strings.Repeat("[", 200), "application/json", ""},
		{"plain \xff", "", "b=%ff"}, {"", "application/json", ""},
	} {
		f.Add([]byte(s[0]), s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, body []byte, mediaType, query string) {
		if strings.ContainsFunc(mediaType, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
			return // net/http answers 400 to a header value with control characters before any handler runs
		}
		r := httptest.NewRequest("POST", "/hooks/x", nil)
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", mediaType)
		// The middleware refuses a query that is not text before any handler reads it.
		if validate.Values("query", r.URL.Query()) != nil {
			return
		}
		trigger, err := hookTriggerData(r, body, nodes.WebhookConfig{})
		httpxtest.ClientError(t, "hookTriggerData", err)
		if err == nil {
			httpxtest.Storable(t, "trigger data", trigger, validate.MaxTriggerDepth+1)
		}
	})
}

// FuzzVerifySignature calls the webhook signature check with hostile headers. Properties: nothing panics; a header
// is accepted only when it carries the body's HMAC at a time inside the window; the signature SignatureValue
// writes is always accepted; every refusal is 401.
func FuzzVerifySignature(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	secret := []byte("whsec_fuzz")
	f.Add("t=1800000000,v1="+strings.Repeat("0", 64), []byte(`{"a":1}`))
	f.Add(httpx.SignatureValue(string(secret), now, []byte(`{"a":1}`)), []byte(`{"a":1}`))
	f.Add("t=-9223372036854775808,v1=zz,v1=,t=", []byte{})
	f.Add(" t = 1800000000 , v1=00", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		signedAt, err := verifySignature(header, [][]byte{secret}, body, now)
		if err != nil {
			if fault.CodeOf(err) != fault.Unauthorized {
				t.Fatalf("refusal %v is not 401", err)
			}
		} else if !carriesSignature(header, secret, body, now) {
			t.Fatalf("accepted %q, which does not carry the body's signature at a time in the window", header)
		} else if !strings.Contains(strings.ToLower(header), hex.EncodeToString(httpx.Sign(secret, signedAt, body))) {
			t.Fatalf("accepted %q as signed at %d, which is not the time its signature covers", header, signedAt)
		}
		if _, err := verifySignature(httpx.SignatureValue(string(secret), now, body), [][]byte{secret}, body, now); err != nil {
			t.Fatalf("its own signature is refused: %v", err)
		}
	})
}

// carriesSignature reports whether header holds, for one of its t values inside the window, the body's HMAC at
// that time.
func carriesSignature(header string, secret, body []byte, now time.Time) bool {
	lower := strings.ToLower(header)
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		sec, err := strconv.ParseInt(v, 10, 64)
		if k != "t" || err != nil {
			continue
		}
		if d := now.Sub(time.Unix(sec, 0)); d > signatureTolerance || d < -signatureTolerance {
			continue
		}
		if strings.Contains(lower, hex.EncodeToString(httpx.Sign(secret, sec, body))) {
			return true
		}
	}
	return false
}

// FuzzMultipartUpload reads multipart bodies as workflow uploads and as public form submissions, into real local
// storage. Properties: a refusal is a 4xx fault; a stored file is within its limit under a clean name; a
// submission's text values are storable text.
func FuzzMultipartUpload(f *testing.F) {
	const boundary = "fuzzboundary"
	part := func(headers, content string) string {
		return "--" + boundary + "\r\n" + headers + "\r\n\r\n" + content + "\r\n"
	}
	f.Add([]byte(part(`Content-Disposition: form-data; name="file"; filename="a.txt"`, "hello") + "--" + boundary + "--\r\n"))
	f.Add([]byte(part(`Content-Disposition: form-data; name="name"`, "Ada\x00") + part(`Content-Disposition: form-data; name="file"; filename="../../etc/passwd\x00.png"`, "\x89PNG\r\n\x1a\n") + "--" + boundary + "--\r\n"))
	f.Add([]byte(part(`Content-Disposition: form-data; name="file"; filename*=UTF-8''%ff%fe`, strings.Repeat("x", 300)) + "--" + boundary + "--\r\n"))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nunterminated"))
	files, err := storage.NewLocal(f.TempDir(), storage.LocalOptions{MaxBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	defer files.Close()
	kit, err := httpx.NewKit(httpx.Config{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry(), BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1"}, Files: files})
	if err != nil {
		f.Fatal(err)
	}
	s := New(kit, Deps{})
	form := store.Form{Fields: []store.FormField{{Name: "name", Label: "Name", Type: store.FieldText},
		{Name: "file", Label: "File", Type: store.FieldFile}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		newRequest := func() *http.Request {
			r := httptest.NewRequest("POST", "/upload", bytes.NewReader(body))
			r.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
			return r
		}
		const limit = 256
		file, err := s.receiveUpload(httptest.NewRecorder(), newRequest(), nodes.FileUploadConfig{MaxBytes: limit})
		httpxtest.ClientError(t, "receiveUpload", err)
		if err == nil {
			if file.Size > limit {
				t.Fatalf("stored %d bytes over a %d-byte limit", file.Size, limit)
			}
			cleanName(t, file.Filename)
			s.DeleteFiles(context.Background(), []string{file.StorageKey})
		}

		in, err := s.readSubmission(httptest.NewRecorder(), newRequest(), form)
		httpxtest.ClientError(t, "readSubmission", err)
		for _, f := range in.files {
			cleanName(t, f.Filename)
		}
		s.DeleteFiles(context.Background(), in.storageKeys())
		if err == nil {
			if bad := validate.Values("", in.values); bad != nil {
				t.Fatalf("accepted values that are not text: %v", bad)
			}
		}
	})
}

// cleanName fails t when a stored file's name could escape a folder, break a header or not be stored.
func cleanName(t *testing.T, name string) {
	t.Helper()
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, `/\"`) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		t.Fatalf("stored under the name %q", name)
	}
}
