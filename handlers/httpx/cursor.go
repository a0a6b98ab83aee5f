package httpx

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Keyset paging: an opaque cursor carries the (created_at, id) of the last item of the previous page, which stays
// correct while new rows arrive (an offset would shift).

// ErrBadCursor refuses a cursor this server did not give.
var ErrBadCursor = fault.Fields("bad cursor", fault.FieldError{Field: "cursor", Message: "is not a cursor this API gave"})

// EncodePageCursor is the cursor of the page after the item created at at with id.
func EncodePageCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id.String()))
}

// DecodePageCursor reads a cursor EncodePageCursor made; any other is ErrBadCursor.
func DecodePageCursor(c string) (time.Time, uuid.UUID, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	ts, idText, ok := strings.Cut(string(raw), "|")
	at, terr := time.Parse(time.RFC3339Nano, ts)
	id, ierr := uuid.Parse(idText)
	if !ok || terr != nil || ierr != nil {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	return at, id, nil
}

// Ptr returns a pointer to a copy of v, for optional fields.
func Ptr[T any](v T) *T { return &v }
