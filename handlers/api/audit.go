package api

import (
	"net/http"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// apiAuditList is GET /api/v1/audit: the same filters as the page, answered as {items, next_cursor}.
func (s *Handlers) apiAuditList(w http.ResponseWriter, r *http.Request) {
	p := httpx.PrincipalFrom(r.Context())
	if err := httpx.Authorize(r, authz.AuditView, authz.Org(p.OrgID)); err != nil {
		s.Problem(w, r, err)
		return
	}
	filter, err := httpx.AuditQuery(p.OrgID, r.URL.Query())
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	entries, next, err := s.deps.Store.AuditList(r.Context(), filter)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, auditListJSON{entries, httpx.AuditCursor(next)})
}

// auditListJSON is the answer of GET /api/v1/audit; NextCursor is absent on the last page.
type auditListJSON struct {
	Items      []store.AuditEntry `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}
