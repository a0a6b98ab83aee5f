package httpx

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// AuditQuery reads the audit log's filters from a query string, shared by the page and the API: action (a
// prefix), actor (a user id), from and to (dates, to inclusive), cursor (from the previous page) and limit.
func AuditQuery(orgID uuid.UUID, q url.Values) (store.AuditFilter, error) {
	f := store.AuditFilter{OrganizationID: orgID, ActionPrefix: strings.TrimSpace(q.Get("action"))}
	var bad []fault.FieldError
	if v := q.Get("actor"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			bad = append(bad, fault.FieldError{Field: "actor", Message: "is not a user id"})
		}
		f.ActorUserID = &id
	}
	day := func(field string, offset time.Duration) *time.Time {
		v := q.Get(field)
		if v == "" {
			return nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				bad = append(bad, fault.FieldError{Field: field, Message: "is not a date (YYYY-MM-DD)"})
				return nil
			}
			return &t
		}
		t = t.Add(offset)
		return &t
	}
	f.CreatedFrom = day("from", 0)
	f.CreatedBefore = day("to", 24*time.Hour)
	if v := q.Get("cursor"); v != "" {
		at, id, err := DecodePageCursor(v)
		if err != nil {
			bad = append(bad, fault.FieldError{Field: "cursor", Message: "is not valid"})
		}
		f.Cursor = &store.AuditCursor{CreatedAt: at, ID: id}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			bad = append(bad, fault.FieldError{Field: "limit", Message: "must be from 1 to 200"})
		}
		f.Limit = n
	}
	if len(bad) > 0 {
		return f, fault.Fields("bad filter", bad...)
	}
	return f, nil
}

// AuditCursor is the opaque query-string form of an audit page's keyset position ("" on the last page).
func AuditCursor(c *store.AuditCursor) string {
	if c == nil {
		return ""
	}
	return EncodePageCursor(c.CreatedAt, c.ID)
}
