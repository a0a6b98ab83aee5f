// Package httpxtest holds the properties the surfaces' fuzz targets check of every input: a refusal is a client
// error, and whatever is accepted can be stored.
package httpxtest

import (
	"testing"

	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
)

// ClientError fails t unless err is nil or a fault a handler answers with 4xx.
func ClientError(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if status := httpx.StatusOf(fault.CodeOf(err)); status < 400 || status >= 500 {
		t.Fatalf("%s: answered %d: %v", what, status, err)
	}
}

// Storable fails t when JSON holds text PostgreSQL refuses (NUL, invalid UTF-8, lone surrogates) or nests deeper
// than maxDepth: what every accepted input must never hold.
func Storable(t testing.TB, what string, data []byte, maxDepth int) {
	t.Helper()
	if err := validate.JSONText("", data, maxDepth); err != nil {
		t.Fatalf("%s: accepted, but not storable: %v\n%q", what, err, data)
	}
}
