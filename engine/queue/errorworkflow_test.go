package queue_test

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// failingFlow fails at its second node: a filter given an object where it needs an array.
const failingFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","config":{}},
 {"id":"check","name":"Check orders","type":"transform.filter","config":{"condition":"item > 1"}}],
 "edges":[{"from":"hook","to":"check"}]}`

// succeedingFlow succeeds.
const succeedingFlow = `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}}],"edges":[]}`

// errorFlow is an error workflow with the given trigger config whose second node records its input (and succeeds).
func errorFlow(config string) string {
	return `{"nodes":[{"id":"failure","type":"trigger.error","config":` + config + `},
	 {"id":"notify","type":"action.test_effect","config":{}}],"edges":[{"from":"failure","to":"notify"}]}`
}

// failingErrorFlow is an error workflow that fails itself (its filter is given the trigger's object).
func failingErrorFlow(config string) string {
	return `{"nodes":[{"id":"failure","type":"trigger.error","config":` + config + `},
	 {"id":"check","type":"transform.filter","config":{"condition":"item > 1"}}],"edges":[{"from":"failure","to":"check"}]}`
}

// activeWorkflow creates a workflow in org and activates it unless told not to.
func (h *harness) activeWorkflow(orgID uuid.UUID, name, def string, active bool) store.WorkflowHead {
	h.t.Helper()
	ctx := context.Background()
	wf, err := h.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: orgID, Name: name,
		Definition: json.RawMessage(def)})
	if err != nil {
		h.t.Fatal(err)
	}
	if active {
		if _, err := h.store.WorkflowSetActive(ctx, store.SystemActor, orgID, wf.ID, true, nil); err != nil {
			h.t.Fatal(err)
		}
	}
	head, err := h.store.WorkflowHeadForRun(ctx, orgID, wf.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return head
}

// executionsOf lists a workflow's executions, newest first.
func (h *harness) executionsOf(head store.WorkflowHead) []store.Execution {
	h.t.Helper()
	list, err := h.store.ExecutionList(context.Background(), head.OrganizationID,
		store.ExecutionFilter{WorkflowID: &head.WorkflowID})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

// waitStatusIn is waitStatus for an execution of any organization.
func (h *harness) waitStatusIn(orgID, id uuid.UUID, want string) store.Execution {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := h.store.ExecutionGet(context.Background(), orgID, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if e.Status == want {
			return e
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("execution %s is %s (%s), want %s", id, e.Status, e.Error, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onlyExecution returns a workflow's one execution, failing the test when it has another number of them.
func (h *harness) onlyExecution(head store.WorkflowHead, what string) store.Execution {
	h.t.Helper()
	list := h.executionsOf(head)
	if len(list) != 1 {
		h.t.Fatalf("%s has %d executions, want 1", what, len(list))
	}
	return list[0]
}

// errorTrigger is the trigger data of an error workflow's execution.
type errorTrigger struct {
	Execution struct {
		ID          uuid.UUID  `json:"id"`
		URL         string     `json:"url"`
		TriggerKind string     `json:"trigger_kind"`
		FinishedAt  *time.Time `json:"finished_at"`
	} `json:"execution"`
	Workflow struct {
		ID      uuid.UUID `json:"id"`
		Name    string    `json:"name"`
		Version int       `json:"version"`
	} `json:"workflow"`
	Node *struct {
		ID, Name, Type string
	} `json:"node"`
	Error struct {
		Code, Message string
	} `json:"error"`
	Trigger          json.RawMessage `json:"trigger"`
	TriggerTruncated bool            `json:"trigger_truncated"`
	TriggerPreview   *string         `json:"trigger_preview"`
}

// TestErrorWorkflowsRunForTheFailuresTheyWatch: a failed execution starts, in the transaction that records its
// failure, one execution of every active error workflow of its organization watching it (any workflow, or it by
// id) with the failure's details; a watcher of another workflow, an inactive one and the error workflows of
// another organization (even one naming the failed workflow's id) get nothing, and a success starts nothing.
func TestErrorWorkflowsRunForTheFailuresTheyWatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.store.SetErrorWorkflowOptions(store.ErrorWorkflowOptions{BaseURL: &url.URL{Scheme: "https", Host: "cm.example.com"}})
	ctx := context.Background()
	_, other, err := h.store.UserCreateWithOrganization(ctx, store.NewUser{Email: "other@example.com", Name: "Other",
		PasswordHash: "x", OrganizationName: "Other", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	orders := h.activeWorkflow(h.org.ID, "Orders", failingFlow, true)
	fine := h.activeWorkflow(h.org.ID, "Fine", succeedingFlow, true)
	watchOrders := h.activeWorkflow(h.org.ID, "Watch orders",
		errorFlow(`{"watch":"workflow","workflow_id":"`+strings.ToUpper(orders.WorkflowID.String())+`"}`), true)
	watchAny := h.activeWorkflow(h.org.ID, "Watch any", errorFlow(`{"max_trigger_bytes":10}`), true)
	watchFine := h.activeWorkflow(h.org.ID, "Watch fine", errorFlow(`{"watch":"workflow","workflow_id":"`+fine.WorkflowID.String()+`"}`), true)
	inactive := h.activeWorkflow(h.org.ID, "Inactive", errorFlow(`{}`), false)
	otherAny := h.activeWorkflow(other.ID, "Other any", errorFlow(`{}`), true)
	otherNamed := h.activeWorkflow(other.ID, "Other named", errorFlow(`{"watch":"workflow","workflow_id":"`+orders.WorkflowID.String()+`"}`), true)
	h.startWorker(time.Minute)

	ok := h.run(fine, `{"body":{"n":1}}`)
	h.waitStatus(ok, store.StatusSucceeded)
	failed := h.run(orders, `{"body":{"order":42}}`)
	f := h.waitStatus(failed, store.StatusFailed)
	// Started with the failure's commit: every count is final now.
	for what, head := range map[string]store.WorkflowHead{"a watcher of a workflow that succeeded": watchFine,
		"an inactive error workflow": inactive, "another organization's watcher of any": otherAny,
		"another organization's watcher naming the workflow": otherNamed} {
		if n := len(h.executionsOf(head)); n != 0 {
			t.Errorf("%s ran %d times", what, n)
		}
	}
	for what, head := range map[string]store.WorkflowHead{"the watcher of the workflow": watchOrders, "the watcher of any": watchAny} {
		e := h.onlyExecution(head, what)
		if e.TriggerKind != store.TriggerKindError {
			t.Errorf("%s: trigger kind %q", what, e.TriggerKind)
		}
		h.waitStatus(e.ID, store.StatusSucceeded)
		var got errorTrigger
		if err := json.Unmarshal(e.TriggerData, &got); err != nil {
			t.Fatalf("%s: %v in %s", what, err, e.TriggerData)
		}
		if got.Execution.ID != failed || got.Execution.URL != "https://cm.example.com/executions/"+failed.String() ||
			got.Execution.TriggerKind != "manual" || got.Execution.FinishedAt == nil ||
			got.Workflow.ID != orders.WorkflowID || got.Workflow.Name != "Orders" || got.Workflow.Version != 1 ||
			got.Node == nil || got.Node.ID != "check" || got.Node.Name != "Check orders" || got.Node.Type != "transform.filter" ||
			got.Error.Code != "node_failed" || got.Error.Message != f.Error || !strings.Contains(f.Error, "not an array") {
			t.Errorf("%s: trigger data %s (failed execution's error %q)", what, e.TriggerData, f.Error)
		}
		switch head {
		case watchOrders:
			if string(got.Trigger) != `{"body": {"order": 42}}` || got.TriggerTruncated || got.TriggerPreview != nil {
				t.Errorf("%s: trigger %s truncated %v", what, got.Trigger, got.TriggerTruncated)
			}
		case watchAny: // max_trigger_bytes 10
			if string(got.Trigger) != "null" || !got.TriggerTruncated || got.TriggerPreview == nil || *got.TriggerPreview != `{"body": {` {
				t.Errorf("%s: trigger %s truncated %v preview %v", what, got.Trigger, got.TriggerTruncated, got.TriggerPreview)
			}
		}
	}
	if n := h.effects.count("notify"); n != 2 {
		t.Errorf("the error workflows' nodes ran %d times, want 2", n)
	}
}

// TestErrorWorkflowsCannotLoop: an error workflow that fails starts no error workflow, neither itself nor another
// one watching any workflow; nor does a failed manual run of an error workflow.
func TestErrorWorkflowsCannotLoop(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	orders := h.activeWorkflow(h.org.ID, "Orders", failingFlow, true)
	failing := h.activeWorkflow(h.org.ID, "Failing handler", failingErrorFlow(`{}`), true)
	watcher := h.activeWorkflow(h.org.ID, "Watcher", errorFlow(`{"watch":"any"}`), true)
	named := h.activeWorkflow(h.org.ID, "Named", errorFlow(`{"watch":"workflow","workflow_id":"`+failing.WorkflowID.String()+`"}`), true)
	h.startWorker(time.Minute)

	failed := h.run(orders, `{}`)
	h.waitStatus(failed, store.StatusFailed)
	handler := h.onlyExecution(failing, "the failing error workflow")
	h.waitStatus(handler.ID, store.StatusFailed)
	h.waitStatus(h.onlyExecution(watcher, "the watcher").ID, store.StatusSucceeded)
	manual := h.run(failing, `{}`)
	h.waitStatus(manual, store.StatusFailed)

	// The failures' commits started whatever they would: the counts are final.
	if n := len(h.executionsOf(failing)); n != 2 {
		t.Errorf("the failing error workflow has %d executions, want 2 (one for the failure, one manual)", n)
	}
	if n := len(h.executionsOf(watcher)); n != 1 {
		t.Errorf("the watcher of any workflow ran %d times, want once (for the ordinary workflow only)", n)
	}
	if n := len(h.executionsOf(named)); n != 0 {
		t.Errorf("the watcher of the failing error workflow ran %d times, want 0", n)
	}
}

// TestErrorWorkflowHearsOfATimeout: an execution that runs past its timeout fails, and its error workflow gets
// the code execution_timed_out.
func TestErrorWorkflowHearsOfATimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	slow := h.activeWorkflow(h.org.ID, "Slow", `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"stuck","type":"action.test_effect","config":{}}],"edges":[{"from":"hook","to":"stuck"}]}`, true)
	watcher := h.activeWorkflow(h.org.ID, "Watcher", `{"nodes":[{"id":"failure","type":"trigger.error","config":{}}],"edges":[]}`, true)
	h.effects.setBlocking("stuck", true) // until the execution's context ends
	h.startWorker(2 * time.Second)
	failed := h.run(slow, `{}`)
	f := h.waitStatus(failed, store.StatusFailed)
	e := h.onlyExecution(watcher, "the watcher")
	var got errorTrigger
	if err := json.Unmarshal(e.TriggerData, &got); err != nil {
		t.Fatal(err)
	}
	if got.Error.Code != "execution_timed_out" || got.Error.Message != f.Error || got.Node != nil || got.Execution.ID != failed {
		t.Errorf("trigger data %s (failed execution's error %q)", e.TriggerData, f.Error)
	}
}

// TestABrokenErrorWorkflowIsSkippedAlone: an error workflow whose stored trigger config no longer parses (saved
// before a schema change) is skipped; the failure is recorded and the other error workflows still run.
func TestABrokenErrorWorkflowIsSkippedAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	orders := h.activeWorkflow(h.org.ID, "Orders", failingFlow, true)
	broken := h.activeWorkflow(h.org.ID, "Broken", errorFlow(`{"watch":"any","colour":"red"}`), true)
	watcher := h.activeWorkflow(h.org.ID, "Watcher", errorFlow(`{}`), true)
	h.startWorker(time.Minute)
	failed := h.run(orders, `{}`)
	h.waitStatus(failed, store.StatusFailed)
	if n := len(h.executionsOf(broken)); n != 0 {
		t.Errorf("the broken error workflow ran %d times", n)
	}
	h.waitStatus(h.onlyExecution(watcher, "the watcher").ID, store.StatusSucceeded)
}

// TestErrorWorkflowGetsStoredTriggerDataNotItsReference: trigger data kept in the file storage reaches an error
// workflow whole when it fits max_trigger_bytes (read back), else by its size, preview and API address, as data
// in its row that does not fit; never as the storage's reference.
func TestErrorWorkflowGetsStoredTriggerDataNotItsReference(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.store.SetErrorWorkflowOptions(store.ErrorWorkflowOptions{BaseURL: &url.URL{Scheme: "https", Host: "cm.example.com"}})
	files, err := storage.NewLocal(t.TempDir(), storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	h.store.UsePayloads(files, 1024)
	orders := h.activeWorkflow(h.org.ID, "Orders", failingFlow, true)
	whole := h.activeWorkflow(h.org.ID, "Whole", errorFlow(`{"max_trigger_bytes":65536}`), true)
	small := h.activeWorkflow(h.org.ID, "Small", errorFlow(`{}`), true) // 4096 bytes
	h.startWorker(time.Minute)

	trigger := `{"body":{"text":"` + strings.Repeat("x", 5000) + `"}}`
	failed := h.run(orders, trigger)
	h.waitStatus(failed, store.StatusFailed)
	row, err := h.store.ExecutionGet(context.Background(), h.org.ID, failed)
	if err != nil {
		t.Fatal(err)
	}
	ref := store.ParsePayloadRef(row.TriggerData)
	if ref == nil {
		t.Fatalf("the failed execution's trigger data was not offloaded: %.100s", row.TriggerData)
	}
	type stored struct {
		Trigger          json.RawMessage `json:"trigger"`
		TriggerSize      int64           `json:"trigger_size"`
		TriggerTruncated bool            `json:"trigger_truncated"`
		TriggerPreview   string          `json:"trigger_preview"`
		TriggerURL       string          `json:"trigger_url"`
	}
	read := func(head store.WorkflowHead, what string) (stored, string) {
		e := h.onlyExecution(head, what)
		run := h.waitStatus(e.ID, store.StatusSucceeded)
		runs, err := h.store.NodeRuns(context.Background(), h.org.ID, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.NodeID == "failure" {
				out := r.Output
				if ref := store.ParsePayloadRef(out); ref != nil { // itself large: read it back
					rc, err := h.store.OpenPayload(context.Background(), h.org.ID, nil, ref.Key)
					if err != nil {
						t.Fatal(err)
					}
					out, err = io.ReadAll(rc)
					rc.Close()
					if err != nil {
						t.Fatal(err)
					}
				}
				var got stored
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("%s: %v in %.200s", what, err, out)
				}
				return got, string(out)
			}
		}
		t.Fatalf("%s: no run of its trigger", what)
		return stored{}, ""
	}
	got, raw := read(whole, "the error workflow keeping 64 KiB")
	var body struct{ Body struct{ Text string } }
	if err := json.Unmarshal(got.Trigger, &body); err != nil || len(body.Body.Text) != 5000 || got.TriggerTruncated ||
		got.TriggerURL != "" || strings.Contains(raw, "$payload") {
		t.Errorf("the error workflow keeping 64 KiB got %.300s", raw)
	}
	got, raw = read(small, "the error workflow keeping 4 KiB")
	if string(got.Trigger) != "null" || !got.TriggerTruncated || got.TriggerSize != ref.Size ||
		got.TriggerPreview != ref.Preview || strings.Contains(raw, "$payload") ||
		got.TriggerURL != "https://cm.example.com/api/v1/executions/"+failed.String()+"/payloads/"+ref.Key {
		t.Errorf("the error workflow keeping 4 KiB got %.300s", raw)
	}
}
