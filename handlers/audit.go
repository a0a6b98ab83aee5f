package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// auditQuery reads the audit log's filters from a query string, shared by the page and the API: action (a
// prefix), actor (a user id), from and to (dates, to inclusive), cursor (from the previous page) and limit.
func auditQuery(orgID uuid.UUID, q url.Values) (store.AuditFilter, error) {
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
		at, id, err := httpx.DecodePageCursor(v)
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

// auditCursor is the opaque query-string form of an audit page's keyset position ("" on the last page).
func auditCursor(c *store.AuditCursor) string {
	if c == nil {
		return ""
	}
	return httpx.EncodePageCursor(c.CreatedAt, c.ID)
}

// auditPage shows the organization's audit log to admins and owners.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	p := httpx.PrincipalFrom(r.Context())
	if err := httpx.Authorize(r, authz.AuditView, authz.Org(p.OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	q := r.URL.Query()
	page := views.AuditPage{Filter: views.AuditFilter{Action: q.Get("action"), ActorID: q.Get("actor"),
		From: q.Get("from"), To: q.Get("to")}}
	members, err := s.deps.Store.MemberList(r.Context(), p.OrgID)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, m := range members {
		page.Actors = append(page.Actors, views.OrgChoice{ID: m.UserID.String(), Name: m.Name + " <" + m.Email + ">"})
	}
	status := http.StatusOK
	filter, err := auditQuery(p.OrgID, q)
	if err != nil {
		page.Error = "The filter is not valid: " + fieldList(err)
		status = s.FormStatus(w, r, err)
		s.Render(w, r, status, "Audit log", views.Audit(page))
		return
	}
	entries, next, err := s.deps.Store.AuditList(r.Context(), filter)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, e := range entries {
		page.Entries = append(page.Entries, auditRow(e))
	}
	if next != nil {
		q.Set("cursor", auditCursor(next))
		page.NextURL = "/settings/audit?" + q.Encode()
	}
	s.Render(w, r, status, "Audit log", views.Audit(page))
}

func fieldList(err error) string {
	var parts []string
	for _, f := range fault.As(err).Fields {
		parts = append(parts, f.Field+" "+f.Message)
	}
	return strings.Join(parts, "; ")
}

func auditRow(e store.AuditEntry) views.AuditRow {
	row := views.AuditRow{At: e.CreatedAt, Action: e.Action, ViaToken: e.ActorTokenID != nil, RequestID: e.RequestID,
		Before: string(e.Before), After: string(e.After)}
	switch {
	case e.ActorEmail != "":
		row.Actor = e.ActorName + " <" + e.ActorEmail + ">"
	case e.ActorUserID != nil:
		row.Actor = "a former user"
	default:
		row.Actor = "system"
	}
	if e.TargetType != "" {
		row.Target = e.TargetType + " " + e.TargetID
	}
	if e.RemoteIP != nil {
		row.RemoteIP = e.RemoteIP.String()
	}
	return row
}

// apiAuditList is GET /api/v1/audit: the same filters as the page, answered as {items, next_cursor}.
func (s *Server) apiAuditList(w http.ResponseWriter, r *http.Request) {
	p := httpx.PrincipalFrom(r.Context())
	if err := httpx.Authorize(r, authz.AuditView, authz.Org(p.OrgID)); err != nil {
		s.Problem(w, r, err)
		return
	}
	filter, err := auditQuery(p.OrgID, r.URL.Query())
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	entries, next, err := s.deps.Store.AuditList(r.Context(), filter)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, auditListJSON{entries, auditCursor(next)})
}

// auditListJSON is the answer of GET /api/v1/audit; NextCursor is absent on the last page.
type auditListJSON struct {
	Items      []store.AuditEntry `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}
