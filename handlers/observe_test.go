package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// logLines decodes the harness's JSON log lines.
func (h *harness) logLines() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err == nil {
			out = append(out, line)
		}
	}
	return out
}

// TestWebhookRequestIDIsFoundOnItsExecution: a webhook call's X-Request-ID is on the execution it started (API and
// page), on the access log line of its 202 with the execution's id, and on every worker log line of the execution,
// which also carry the execution's, workflow's and organization's ids; the finished execution has its line.
func TestWebhookRequestIDIsFoundOnItsExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	info, wfID := h.hookWorkflow(w, `{}`)
	body := []byte(`{"total":250}`)
	const requestID = "caller-req-4711"
	header := signed(info.Secret, time.Now(), body)
	header.Set("X-Request-ID", requestID)
	status, out := post(t, info.URL, body, header)
	if status != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", status, out)
	}
	var accepted struct {
		ExecutionID string `json:"execution_id"`
	}
	_ = json.Unmarshal([]byte(out), &accepted)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	h.waitExecution(viewer, accepted.ExecutionID, store.StatusSucceeded)

	var detail struct {
		RequestID string `json:"request_id"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/executions/" + accepted.ExecutionID, Bearer: viewer}).json(t, &detail)
	if detail.RequestID != requestID {
		t.Errorf("the API's request_id = %q, want %q", detail.RequestID, requestID)
	}
	page := h.pageAs(w.users["viewer"], w.orgA.ID, "GET", "/executions/"+accepted.ExecutionID, nil).doc(t)
	if got := strings.TrimSpace(page.Find("[data-request-id]").Text()); got != requestID {
		t.Errorf("the page's request id = %q, want %q", got, requestID)
	}

	// The worker's lines are written as it runs; the finished line is the last.
	deadline := time.Now().Add(10 * time.Second)
	var finished map[string]any
	var workerLines []map[string]any
	for finished == nil && time.Now().Before(deadline) {
		workerLines = nil
		for _, line := range h.logLines() {
			if line["execution_id"] == accepted.ExecutionID && line["msg"] != "request" {
				workerLines = append(workerLines, line)
				if line["msg"] == "execution finished" {
					finished = line
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if finished == nil {
		t.Fatalf("no finished line for the execution; its lines: %v", workerLines)
	}
	for _, line := range workerLines {
		if line["request_id"] != requestID || line["workflow_id"] != wfID || line["organization_id"] != w.orgA.ID.String() {
			t.Errorf("a worker line lacks the execution's ids: %v", line)
		}
	}
	if finished["status"] != store.StatusSucceeded || finished["duration"] == nil {
		t.Errorf("finished line = %v", finished)
	}
	var access map[string]any
	for _, line := range h.logLines() {
		if line["msg"] == "request" && line["request_id"] == requestID {
			access = line
		}
	}
	if access == nil || access["status"] != float64(http.StatusAccepted) || access["execution_id"] != accepted.ExecutionID {
		t.Errorf("the 202's access line = %v, want its request id, status 202 and the execution's id", access)
	}

	// A run through the API keeps its request's id the same way.
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wfID + "/run", Bearer: admin, JSON: `{"total":5}`,
		Header: http.Header{"X-Request-ID": {"api-run-7"}}})
	var run struct {
		ExecutionID string `json:"execution_id"`
	}
	resp.json(t, &run)
	h.do(request{Method: "GET", Path: "/api/v1/executions/" + run.ExecutionID, Bearer: viewer}).json(t, &detail)
	if resp.StatusCode != http.StatusAccepted || detail.RequestID != "api-run-7" {
		t.Errorf("API run: %d %s; its execution's request_id = %q", resp.StatusCode, resp.body, detail.RequestID)
	}
}

// TestStatisticsAPI: the rollup's minutes are served per workflow and per organization, to the workflow's readers
// only, with the range's parameters checked.
func TestStatisticsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	info, wfID := h.hookWorkflow(w, `{}`)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	outsider := h.accessToken(w.users["outsider"], w.orgB.ID)
	for i := range 3 {
		body := []byte(fmt.Sprintf(`{"total":%d}`, i))
		status, out := post(t, info.URL, body, signed(info.Secret, time.Now().Add(time.Duration(i)*time.Second), body))
		if status != http.StatusAccepted {
			t.Fatalf("webhook: %d %s", status, out)
		}
		var accepted struct {
			ExecutionID string `json:"execution_id"`
		}
		_ = json.Unmarshal([]byte(out), &accepted)
		h.waitExecution(viewer, accepted.ExecutionID, store.StatusSucceeded)
	}
	// The rollup on a clock two minutes ahead: the executions' minute has settled.
	arch := &service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(time.Now().Add(2 * time.Minute))}
	if _, err := h.st.NewStatsRollup(arch, store.StatsRollupConfig{}).Round(context.Background()); err != nil {
		t.Fatal(err)
	}

	type stats struct {
		From    time.Time           `json:"from"`
		To      time.Time           `json:"to"`
		Minutes []store.StatsMinute `json:"minutes"`
	}
	sum := func(s stats) (n int32) {
		for _, m := range s.Minutes {
			n += m.Succeeded + m.Failed + m.Canceled
		}
		return n
	}
	var got stats
	resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wfID + "/stats", Bearer: viewer})
	resp.json(t, &got)
	if resp.StatusCode != http.StatusOK || sum(got) != 3 || got.To.Sub(got.From) != time.Hour {
		t.Errorf("workflow stats: %d %s", resp.StatusCode, resp.body)
	}
	for _, m := range got.Minutes {
		if m.P50Ms <= 0 || m.P99Ms < m.P50Ms || m.MaxMs < m.P99Ms {
			t.Errorf("percentiles out of order: %+v", m)
		}
	}
	got = stats{}
	h.do(request{Method: "GET", Path: "/api/v1/stats", Bearer: viewer}).json(t, &got)
	if sum(got) != 3 {
		t.Errorf("organization stats: %+v", got)
	}

	// The other organization sees neither the workflow nor anything in its totals.
	if resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wfID + "/stats", Bearer: outsider}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outsider's workflow stats: %d %s", resp.StatusCode, resp.body)
	}
	got = stats{}
	h.do(request{Method: "GET", Path: "/api/v1/stats", Bearer: outsider}).json(t, &got)
	if sum(got) != 0 {
		t.Errorf("the outsider's organization stats hold organization A's executions: %+v", got)
	}

	// Bad ranges name their parameter.
	for query, field := range map[string]string{
		"?from=yesterday": "from",
		"?to=2026-13-01":  "to",
		"?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z": "from",
		"?from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z": "from",
	} {
		resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wfID + "/stats" + query, Bearer: viewer})
		if resp.StatusCode != http.StatusUnprocessableEntity && resp.StatusCode != http.StatusBadRequest ||
			!strings.Contains(resp.body, `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s, want a problem naming %s", query, resp.StatusCode, resp.body, field)
		}
	}
}
