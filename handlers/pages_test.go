package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The role matrix of the workflow and execution pages, merged into routeCases. As for the API, the workflow is
// organization A's owner's, so a member has only what its role gives.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /workflows":                                 {get("/workflows"), signedIn(200)},
		"POST /workflows":                                {form("POST", "/workflows", url.Values{"name": {"From the page"}}), pageCreators()},
		"GET /workflows/{id}":                            {onWorkflowPage("GET", ""), pageReaders(200)},
		"POST /workflows/{id}/activate":                  {onWorkflowPage("POST", "/activate"), pageEditors(303)},
		"POST /workflows/{id}/deactivate":                {onWorkflowPage("POST", "/deactivate"), pageEditors(303)},
		"POST /workflows/{id}/duplicate":                 {onWorkflowPage("POST", "/duplicate"), withOutsider(pageCreators(), 404)},
		"POST /workflows/{id}/archive":                   {onWorkflowPage("POST", "/archive"), pageEditors(303)},
		"POST /workflows/{id}/versions/{number}/restore": {onWorkflowPage("POST", "/versions/1/restore"), pageEditors(303)},
		"GET /executions":                                {get("/executions"), signedIn(200)},
		"GET /executions/{id}":                           {onExecutionPage("GET", "", store.StatusQueued, nil), pageReaders(200)},
		"GET /executions/{id}/events":                    {onExecutionPage("GET", "/events", store.StatusSucceeded, nil), pageReaders(200)},
		"GET /executions/{id}/files/{fileID}":            {onExecutionFilePage(), pageReaders(200)},
		"GET /executions/{id}/payloads/{key}":            {onExecutionPage("GET", "/payloads/0123456789abcdef0123456789abcdef", store.StatusSucceeded, nil), pageReaders(404)},
		"POST /executions/{id}/cancel":                   {onExecutionPage("POST", "/cancel", store.StatusQueued, url.Values{}), pageEditors(303)},
		"POST /executions/{id}/retry":                    {onExecutionPage("POST", "/retry", store.StatusFailed, url.Values{"from": {"failed"}}), pageEditors(303)},
	})
}

// pageReaders: everyone in organization A reads the page; anonymous visitors go to sign in; the outsider gets 404.
func pageReaders(status int) map[string]int { return withOutsider(signedIn(status), 404) }

// pageEditors: admins and owners act on the owner's workflow; members and viewers are refused.
func pageEditors(status int) map[string]int {
	m := pageReaders(status)
	m["viewer"], m["member"] = http.StatusForbidden, http.StatusForbidden
	return m
}

// pageCreators: members and up create (the outsider in its own organization); viewers may not.
func pageCreators() map[string]int {
	m := signedIn(http.StatusSeeOther)
	m["viewer"] = http.StatusForbidden
	return m
}

func onWorkflowPage(method, suffix string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		wf := h.ownersWorkflow(w)
		req := request{Method: method, Path: "/workflows/" + wf.ID.String() + suffix}
		if method == "POST" {
			req.Form = url.Values{}
		}
		return req
	}
}

// onExecutionPage makes an execution of the owner's workflow in status (see onExecution) and calls a page of it.
func onExecutionPage(method, suffix, status string, body url.Values) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		e := h.ownersExecution(w, status)
		return request{Method: method, Path: "/executions/" + e.ID.String() + suffix, Form: body}
	}
}

// ownersExecution creates an execution of a new workflow of organization A's owner, queued or finished as status.
func (h *harness) ownersExecution(w *world, status string) store.Execution {
	h.t.Helper()
	return h.ownersExecutionOfKind(w, status, "manual")
}

// ownersExecutionOfKind is ownersExecution with a trigger kind ("manual" runs are test runs to the dashboard).
func (h *harness) ownersExecutionOfKind(w *world, status, kind string) store.Execution {
	h.t.Helper()
	ctx := context.Background()
	wf := h.ownersWorkflow(w)
	head, err := h.st.WorkflowHeadForRun(ctx, w.orgA.ID, wf.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := h.st.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: w.orgA.ID,
		WorkflowID: wf.ID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: kind,
		TriggerData: json.RawMessage(`{"body":{"total":5}}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	if status != store.StatusQueued {
		errText := ""
		if status == store.StatusFailed {
			errText = "boom"
		}
		if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: queue.ExecutionRef{ID: e.ID,
			OrganizationID: w.orgA.ID, WorkflowID: wf.ID}, Status: engine.ExecutionStatus(status), Error: errText}); err != nil {
			h.t.Fatal(err)
		}
	}
	return e
}

// onExecutionFilePage stores a file the execution exported and downloads it through the cookie route.
func onExecutionFilePage() func(*harness, *world) request {
	return func(h *harness, w *world) request {
		ctx := context.Background()
		e := h.ownersExecution(w, store.StatusSucceeded)
		obj, err := h.srv.deps.Files.PutObject(ctx, "report.csv", "text/csv", strings.NewReader("a,b\n1,2\n"))
		if err != nil {
			h.t.Fatal(err)
		}
		id, err := h.st.ExportCreate(ctx, actions.ExportedFile{OrganizationID: w.orgA.ID, WorkflowID: &e.WorkflowID,
			ExecutionID: &e.ID, StorageKey: obj.Key, Filename: "report.csv", ContentType: "text/csv", Size: obj.Size,
			SHA256: obj.SHA256})
		if err != nil {
			h.t.Fatal(err)
		}
		return request{Method: "GET", Path: "/executions/" + e.ID.String() + "/files/" + id.String()}
	}
}

// pageAs calls a page with a session of who in org.
func (h *harness) pageAs(u store.User, org uuid.UUID, method, path string, form url.Values) response {
	h.t.Helper()
	return h.do(request{Method: method, Path: path, Form: form, Cookie: h.sessionCookie(u, org)})
}

func TestWorkflowPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member, viewer, outsider := w.users["member"], w.users["viewer"], w.users["outsider"]

	// A member creates a workflow from the list and lands on its page. Looking at it makes no webhook: nothing is
	// written, and no URL or secret is shown yet.
	resp := h.pageAs(member, w.orgA.ID, "POST", "/workflows", url.Values{"name": {"Invoices to Slack"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/workflows/") {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.body)
	}
	path := resp.Header.Get("Location")
	webhookCreated := func() int {
		var n int
		if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action = 'webhook.create' AND target_id = $1",
			strings.TrimPrefix(path, "/workflows/")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	doc := h.pageAs(member, w.orgA.ID, "GET", path, nil).doc(t)
	if got := strings.TrimSpace(doc.Find("h1").Text()); !strings.Contains(got, "Invoices to Slack") {
		t.Errorf("workflow page heading %q", got)
	}
	if doc.Find("#webhook-url").Length() != 0 || webhookCreated() != 0 {
		t.Errorf("opening the page made a webhook: %d audit rows", webhookCreated())
	}
	// A viewer reads the page without the buttons it may not use.
	viewerPage := h.pageAs(viewer, w.orgA.ID, "GET", path, nil)
	if n := viewerPage.doc(t).Find(`form[action$="/activate"], form[action$="/archive"]`).Length(); viewerPage.StatusCode != 200 || n != 0 {
		t.Errorf("viewer: %d, sees %d edit buttons", viewerPage.StatusCode, n)
	}
	// The outsider learns nothing.
	if resp := h.pageAs(outsider, w.orgB.ID, "GET", path, nil); resp.StatusCode != http.StatusNotFound ||
		strings.Contains(resp.body, "Invoices to Slack") {
		t.Errorf("outsider: %d", resp.StatusCode)
	}

	// Activation in place (htmx) and by a plain form. Publishing a webhook workflow makes its webhook, once.
	resp = h.do(request{Method: "POST", Path: path + "/activate", Form: url.Values{}, Cookie: h.sessionCookie(member, w.orgA.ID),
		Header: http.Header{"HX-Request": {"true"}}})
	if resp.StatusCode != 200 || resp.doc(t).Find(".badge.status-active").Length() == 0 {
		t.Errorf("activate in place: %d %.300s", resp.StatusCode, resp.body)
	}
	doc = h.pageAs(member, w.orgA.ID, "GET", path, nil).doc(t)
	if url, _ := doc.Find("#webhook-url").Attr("value"); !strings.Contains(url, "/hooks/") || webhookCreated() != 1 {
		t.Errorf("the creator sees webhook URL %q after activation (%d webhook.create rows)", url, webhookCreated())
	}
	secret, _ := doc.Find("#webhook-secret").Attr("value")
	if secret == "" {
		t.Fatal("the creator sees no webhook secret")
	}
	h.remember(secret)
	if viewerPage := h.pageAs(viewer, w.orgA.ID, "GET", path, nil); strings.Contains(viewerPage.body, secret) ||
		viewerPage.doc(t).Find("#webhook-secret").Length() != 0 {
		t.Error("the viewer is shown the webhook secret")
	}
	if resp := h.pageAs(member, w.orgA.ID, "POST", path+"/deactivate", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("deactivate: %d", resp.StatusCode)
	}

	// Search and the status filter.
	h.pageAs(member, w.orgA.ID, "POST", "/workflows", url.Values{"name": {"Nightly backup"}})
	names := func(query string) []string {
		d := h.pageAs(member, w.orgA.ID, "GET", "/workflows"+query, nil).doc(t)
		return d.Find("table.workflows tbody tr td:first-child a").Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	}
	if got := names("?q=invoices"); len(got) != 1 || got[0] != "Invoices to Slack" {
		t.Errorf("search for invoices: %v", got)
	}
	if got := names("?status=active"); len(got) != 0 {
		t.Errorf("active workflows: %v", got)
	}
	// An empty name is refused at the field.
	resp = h.pageAs(member, w.orgA.ID, "POST", "/workflows", url.Values{"name": {" "}})
	if resp.StatusCode != http.StatusUnprocessableEntity || resp.doc(t).Find(".field-error").Length() == 0 {
		t.Errorf("empty name: %d", resp.StatusCode)
	}

	// Duplicate, then archive the copy: it leaves the default list and shows under archived.
	resp = h.pageAs(member, w.orgA.ID, "POST", path+"/duplicate", url.Values{})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("duplicate: %d %s", resp.StatusCode, resp.body)
	}
	copyPath := resp.Header.Get("Location")
	if resp := h.pageAs(member, w.orgA.ID, "POST", copyPath+"/archive", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("archive: %d", resp.StatusCode)
	}
	if got := names("?status=archived"); len(got) != 1 || got[0] != "Invoices to Slack (copy)" {
		t.Errorf("archived: %v", got)
	}
	if got := names(""); len(got) != 2 {
		t.Errorf("default list: %v", got)
	}
}

func TestExecutionPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner, outsider := w.users["owner"], w.users["outsider"]
	token := h.accessToken(owner, w.orgA.ID)
	wf := h.ownersWorkflow(w)

	// A run queued before any worker runs: its page listens for events.
	var run struct {
		ExecutionID string `json:"execution_id"`
	}
	h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID.String() + "/run", Bearer: token, JSON: `{"total":250}`}).json(t, &run)
	path := "/executions/" + run.ExecutionID
	doc := h.pageAs(owner, w.orgA.ID, "GET", path, nil).doc(t)
	if src, _ := doc.Find("#execution-live").Attr("sse-connect"); src != path+"/events" {
		t.Errorf("the live part listens to %q", src)
	}
	if resp := h.pageAs(outsider, w.orgB.ID, "GET", path, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outsider: %d", resp.StatusCode)
	}
	if resp := h.pageAs(outsider, w.orgB.ID, "GET", path+"/events", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outsider's stream: %d", resp.StatusCode)
	}

	// The stream sends the queued timeline at once, then, when a worker finishes the run (the news arriving by
	// NOTIFY), the finished timeline and the end.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+path+"/events", nil)
	req.AddCookie(h.sessionCookie(owner, w.orgA.ID))
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if ct := stream.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	events := readSSE(t, bufio.NewReader(stream.Body))
	first := <-events
	if first.name != "timeline" || !strings.Contains(first.data, `data-status="queued"`) {
		t.Fatalf("first event %+v", first)
	}
	h.startWorkers()
	var last sseEvent
	for e := range events {
		if e.name == "end" {
			if e.data != store.StatusSucceeded {
				t.Errorf("end event %+v", e)
			}
			break
		}
		last = e
	}
	if ctx.Err() != nil {
		t.Fatal("no end event before the deadline")
	}
	timeline, err := goquery.NewDocumentFromReader(strings.NewReader(last.data))
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"hook", "shape", "big"} {
		if timeline.Find(`tr[data-node-id="`+node+`"]`).Length() != 1 {
			t.Errorf("the streamed timeline has no run of %s: %s", node, last.data)
		}
	}

	// The page shows each node run, with its output escaped and indented, and the retry buttons.
	doc = h.pageAs(owner, w.orgA.ID, "GET", path, nil).doc(t)
	for _, node := range []string{"hook", "shape", "big"} {
		row := doc.Find(`table.node-runs tr[data-node-id="` + node + `"]`)
		if row.Length() != 1 || row.AttrOr("data-node-status", "") != "succeeded" {
			t.Errorf("node %s: %d rows, status %q", node, row.Length(), row.AttrOr("data-node-status", ""))
		}
	}
	if !strings.Contains(doc.Find(`tr[data-node-id="shape"] pre.json`).Last().Text(), `"total": 250`) {
		t.Errorf("shape's output: %q", doc.Find(`tr[data-node-id="shape"] pre.json`).Text())
	}
	if doc.Find("#execution-live[sse-connect]").Length() != 0 {
		t.Error("a finished execution's page still listens")
	}
	resp := h.pageAs(owner, w.orgA.ID, "POST", path+"/retry", url.Values{"from": {"start"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") == path {
		t.Errorf("retry: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The executions list filters by workflow and status.
	list := h.pageAs(owner, w.orgA.ID, "GET", "/executions?status=succeeded&workflow_id="+wf.ID.String(), nil).doc(t)
	if n := list.Find(`tr[data-execution-id="` + run.ExecutionID + `"]`).Length(); n != 1 {
		t.Errorf("the succeeded filter lists the run %d times", n)
	}
	list = h.pageAs(owner, w.orgA.ID, "GET", "/executions?status=failed", nil).doc(t)
	if n := list.Find(`tr[data-execution-id="` + run.ExecutionID + `"]`).Length(); n != 0 {
		t.Error("the failed filter lists a succeeded run")
	}
}

type sseEvent struct{ name, data string }

// readSSE parses a text/event-stream into events until the body ends.
func readSSE(t *testing.T, r *bufio.Reader) <-chan sseEvent {
	out := make(chan sseEvent)
	go func() {
		defer close(out)
		var e sseEvent
		var data []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if e.name != "" || len(data) > 0 {
					e.data = strings.Join(data, "\n")
					out <- e
				}
				e, data = sseEvent{}, nil
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return out
}

// TestDashboardCountsFromTheRollup runs the statistics rollup over a production success, a production failure and a
// failed test run (the editor's) and checks the dashboard's tiles (the test run left out of the success rate), its chart, a
// period choice and a bad one, and that another organization's dashboard counts none of it.
func TestDashboardCountsFromTheRollup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	h.ownersExecutionOfKind(w, store.StatusSucceeded, "webhook")
	failed := h.ownersExecutionOfKind(w, store.StatusFailed, "webhook")
	test := h.ownersExecution(w, store.StatusFailed)
	if _, err := h.pool.Exec(context.Background(), `UPDATE workflow_executions SET kind = 'test' WHERE id = $1`, test.ID); err != nil {
		t.Fatal(err)
	}
	h.ownersExecution(w, store.StatusQueued)
	arch := &service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(time.Now().Add(2 * time.Minute))}
	if _, err := h.st.NewStatsRollup(arch, store.StatsRollupConfig{}).Round(context.Background()); err != nil {
		t.Fatal(err)
	}

	for _, period := range []string{"", "7d", "30d"} {
		doc := h.pageAs(w.users["viewer"], w.orgA.ID, "GET", "/?period="+period, nil).doc(t)
		stat := func(name string) string {
			return strings.TrimSpace(doc.Find(`[data-stat="` + name + `"] strong`).Text())
		}
		if stat("succeeded") != "1" || stat("failed") != "1" || stat("queued") != "1" || stat("total") != "3" ||
			stat("success-rate") != "50%" {
			t.Errorf("period %q: succeeded %q failed %q queued %q total %q rate %q", period, stat("succeeded"),
				stat("failed"), stat("queued"), stat("total"), stat("success-rate"))
		}
		if got := doc.Find(`[data-stat="test-runs"]`).Text(); !strings.Contains(got, "1 test run") {
			t.Errorf("period %q: test runs %q", period, got)
		}
		want := period
		if want == "" {
			want = "24h"
		}
		if doc.Find(`[data-periods] a[aria-current="page"]`).AttrOr("data-period", "") != want {
			t.Errorf("period %q: the current period is not marked", period)
		}
		if doc.Find(`[data-stats-charts="period-stats"] svg[data-chart="executions"] rect.status-failed`).Length() != 1 ||
			doc.Find(`[data-stats-charts="period-stats"] svg[data-chart="average"] polyline`).Length() != 1 {
			t.Errorf("period %q: the chart has no failed bar or no average line", period)
		}
		if doc.Find(`table.failures tr[data-execution-id="`+failed.ID.String()+`"]`).Length() != 1 {
			t.Errorf("period %q: the failure is not listed", period)
		}
		// Each of ownersExecution's executions has its own workflow: three of them finished, one only in a test run.
		if doc.Find(`table.slowest tbody tr`).Length() != 2 {
			t.Errorf("period %q: the slowest list has %d rows, want the 2 workflows with finished production executions", period, doc.Find(`table.slowest tbody tr`).Length())
		}
	}
	if resp := h.pageAs(w.users["viewer"], w.orgA.ID, "GET", "/?period=1y", nil); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(resp.body, "period must be 24h, 7d or 30d") {
		t.Errorf("a bad period: %d", resp.StatusCode)
	}
	// Another organization's dashboard counts none of it.
	other := h.pageAs(w.users["outsider"], w.orgB.ID, "GET", "/", nil).doc(t)
	if got := strings.TrimSpace(other.Find(`[data-stat="total"] strong`).Text()); got != "0" {
		t.Errorf("the outsider's total is %q", got)
	}
}

// TestPagesLoadOnlyTheAppsOwnAssets checks that no page pulls a script or style from elsewhere (no CDN), and that
// each one it names is served.
func TestPagesLoadOnlyTheAppsOwnAssets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	e := h.ownersExecution(w, store.StatusQueued)
	paths := []string{"/", "/workflows", "/workflows/" + e.WorkflowID.String(), "/executions", "/executions/" + e.ID.String(),
		"/integrations", "/settings/members", "/profile"}
	for _, path := range paths {
		resp := h.pageAs(owner, w.orgA.ID, "GET", path, nil)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
			continue
		}
		resp.doc(t).Find("script, link[rel=stylesheet]").Each(func(_ int, s *goquery.Selection) {
			src := s.AttrOr("src", s.AttrOr("href", ""))
			if s.Is("script") && src == "" {
				t.Errorf("%s has an inline script", path)
				return
			}
			u, err := url.Parse(src)
			if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/static/") {
				t.Errorf("%s loads %q from outside the app", path, src)
				return
			}
			if asset := h.do(request{Method: "GET", Path: src}); asset.StatusCode != 200 {
				t.Errorf("%s names %s, which answers %d", path, src, asset.StatusCode)
			}
		})
	}
}
