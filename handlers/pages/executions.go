package pages

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// executionSince maps the time filter's choices to how far back they reach.
var executionSince = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour,
	"30d": 30 * 24 * time.Hour}

// workflowChoicesLimit caps the workflow filter's options and the names the list resolves; an execution of a
// workflow beyond it shows the workflow's short id.
const workflowChoicesLimit = 500

// executionsPage is GET /executions?q=&workflow_id=&status=&kind=&since=&cursor=; q searches the executions' errors,
// or their trigger data as trigger.<path>=<value>.
func (s *Handlers) executionsPage(w http.ResponseWriter, r *http.Request) {
	s.renderExecutions(w, r, r.URL.Query(), nil)
}

// renderExecutions renders the executions list that the filters in q select, with a bulk action's outcome on top
// when there was one.
func (s *Handlers) renderExecutions(w http.ResponseWriter, r *http.Request, q url.Values, bulk *views.BulkOutcome) {
	p := httpx.PrincipalFrom(r.Context())
	if err := httpx.Authorize(r, authz.ExecutionView, authz.Org(p.OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.ExecutionsPage{Query: strings.TrimSpace(q.Get("q")), Bulk: bulk}
	page.TriggerSearch = store.IsTriggerSearch(page.Query)
	f := store.ExecutionFilter{Query: page.Query, Limit: pageListSize}
	// A filter value this page did not offer is dropped rather than refused: the form cannot produce one.
	if id, err := uuid.Parse(q.Get("workflow_id")); err == nil {
		f.WorkflowID, page.WorkflowID = &id, id.String()
	}
	if v := q.Get("status"); httpx.IsExecutionStatus(v) {
		f.Status, page.Status = v, v
	}
	if v := q.Get("kind"); store.IsExecutionKind(v) {
		f.Kind, page.Kind = v, v
	}
	if d, ok := executionSince[q.Get("since")]; ok {
		f.CreatedAfter, page.Since = httpx.Ptr(time.Now().Add(-d)), q.Get("since")
	}
	if c := q.Get("cursor"); c != "" {
		// Executions page by id alone; the cursor's creation time is that of every list's cursor shape.
		_, id, err := httpx.DecodePageCursor(c)
		if err != nil {
			s.PageError(w, r, err)
			return
		}
		f.BeforeID = &id
	}
	workflows, err := s.deps.Store.WorkflowList(r.Context(), p.OrgID, store.WorkflowFilter{Limit: workflowChoicesLimit})
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	names := map[uuid.UUID]string{}
	for _, wf := range workflows {
		names[wf.ID] = wf.Name
		page.Workflows = append(page.Workflows, views.Choice{Value: wf.ID.String(), Label: wf.Name})
	}
	items, err := s.deps.App.Executions.List(r.Context(), s.Caller(r), f)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	now := s.Now()
	for _, e := range items {
		page.Items = append(page.Items, executionRow(e, names, now))
	}
	// An error search is one ranked page; a trigger-data search pages on like the list.
	if len(items) == pageListSize && (f.Query == "" || page.TriggerSearch) {
		last := items[len(items)-1]
		page.OlderURL = pageURL("/executions", url.Values{"q": {page.Query}, "workflow_id": {page.WorkflowID},
			"status": {page.Status}, "kind": {page.Kind}, "since": {page.Since},
			"cursor": {httpx.EncodePageCursor(last.CreatedAt, last.ID)}})
	}
	s.Render(w, r, http.StatusOK, "Executions", views.Executions(page))
}

// bulkVerbs names each bulk action in the outcome's heading.
var bulkVerbs = map[string]string{app.BulkRetry: "Retry", app.BulkCancel: "Cancel", app.BulkDelete: "Delete"}

// bulkExecutionsPage is POST /executions/bulk {action, ids, and the list's filters}: the bulk action of the list,
// through the same use case as the API (each execution authorized on its workflow, done and audited alone),
// answered with the list again and what happened to each chosen execution.
func (s *Handlers) bulkExecutionsPage(w http.ResponseWriter, r *http.Request) {
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	var ids []uuid.UUID
	for _, v := range r.PostForm["ids"] {
		id, err := uuid.Parse(v)
		if err != nil {
			s.PageError(w, r, fault.Fields("bad selection", fault.FieldError{Field: "ids", Message: "is not a valid execution id"}))
			return
		}
		ids = append(ids, id)
	}
	action := r.PostFormValue("action")
	results, err := s.deps.App.Executions.Bulk(r.Context(), s.Caller(r), action, ids)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	out := &views.BulkOutcome{Action: bulkVerbs[action]}
	names, err := s.workflowNames(r, results)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, x := range results {
		item := views.BulkItem{ID: x.ID.String(), OK: x.OK, Detail: x.Message, Label: names[x.ID]}
		if x.OK {
			out.Done++
		}
		switch {
		case x.NewExecutionID != nil:
			item.Href = "/executions/" + x.NewExecutionID.String()
		case x.Code != fault.NotFound && action != app.BulkDelete:
			item.Href = "/executions/" + x.ID.String()
		}
		out.Items = append(out.Items, item)
	}
	s.renderExecutions(w, r, r.PostForm, out)
}

// workflowNames labels each bulk result "Workflow #12" (the short id when the execution is gone or unnumbered).
func (s *Handlers) workflowNames(r *http.Request, results []app.BulkResult) (map[uuid.UUID]string, error) {
	p := httpx.PrincipalFrom(r.Context())
	workflows, err := s.deps.Store.WorkflowList(r.Context(), p.OrgID, store.WorkflowFilter{Limit: workflowChoicesLimit})
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]string{}
	for _, wf := range workflows {
		byID[wf.ID] = wf.Name
	}
	out := map[uuid.UUID]string{}
	for _, x := range results {
		label := x.ID.String()[:8]
		if x.RunNumber > 0 {
			label = "#" + strconv.FormatInt(x.RunNumber, 10)
			if name, ok := byID[x.WorkflowID]; ok {
				label = name + " " + label
			}
		}
		out[x.ID] = label
	}
	return out, nil
}

func executionRow(e store.Execution, names map[uuid.UUID]string, now time.Time) views.ExecutionRow {
	name, ok := names[e.WorkflowID]
	if !ok {
		name = e.WorkflowID.String()[:8]
	}
	row := views.ExecutionRow{ID: e.ID.String(), WorkflowID: e.WorkflowID.String(), Workflow: name,
		Number: runLabel(e), Status: e.Status, Trigger: e.TriggerKind, Kind: e.Kind, Created: views.WhenOf(e.CreatedAt, now),
		Duration: spanOf(e.StartedAt, e.FinishedAt)}
	if e.Status == store.StatusWaiting && e.ResumeAt != nil {
		row.ResumesAt = views.WhenOf(*e.ResumeAt, now)
	}
	return row
}

// runLabel is an execution's short readable identity: "#12", its run number within its workflow, or its short id
// for an execution stored before numbers existed.
func runLabel(e store.Execution) string {
	if e.RunNumber > 0 {
		return "#" + strconv.FormatInt(e.RunNumber, 10)
	}
	return e.ID.String()[:8]
}

// whenPtr is views.WhenOf for an optional time.
func whenPtr(t *time.Time, now time.Time) views.When {
	if t == nil {
		return views.When{}
	}
	return views.WhenOf(*t, now)
}

// spanOf is how long something took, "" until it has both ends.
func spanOf(started, finished *time.Time) string {
	if started == nil || finished == nil {
		return ""
	}
	return durationText(finished.Sub(*started))
}

// durationText shows a duration in milliseconds below a second, rounded to hundredths of a second above.
func durationText(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return d.Round(10 * time.Millisecond).String()
}

// pageExecution loads the {id} execution for a page action the caller may do, answering the error page when not.
func (s *Handlers) pageExecution(w http.ResponseWriter, r *http.Request, a authz.Action) (store.Execution, bool) {
	exec, err := s.PathExecution(r, a)
	if err != nil {
		s.PageError(w, r, err)
		return store.Execution{}, false
	}
	return exec, true
}

// executionPage is GET /executions/{id}.
func (s *Handlers) executionPage(w http.ResponseWriter, r *http.Request) {
	exec, ok := s.pageExecution(w, r, authz.ExecutionView)
	if !ok {
		return
	}
	ctx := r.Context()
	wf, err := s.deps.Store.WorkflowGet(ctx, exec.OrganizationID, exec.WorkflowID)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	live, err := s.executionLive(ctx, exec, s.executionRights(r, exec))
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.ExecutionPage{ID: exec.ID.String(), WorkflowID: wf.ID.String(), Workflow: wf.Name,
		Number: runLabel(exec), Kind: exec.Kind, Version: exec.Version, Trigger: exec.TriggerKind, TriggerData: prettyJSON(exec.TriggerData), Live: live,
		RequestID: exec.RequestID, TraceID: exec.TraceID, TriggerPayload: payloadView(exec.ID, exec.TriggerData)}
	if exec.RetryOf != nil {
		page.RetryOf = exec.RetryOf.String()
	}
	page.FailedExecution, page.FailedWorkflow = failedExecutionOf(exec)
	files, err := s.deps.Store.UploadListForExecution(ctx, exec.OrganizationID, exec.ID)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, f := range files {
		page.Files = append(page.Files, views.ExecutionFile{URL: "/executions/" + exec.ID.String() + "/files/" + f.ID.String(),
			Filename: f.Filename, Type: f.ContentType, Size: httpx.HumanBytes(f.Size)})
	}
	mails, err := s.deps.Store.EmailDeliveryListForExecution(ctx, exec.OrganizationID, exec.ID)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, m := range mails {
		reply := m.SMTPReply
		if m.Error != "" {
			reply = m.Error
		}
		page.Emails = append(page.Emails, views.EmailRow{NodeID: m.NodeID, Status: m.Status,
			Recipients: strings.Join(m.Recipients, ", "), Subject: m.Subject, Reply: reply, At: views.Stamp(m.UpdatedAt)})
	}
	s.Render(w, r, http.StatusOK, wf.Name+" "+page.Number, views.Execution(page))
}

// mayOnExecution reports whether the caller may do a to an execution (judged on its workflow, like the API).
func (s *Handlers) mayOnExecution(r *http.Request, exec store.Execution, a authz.Action) bool {
	_, err := s.deps.App.Workflows.Authorized(r.Context(), s.Caller(r), exec.WorkflowID, a)
	return err == nil
}

// executionRights is what the caller may do to an execution, judged once per page or stream.
type executionRights struct{ cancel, retry bool }

func (s *Handlers) executionRights(r *http.Request, exec store.Execution) executionRights {
	return executionRights{cancel: s.mayOnExecution(r, exec, authz.ExecutionCancel),
		retry: s.mayOnExecution(r, exec, authz.ExecutionRetry)}
}

// executionLive reads what the live part of an execution's page shows, fresh from the database: the events only
// say that something changed.
func (s *Handlers) executionLive(ctx context.Context, exec store.Execution, may executionRights) (views.ExecutionLive, error) {
	runs, err := s.deps.Store.NodeRuns(ctx, exec.OrganizationID, exec.ID)
	if err != nil {
		return views.ExecutionLive{}, err
	}
	now := s.Now()
	live := views.ExecutionLive{ExecutionID: exec.ID.String(), Status: exec.Status, Final: httpx.FinalStatus(exec.Status),
		Created: views.WhenOf(exec.CreatedAt, now), Started: whenPtr(exec.StartedAt, now),
		Finished: whenPtr(exec.FinishedAt, now), Duration: spanOf(exec.StartedAt, exec.FinishedAt),
		Error: exec.Error, MayCancel: may.cancel, MayRetry: may.retry}
	if exec.Status == store.StatusWaiting {
		live.ResumesAt = whenPtr(exec.ResumeAt, now)
	}
	anchored := map[string]bool{}
	for _, run := range runs {
		row := nodeRunRow(run)
		row.Status = runShownStatus(run, exec)
		row.InputPayload, row.OutputPayload = payloadView(exec.ID, run.Input), payloadView(exec.ID, run.Output)
		if row.InputPayload != nil {
			row.Input = ""
		}
		if row.OutputPayload != nil {
			row.Output = ""
		}
		if !anchored[run.NodeID] {
			anchored[run.NodeID], row.Anchor = true, timelineAnchor(run.NodeID)
		}
		live.Nodes = append(live.Nodes, row)
	}
	def, err := s.graphDefinition(ctx, exec.WorkflowVersionID)
	if err != nil {
		return views.ExecutionLive{}, err
	}
	live.Graph = executionGraph(def, exec, runs)
	if p := engine.ProgressOf(runs); p != nil {
		live.Progress = &views.ExecutionProgress{NodeID: p.NodeID, Done: p.Done, Total: p.Total, Unit: p.Unit,
			BatchesDone: p.BatchesDone, Batches: p.Batches}
	}
	return live, nil
}

// runShownStatus is the status the timeline shows for a run, the same as the graph's (graphNode): a run recorded as
// running is a parked delay while its execution waits ("waiting"), and was cut short once its execution is final
// ("interrupted", a cancel or a crashed worker); only otherwise is it running.
func runShownStatus(run engine.NodeRun, exec store.Execution) string {
	if run.Status != engine.NodeRunning {
		return string(run.Status)
	}
	switch {
	case httpx.FinalStatus(exec.Status):
		return "interrupted"
	case exec.Status == store.StatusWaiting:
		return graphWaiting
	}
	return string(run.Status)
}

func nodeRunRow(run engine.NodeRun) views.NodeRunRow {
	row := views.NodeRunRow{NodeID: run.NodeID, Type: run.Type, Status: string(run.Status), Attempt: run.Attempt,
		Input: prettyJSON(run.Input), Output: prettyJSON(run.Output), Error: run.Error, RanAgain: run.RanAgain,
		Duration: spanOf(httpx.TimeOrNil(run.StartedAt), httpx.TimeOrNil(run.FinishedAt))}
	if !run.StartedAt.IsZero() {
		row.Started = run.StartedAt.UTC().Format("15:04:05.000")
	}
	if run.ItemIndex != nil {
		row.Item = strconv.Itoa(*run.ItemIndex)
	}
	return row
}

// prettyJSON indents a JSON document for reading; "" for none. templ escapes it where it is shown.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return string(raw)
	}
	return out.String()
}

// cancelExecutionPage is POST /executions/{id}/cancel, the page twin of the API's cancel.
func (s *Handlers) cancelExecutionPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		_, _, err = s.deps.App.Executions.Cancel(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, "/executions/"+id.String())
}

// retryExecutionPage is POST /executions/{id}/retry {from: start | failed}: a new execution, whose page follows.
func (s *Handlers) retryExecutionPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		err = httpx.ParseForm(w, r)
	}
	var retry store.Execution
	if err == nil {
		retry, err = s.deps.App.Executions.Retry(r.Context(), s.Caller(r), id, r.PostFormValue("from"))
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, "/executions/"+retry.ID.String())
}

// executionFilePage is GET /executions/{id}/files/{fileID}: the API's file download for a signed-in browser,
// which has a cookie rather than a Bearer token. Same authorization: whoever may see the execution.
func (s *Handlers) executionFilePage(w http.ResponseWriter, r *http.Request) {
	exec, ok := s.pageExecution(w, r, authz.ExecutionView)
	if !ok {
		return
	}
	file, err := s.ExecutionFile(r, exec)
	if err == nil {
		err = s.SendFile(w, r, httpx.Download{File: file, ContentType: file.ContentType})
	}
	if err != nil {
		s.PageError(w, r, err)
	}
}

// executionEventsPage is GET /executions/{id}/events: server-sent events that redraw the execution page's live
// part. Every status change of the execution, whichever instance's worker made it, arrives through Postgres
// NOTIFY (Deps.Events); each one, and each resync after a lost LISTEN connection, is answered with a "timeline"
// event holding the freshly rendered fragment. The stream ends with an "end" event once the execution is final,
// or when the client goes away.
func (s *Handlers) executionEventsPage(w http.ResponseWriter, r *http.Request) {
	exec, ok := s.pageExecution(w, r, authz.ExecutionView)
	if !ok {
		return
	}
	may := s.executionRights(r, exec)
	s.StreamExecution(w, r, s.deps.Events, exec, func(ctx context.Context, w io.Writer, exec store.Execution) (bool, error) {
		return s.sendTimeline(ctx, w, exec, may)
	})
}

// sendTimeline re-reads the execution and writes its live fragment as a "timeline" event, followed by "end" when
// the execution is final.
func (s *Handlers) sendTimeline(ctx context.Context, w io.Writer, exec store.Execution, may executionRights) (final bool, err error) {
	exec, err = s.deps.Store.ExecutionGet(ctx, exec.OrganizationID, exec.ID)
	if err != nil {
		return false, err
	}
	live, err := s.executionLive(ctx, exec, may)
	if err != nil {
		return false, err
	}
	var html bytes.Buffer
	if err := views.ExecutionTimeline(live).Render(ctx, &html); err != nil {
		return false, err
	}
	if err := httpx.WriteSSE(w, "timeline", html.String()); err != nil {
		return false, err
	}
	if live.Final {
		return true, httpx.WriteSSE(w, "end", live.Status)
	}
	return false, nil
}

// failedExecutionOf reads, from the trigger data of an error workflow's run, the execution whose failure started
// it and that execution's workflow name; "" for any other run. The id must be a UUID: it becomes a link.
func failedExecutionOf(exec store.Execution) (id, workflow string) {
	if exec.TriggerKind != store.TriggerKindError {
		return "", ""
	}
	var data struct {
		Execution struct {
			ID uuid.UUID `json:"id"`
		} `json:"execution"`
		Workflow struct {
			Name string `json:"name"`
		} `json:"workflow"`
	}
	if err := json.Unmarshal(exec.TriggerData, &data); err != nil || data.Execution.ID == uuid.Nil {
		return "", ""
	}
	return data.Execution.ID.String(), data.Workflow.Name
}
