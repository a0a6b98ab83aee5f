package httpx

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
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
	if status := StatusOf(fault.CodeOf(err)); status < 400 || status >= 500 {
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
		var in app.WorkflowInput
		err := DecodeJSON(httptest.NewRecorder(), r, &in)
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
