package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The role matrix of the bulk actions, merged into routeCases. A bulk action answers 200 to everyone signed in:
// each execution's refusal is a result of its own (checked in TestBulkActionsAuthorizeEachExecution).
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"POST /api/v1/executions/bulk": {func(h *harness, w *world) request {
			e := h.ownersExecution(w, store.StatusFailed)
			return request{Method: "POST", Path: "/api/v1/executions/bulk", JSON: `{"action":"delete","ids":["` + e.ID.String() + `"]}`}
		}, withAnon(every(200), 401)},
		"POST /executions/bulk": {func(h *harness, w *world) request {
			e := h.ownersExecution(w, store.StatusFailed)
			return request{Method: "POST", Path: "/executions/bulk", Form: url.Values{"action": {"retry"}, "ids": {e.ID.String()}}}
		}, signedIn(200)},
	})
}

type bulkAnswer struct {
	Results []struct {
		ID          string `json:"id"`
		RunNumber   int64  `json:"run_number"`
		OK          bool   `json:"ok"`
		Code        string `json:"code"`
		Message     string `json:"message"`
		ExecutionID string `json:"execution_id"`
	} `json:"results"`
}

// TestBulkActionsAuthorizeEachExecution: a member's bulk action does what the member may do to each execution (its
// own workflow's) and refuses the rest one by one (the owner's workflow, another organization's, an unfinished one
// to delete), auditing only what was done.
func TestBulkActionsAuthorizeEachExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member := w.users["member"]
	ctx := context.Background()
	mine := h.membersExecutions(w, 3)
	owners := h.ownersExecution(w, store.StatusFailed)
	running := h.ownersExecution(w, store.StatusQueued)
	theirs := h.outsidersExecution(w)
	bearer := h.accessToken(member, w.orgA.ID)

	call := func(action string, ids ...string) bulkAnswer {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"action": action, "ids": ids})
		var out bulkAnswer
		resp := h.do(request{Method: "POST", Path: "/api/v1/executions/bulk", JSON: string(body), Bearer: bearer})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", action, resp.StatusCode, resp.body)
		}
		resp.json(t, &out)
		return out
	}
	got := call("retry", mine[0].ID.String(), owners.ID.String(), theirs.ID.String(), mine[0].ID.String())
	if len(got.Results) != 3 {
		t.Fatalf("results %+v, want 3 (a repeat counts once)", got.Results)
	}
	if r := got.Results[0]; !r.OK || r.ExecutionID == "" || r.Message != "retried as #4" || r.RunNumber != 1 {
		t.Errorf("own execution: %+v", r)
	}
	if r := got.Results[1]; r.OK || r.Code != "forbidden" {
		t.Errorf("owner's execution: %+v", r)
	}
	if r := got.Results[2]; r.OK || r.Code != "not_found" || r.Message != "not found" {
		t.Errorf("other organization's execution: %+v", r)
	}
	retried, err := h.st.ExecutionGet(ctx, w.orgA.ID, mustUUID(t, got.Results[0].ExecutionID))
	if err != nil || retried.Kind != store.KindRetry || retried.RunNumber != 4 {
		t.Errorf("the retry: %+v %v", retried, err)
	}

	got = call("delete", mine[1].ID.String(), mine[2].ID.String(), running.ID.String())
	if !got.Results[0].OK || !got.Results[1].OK || got.Results[2].OK || got.Results[2].Code != "forbidden" {
		t.Errorf("delete: %+v", got.Results)
	}
	if _, err := h.st.ExecutionGet(ctx, w.orgA.ID, mine[1].ID); err == nil {
		t.Error("a deleted execution is still there")
	}
	// The owner may delete the owner's workflow's executions, but not an unfinished one.
	body := `{"action":"delete","ids":["` + running.ID.String() + `"]}`
	var own bulkAnswer
	h.do(request{Method: "POST", Path: "/api/v1/executions/bulk", JSON: body,
		Bearer: h.accessToken(w.users["owner"], w.orgA.ID)}).json(t, &own)
	if len(own.Results) != 1 || own.Results[0].OK || own.Results[0].Code != "conflict" ||
		!strings.Contains(own.Results[0].Message, "cancel it first") {
		t.Errorf("deleting a queued execution: %+v", own.Results)
	}
	if n := h.auditCount("execution.delete"); n != 2 {
		t.Errorf("%d execution.delete audit entries, want 2", n)
	}
	if n := h.auditCount("execution.retry"); n != 1 {
		t.Errorf("%d execution.retry audit entries, want 1", n)
	}

	// Bad input names its field.
	resp := h.do(request{Method: "POST", Path: "/api/v1/executions/bulk", JSON: `{"action":"explode","ids":["` + mine[0].ID.String() + `"]}`, Bearer: bearer})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"action"`) {
		t.Errorf("bad action: %d %s", resp.StatusCode, resp.body)
	}

	// The page twin: the member cancels the owner's queued execution and is told why not, by run number.
	page := h.pageAs(member, w.orgA.ID, "POST", "/executions/bulk", url.Values{"action": {"cancel"},
		"ids": {running.ID.String()}, "status": {"queued"}})
	if page.StatusCode != http.StatusOK {
		t.Fatalf("page: %d", page.StatusCode)
	}
	doc := page.doc(t)
	item := doc.Find(`[data-bulk-outcome] [data-bulk-item="` + running.ID.String() + `"]`)
	if item.AttrOr("data-ok", "") != "false" || !strings.Contains(item.Text(), "Owner's flow #") ||
		!strings.Contains(item.Text(), "does not allow") {
		t.Errorf("page outcome: %q", item.Text())
	}
	if v, _ := doc.Find(`#execution-status option[selected]`).Attr("value"); v != "queued" {
		t.Errorf("the list lost its status filter: %q", v)
	}
}

// membersExecutions creates n failed executions of a new workflow of organization A's member.
func (h *harness) membersExecutions(w *world, n int) []store.Execution {
	h.t.Helper()
	return h.failedExecutions(w.orgA.ID, w.users["member"].ID, n)
}

// outsidersExecution creates a failed execution in organization B.
func (h *harness) outsidersExecution(w *world) store.Execution {
	h.t.Helper()
	return h.failedExecutions(w.orgB.ID, w.users["outsider"].ID, 1)[0]
}

func (h *harness) failedExecutions(org, author uuid.UUID, n int) []store.Execution {
	h.t.Helper()
	ctx := context.Background()
	wf, err := h.st.WorkflowCreate(ctx, store.Actor{}, store.NewWorkflow{OrganizationID: org, Name: "Their flow",
		Definition: json.RawMessage(apiFlow), AuthorID: &author})
	if err != nil {
		h.t.Fatal(err)
	}
	head, err := h.st.WorkflowHeadForRun(ctx, org, wf.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []store.Execution
	for range n {
		e, err := h.st.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: org, WorkflowID: wf.ID,
			WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual"})
		if err != nil {
			h.t.Fatal(err)
		}
		if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: queue.ExecutionRef{ID: e.ID,
			OrganizationID: org, WorkflowID: wf.ID}, Status: engine.ExecutionFailed, Error: "boom"}); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
