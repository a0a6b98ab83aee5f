package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/platform/validate"
)

// Bodies no surface may store: each must be refused with a 4xx problem, never a 500.
var (
	deepJSON    = `{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`
	longNumber  = `{"n":` + strings.Repeat("7", 150) + `}`
	hugeNumber  = `{"n":1e400}`
	hostileJSON = map[string]string{
		"NUL escape":     `{"a":"x\u0000y"}`,
		"NUL in a key":   `{"a\u0000":1}`,
		"invalid UTF-8":  "{\"a\":\"x\xffy\"}",
		"lone surrogate": `{"a":"\ud800"}`,
		"low surrogate":  `{"a":"\udc00x"}`,
		"9,999 deep":     deepJSON,
		"long number":    longNumber,
		"huge number":    hugeNumber,
		"malformed":      `{"a":`,
	}
	// hostileText are field values a form may carry.
	hostileText = map[string]string{"NUL": "Ada\x00Lovelace", "invalid UTF-8": "Ada\xff\xfe"}
)

// refused checks an answer is a client error carrying a problem document, naming field when field is set.
func refused(t *testing.T, what string, status int, contentType, body, field string) {
	t.Helper()
	if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge && status != http.StatusUnprocessableEntity {
		t.Errorf("%s: status %d, want 400, 413 or 422: %.300s", what, status, body)
		return
	}
	if !strings.HasPrefix(contentType, "application/problem+json") {
		if field != "" && !strings.Contains(body, field) {
			t.Errorf("%s: the page does not name %q: %.300s", what, field, body)
		}
		return
	}
	if field == "" {
		return
	}
	var p problemDoc
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Errorf("%s: not a problem document: %v: %.300s", what, err, body)
		return
	}
	for _, e := range p.Errors {
		if e.Field == field || strings.HasPrefix(e.Field, field+".") {
			return
		}
	}
	t.Errorf("%s: the problem does not name %q: %.300s", what, field, body)
}

func TestHostileInputIsRefusedOnEverySurface(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	info, wfID := h.hookWorkflow(w, `{}`)

	t.Run("webhook body", func(t *testing.T) {
		for name, body := range hostileJSON {
			b := []byte(body)
			status, out := post(t, info.URL, b, signed(info.Secret, time.Now(), b))
			field := "body"
			if name == "malformed" {
				field = ""
			}
			refused(t, name, status, "application/problem+json", out, field)
		}
		for name, v := range hostileText {
			for ctype, body := range map[string]string{"text/plain": v, "application/x-www-form-urlencoded": "q=" + url.QueryEscape(v)} {
				b := []byte(body)
				hdr := signed(info.Secret, time.Now(), b)
				hdr.Set("Content-Type", ctype)
				status, out := post(t, info.URL, b, hdr)
				refused(t, name+" as "+ctype, status, "application/problem+json", out, "body")
			}
			status, out := post(t, info.URL+"?q="+url.QueryEscape(v), []byte(`{}`), signed(info.Secret, time.Now(), []byte(`{}`)))
			refused(t, name+" in the query", status, "application/problem+json", out, "query.q")
		}
	})

	t.Run("webhook idempotency key", func(t *testing.T) {
		// Header values may carry any byte above 0x7f; the key reaches the database, whose refusal is a 422.
		b := []byte(`{}`)
		hdr := signed(info.Secret, time.Now(), b)
		hdr.Set("Idempotency-Key", "key-\xff")
		status, out := post(t, info.URL, b, hdr)
		refused(t, "invalid UTF-8 Idempotency-Key", status, "application/problem+json", out, "")
	})

	t.Run("manual run body", func(t *testing.T) {
		for name, body := range hostileJSON {
			resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wfID + "/run", Bearer: admin, JSON: body})
			refused(t, name, resp.StatusCode, resp.Header.Get("Content-Type"), resp.body, "")
		}
		// A body as deep as a trigger may be is accepted: the limit is the trigger's, not an API document's.
		deep := `{"a":` + strings.Repeat("[", validate.MaxTriggerDepth-1) + strings.Repeat("]", validate.MaxTriggerDepth-1) + `}`
		if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wfID + "/run", Bearer: admin, JSON: deep}); resp.StatusCode != http.StatusAccepted {
			t.Errorf("a %d-deep body: %d %s", validate.MaxTriggerDepth, resp.StatusCode, resp.body)
		}
	})

	t.Run("public form post", func(t *testing.T) {
		slug := "hostile-" + strings.ToLower(w.orgA.ID.String()[:8])
		h.createForm(admin, fmt.Sprintf(feedbackForm, slug))
		for name, v := range hostileText {
			values := validFeedback()
			values.Set("name", v)
			resp := h.do(request{Method: "POST", Path: "/f/" + slug, Form: values})
			refused(t, name+" url-encoded", resp.StatusCode, resp.Header.Get("Content-Type"), resp.body, "")

			status, body := postMultipart(t, h.ts.URL+"/f/"+slug, values)
			refused(t, name+" multipart", status, "", body, "")
		}
		if n := h.countRows(`SELECT count(*) FROM form_submissions`); n != 0 {
			t.Errorf("%d hostile submissions stored", n)
		}
		// A browser's user agent may hold any byte above 0x7f; the submission is stored all the same.
		resp := h.do(request{Method: "POST", Path: "/f/" + slug, Form: validFeedback(), Header: http.Header{"User-Agent": {"Bot\xff"}}})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a valid submission from an odd user agent: %d", resp.StatusCode)
		}
	})

	t.Run("names", func(t *testing.T) {
		for name, v := range map[string]string{"NUL": `x\u0000y`, "lone surrogate": `x\udfffy`, "invalid UTF-8": "x\xffy"} {
			for _, c := range []struct{ what, path, body, field string }{
				{"workflow", "/api/v1/workflows", `{"name":"%s","definition":` + apiFlow + `}`, "name"},
				{"form", "/api/v1/forms", `{"name":"%s","slug":"n-` + strings.ToLower(w.orgA.ID.String()[:8]) + `","fields":[]}`, "name"},
				{"form field label", "/api/v1/forms", `{"name":"F","slug":"l-` + strings.ToLower(w.orgA.ID.String()[:8]) + `","fields":[{"name":"a","label":"%s","type":"text"}]}`, "fields.0.label"},
				{"integration", "/api/v1/integrations", `{"name":"%s","kind":"postgres","settings":{"host":"db.internal","database":"app","user":"app"}}`, "name"},
				{"token", "/api/v1/tokens", `{"name":"%s","expires_in_days":7}`, "name"},
				{"login e-mail", "/api/v1/auth/token", `{"email":"%s@example.com","password":"x"}`, "email"},
			} {
				resp := h.do(request{Method: "POST", Path: c.path, Bearer: admin, JSON: fmt.Sprintf(c.body, v)})
				refused(t, c.what+" "+name, resp.StatusCode, resp.Header.Get("Content-Type"), resp.body, c.field)
			}
		}
		cookie := h.sessionCookie(w.users["admin"], w.orgA.ID)
		for name, v := range hostileText {
			for _, c := range []struct {
				what, path string
				form       url.Values
				cookie     bool
				field      string
			}{
				{"login e-mail", "/login", url.Values{"email": {v + "@example.com"}, "password": {testPassword}}, false, "email"},
				{"sign-up organization", "/signup", url.Values{"name": {"Ada"}, "email": {newEmail()}, "password": {testPassword}, "organization": {v}}, false, "organization"},
				{"workflow page", "/workflows", url.Values{"name": {v}}, true, "name"},
				{"token page", "/settings/tokens", url.Values{"name": {v}, "expires_in_days": {"7"}}, true, "name"},
				{"integration page", "/integrations", integrationForm(v, "postgres", `{"host":"db.internal","database":"app","user":"app"}`), true, "name"},
			} {
				req := request{Method: "POST", Path: c.path, Form: c.form}
				if c.cookie {
					req.Cookie = cookie
				}
				resp := h.do(req)
				refused(t, c.what+" "+name, resp.StatusCode, resp.Header.Get("Content-Type"), resp.body, "&#34;"+c.field+"&#34;")
			}
		}
	})

	t.Run("settings", func(t *testing.T) {
		// Integration settings typed into the page arrive as JSON text inside a form field.
		cookie := h.sessionCookie(w.users["admin"], w.orgA.ID)
		for name, host := range map[string]string{"NUL escape": `db\u0000`, "lone surrogate": `db\ud800`, "invalid UTF-8": "db\xff"} {
			settings := `{"host":"` + host + `","database":"app","user":"app"}`
			resp := h.do(request{Method: "POST", Path: "/integrations", Cookie: cookie,
				Form: url.Values{"name": {"Warehouse " + name}, "kind": {"postgres"}, "settings": {settings}}})
			refused(t, name, resp.StatusCode, resp.Header.Get("Content-Type"), resp.body, "")
		}
	})

	t.Run("path", func(t *testing.T) {
		for _, path := range []string{"/f/a%00b", "/f/%ff", "/hooks/%00", "/api/v1/workflows?q=%00"} {
			resp := h.do(request{Method: "GET", Path: path, Bearer: admin})
			refused(t, path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.body, "")
		}
	})
	if strings.Contains(h.logs.String(), `"level":"ERROR"`) {
		t.Errorf("hostile input was logged as a server error:\n%s", h.logs.String())
	}
}

// postMultipart posts values as multipart/form-data.
func postMultipart(t *testing.T, target string, values url.Values) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range values {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(target, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
