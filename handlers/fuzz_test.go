package handlers

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// These fuzz targets run their seeds (below and under testdata/fuzz/<Name>) as ordinary tests; `go test -fuzz
// '^FuzzName$' ./handlers` explores further. None needs a database: each calls the code a request goes through
// after its target is resolved, so it runs thousands of inputs a second.

// clientError fails t unless err is nil or a fault a handler answers with 4xx.
func clientError(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if status := httpx.StatusOf(fault.CodeOf(err)); status < 400 || status >= 500 {
		t.Fatalf("%s: answered %d: %v", what, status, err)
	}
}

// storable fails t when JSON holds text PostgreSQL refuses (NUL, invalid UTF-8, lone surrogates) or nests deeper
// than maxDepth: what every accepted input must never hold.
func storable(t *testing.T, what string, data []byte, maxDepth int) {
	t.Helper()
	if err := validate.JSONText("", data, maxDepth); err != nil {
		t.Fatalf("%s: accepted, but not storable: %v\n%q", what, err, data)
	}
}

// FuzzDecodeJSON posts bodies to the API's decoder with the workflow input as its target. Properties: every
// refusal is a 4xx fault; every accepted body holds only storable text (checked field by field by the validator's
// walk, and as re-encoded JSON).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"Orders","definition":{"nodes":[],"edges":[]}}`, `{"name":"x\u0000"}`,
		`{"name":"ok","extra":1}`, `{"name":"ok"} {}`, `{"priority":1e400}`, `{"definition":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/workflows", bytes.NewReader(body))
		var in workflowInput
		err := httpx.DecodeJSON(httptest.NewRecorder(), r, &in)
		clientError(t, "decodeJSON", err)
		if err != nil {
			return
		}
		if bad := validate.StructText(in); len(bad) > 0 {
			t.Fatalf("accepted text the database refuses: %+v", bad)
		}
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		storable(t, "re-encoded input", again, validate.MaxDocumentDepth+1)
	})
}

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
		clientError(t, "hookTriggerData", err)
		if err == nil {
			storable(t, "trigger data", trigger, validate.MaxTriggerDepth+1)
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
	f.Add(SignatureValue(string(secret), now, []byte(`{"a":1}`)), []byte(`{"a":1}`))
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
		} else if !strings.Contains(strings.ToLower(header), hex.EncodeToString(Sign(secret, signedAt, body))) {
			t.Fatalf("accepted %q as signed at %d, which is not the time its signature covers", header, signedAt)
		}
		if _, err := verifySignature(SignatureValue(string(secret), now, body), [][]byte{secret}, body, now); err != nil {
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
		if strings.Contains(lower, hex.EncodeToString(Sign(secret, sec, body))) {
			return true
		}
	}
	return false
}

// FuzzFormSchema checks form schemas as the API and builder do, then fills the accepted ones in. Properties: a
// refusal is an Invalid fault naming fields; an accepted schema is stable (checking it again changes nothing) and
// renders; a submission of text values is answered with data that can be stored or with messages, never a panic.
func FuzzFormSchema(f *testing.F) {
	f.Add([]byte(`{"name":"Feedback","slug":"feedback","published":true,"fields":[
		{"name":"name","label":"Your name","type":"text","required":true,"min_length":2},
		{"name":"age","label":"Age","type":"number","min":18,"max":120},
		{"name":"topic","label":"Topic","type":"select","options":["Praise","Complaint"]},
		{"name":"when","label":"When","type":"date","min":"2020-01-01"},
		{"name":"code","label":"Code","type":"text","pattern":"[A-Z]{3}-[0-9]+"}]}`), "name=Ada&age=36&topic=Praise&when=2024-02-30&code=ABC-1")
	f.Add([]byte(`{"name":"x\u0000","slug":"a","fields":[{"name":"a","label":"\ud800","type":"checkbox","options":["","x"]}]}`), "a=x&a=y")
	f.Add([]byte(`{"name":"n","slug":"n","fields":[{"name":"f","label":"F","type":"file","accept":["image/*"],"max_bytes":1}],"settings":{"redirect_url":"javascript:alert(1)"}}`), "f=1")
	f.Add([]byte(`{"name":"n","slug":"n","fields":[{"name":"n","label":"N","type":"number","min":1e308,"max":-1e308}]}`), "n=1e309")
	f.Fuzz(func(t *testing.T, schema []byte, submission string) {
		var body formInputJSON
		if json.Unmarshal(schema, &body) != nil {
			return
		}
		in := body.merge(store.FormInput{})
		err := app.CheckForm(&in)
		if err != nil {
			if e := fault.As(err); e.Code != fault.Invalid || len(e.Fields) == 0 {
				t.Fatalf("refusal %#v", e)
			}
			return
		}
		before, _ := json.Marshal(in)
		if err := app.CheckForm(&in); err != nil {
			t.Fatalf("an accepted schema is refused when checked again: %v\n%s", err, before)
		}
		if after, _ := json.Marshal(in); !bytes.Equal(before, after) {
			t.Fatalf("checking changed an accepted schema:\n%s\n%s", before, after)
		}
		form := store.Form{Name: in.Name, Slug: in.Slug, Fields: in.Fields, Settings: in.Settings, Published: true}
		values, err := url.ParseQuery(submission)
		if err != nil || validate.Values("", values) != nil {
			return // refused before validation, as readSubmission does
		}
		data, errs := app.CheckAnswers(form.Fields, values, nil, nil)
		if len(errs) == 0 {
			raw, err := json.Marshal(data)
			if err != nil {
				t.Fatalf("accepted data does not encode: %v", err)
			}
			storable(t, "submission", raw, validate.MaxDocumentDepth)
		}
		if err := views.PublicFormBody(publicFormView(form, values, errs)).Render(context.Background(), io.Discard); err != nil {
			t.Fatalf("the form does not render: %v", err)
		}
	})
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
	s := &Server{deps: Deps{Files: files}}
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
		clientError(t, "receiveUpload", err)
		if err == nil {
			if file.Size > limit {
				t.Fatalf("stored %d bytes over a %d-byte limit", file.Size, limit)
			}
			cleanName(t, file.Filename)
			s.DeleteFiles(context.Background(), []string{file.StorageKey})
		}

		in, err := s.readSubmission(httptest.NewRecorder(), newRequest(), form)
		clientError(t, "readSubmission", err)
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
