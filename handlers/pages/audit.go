package pages

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/uuid"

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
	names, err := s.auditTargetNames(r, p.OrgID, entries, members)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, e := range entries {
		row := auditRow(e)
		if e.TargetType != "" {
			row.Target = strings.ReplaceAll(e.TargetType, "_", " ") + " " + targetName(e, names)
		}
		page.Entries = append(page.Entries, row)
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
		row.Target, row.TargetID = e.TargetType+" "+e.TargetID, e.TargetID
	}
	if e.RemoteIP != nil {
		row.RemoteIP = e.RemoteIP.String()
	}
	return row
}

// auditTargetNames names the targets of a page of audit entries that still exist, keyed "type:id": members by
// name, workflows by name, executions as "Workflow #12". One read per kind, whatever the page holds.
func (s *Handlers) auditTargetNames(r *http.Request, orgID uuid.UUID, entries []store.AuditEntry, members []store.Member) (map[string]string, error) {
	names := map[string]string{}
	for _, m := range members {
		names["user:"+m.UserID.String()] = m.Name
	}
	var executions []uuid.UUID
	wantWorkflows := false
	for _, e := range entries {
		switch e.TargetType {
		case "execution":
			if id, err := uuid.Parse(e.TargetID); err == nil {
				executions = append(executions, id)
			}
			wantWorkflows = true
		case "workflow":
			wantWorkflows = true
		}
	}
	if !wantWorkflows {
		return names, nil
	}
	workflows, err := s.deps.Store.WorkflowList(r.Context(), orgID, store.WorkflowFilter{Limit: workflowChoicesLimit})
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]string{}
	for _, wf := range workflows {
		byID[wf.ID], names["workflow:"+wf.ID.String()] = wf.Name, wf.Name
	}
	if len(executions) == 0 {
		return names, nil
	}
	found, err := s.deps.Store.ExecutionsByID(r.Context(), orgID, executions)
	if err != nil {
		return nil, err
	}
	for _, x := range found {
		if wf, ok := byID[x.WorkflowID]; ok {
			names["execution:"+x.ID.String()] = wf + " " + runLabel(x)
		}
	}
	return names, nil
}

// targetName is how an audit entry names its target: its current name, else the name the change recorded (a
// deleted workflow's, a form's), else its short id.
func targetName(e store.AuditEntry, names map[string]string) string {
	if n, ok := names[e.TargetType+":"+e.TargetID]; ok && n != "" {
		return n
	}
	for _, doc := range []json.RawMessage{e.After, e.Before} {
		var named struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(doc, &named) == nil && strings.TrimSpace(named.Name) != "" {
			return named.Name
		}
	}
	if len(e.TargetID) > 8 {
		return e.TargetID[:8]
	}
	return e.TargetID
}
