package pages

import (
	"net/http"
	"strings"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// auditPage shows the organization's audit log to admins and owners.
func (s *Handlers) auditPage(w http.ResponseWriter, r *http.Request) {
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
	filter, err := httpx.AuditQuery(p.OrgID, q)
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
		q.Set("cursor", httpx.AuditCursor(next))
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
