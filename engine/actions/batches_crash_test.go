package actions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// batchCrashChildEnv carries a batchCrashSpec to the child process of TestBatchedLoopSurvivesSIGKILL.
const batchCrashChildEnv = "CONCERTMASTER_TEST_BATCH_CRASH"

type batchCrashSpec struct {
	DatabaseURL string    `json:"database_url"`
	FilesDir    string    `json:"files_dir"`
	Org         uuid.UUID `json:"org"`
	Workflow    uuid.UUID `json:"workflow"`
	Execution   uuid.UUID `json:"execution"`
	Trigger     string    `json:"trigger"`
	URL         string    `json:"url"`
}

// batchServices builds an execution's services and store-backed recorders on the database and file directory of
// spec, as a worker process has them.
func batchServices(t *testing.T, spec batchCrashSpec) (*store.Store, *engine.Services) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), spec.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.NewKeyring("integrations", testIntegrationKey, "")
	if err != nil {
		t.Fatal(err)
	}
	files, err := storage.NewLocal(spec.FilesDir, storage.LocalOptions{MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	f, err := actions.NewServicesFactory(actions.ServicesConfig{Integrations: store.NewIntegrationStore(st, keys),
		Records: st, Files: files, RateLimiter: st.IntegrationRateLimiter(), OutboundAllowedHosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return st, f.Services(spec.Org, spec.Workflow, spec.Execution)
}

// runStored runs the batched workflow as execution spec.Execution, recording through st as the worker does;
// afterRecord is called after each side-effecting run is committed.
func runStored(t *testing.T, st *store.Store, svc *engine.Services, spec batchCrashSpec, recorded []engine.NodeRun, afterRecord func(engine.NodeRun)) engine.RunResult {
	ref := queue.ExecutionRef{ID: spec.Execution, OrganizationID: spec.Org, WorkflowID: spec.Workflow}
	return runDefinition(t, context.Background(), batchedDefinition(50, spec.URL), svc, spec.Trigger, engine.RunInput{
		Recorded: recorded,
		Recorder: engine.RecorderFunc(func(ctx context.Context, run engine.NodeRun) error {
			err := st.NodeRunRecord(ctx, ref, run)
			if err == nil && afterRecord != nil {
				afterRecord(run)
			}
			return err
		}),
		Batches: engine.BatchRecorderFunc(func(ctx context.Context, runs []engine.NodeRun) error {
			return st.BatchRecord(ctx, ref, runs)
		})})
}

// TestBatchCrashChild is the child process of TestBatchedLoopSurvivesSIGKILL, run by it alone: it runs the batched
// workflow and SIGKILLs itself once batch 4's side effect is recorded, batches 0–3 checkpointed, batch 4 not.
func TestBatchCrashChild(t *testing.T) {
	raw := os.Getenv(batchCrashChildEnv)
	if raw == "" {
		t.Skip("the child process of TestBatchedLoopSurvivesSIGKILL")
	}
	var spec batchCrashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	st, svc := batchServices(t, spec)
	runStored(t, st, svc, spec, nil, func(run engine.NodeRun) {
		if run.NodeID == "post" && run.ItemIndex != nil && *run.ItemIndex == 4 {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	})
	t.Fatal("the process lived on past batch 4")
}

// TestBatchedLoopSurvivesSIGKILL runs a batched parse → loop (aggregate, then an HTTP call per batch) in a child
// process that is SIGKILLed in the middle of batch 4 (its HTTP call made and recorded, its checkpoint not), then
// resumes the execution in this process from what the database holds: batches 0–3 are not run again, batch 4's
// call is not repeated, and the HTTP server sees each of the 10 batches exactly once.
func TestBatchedLoopSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Batch any }
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		mu.Lock()
		seen[fmt.Sprint(body.Batch)]++
		mu.Unlock()
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	spec := batchCrashSpec{DatabaseURL: env.dbURL, FilesDir: t.TempDir(), Org: env.org.ID, Workflow: env.workflowID,
		Execution: env.executionID, URL: srv.URL + "/batches"}
	st, svc := batchServices(t, spec)
	file, err := svc.Storage.Put(context.Background(), engine.NewFile{Name: "orders.csv", ContentType: "text/csv"},
		strings.NewReader(batchCSV(500)))
	if err != nil {
		t.Fatal(err)
	}
	spec.Trigger = fmt.Sprintf(`{"body": {"upload": {"ref": %q}}}`, file.Ref)

	raw, _ := json.Marshal(spec)
	child := exec.Command(os.Args[0], "-test.run=^TestBatchCrashChild$", "-test.count=1")
	child.Env = append(os.Environ(), batchCrashChildEnv+"="+string(raw))
	out, err := child.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed: %v\n%s", err, out)
	}
	recorded, err := st.NodeRuns(context.Background(), env.org.ID, env.executionID)
	if err != nil {
		t.Fatal(err)
	}
	if p := engine.ProgressOf(recorded); p == nil || p.BatchesDone != 4 || p.Done != 200 || p.Total != 500 {
		t.Fatalf("progress recorded before the kill: %+v", p)
	}
	mu.Lock()
	if len(seen) != 5 {
		t.Fatalf("before the resume the server saw %v, want batches 0–4", seen)
	}
	mu.Unlock()

	// The worker resumes from what NodeRunsForResume gives: batches 0–3's bodies are left unread.
	plan, err := engine.Compile(batchedDefinition(50, spec.URL), registry)
	if err != nil {
		t.Fatal(err)
	}
	resume, err := st.NodeRunsForResume(context.Background(), queue.ExecutionRef{ID: spec.Execution, OrganizationID: spec.Org,
		WorkflowID: spec.Workflow}, plan.LoopBodies())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resume {
		if r.ItemIndex != nil && *r.ItemIndex < 4 && r.NodeID != "loop" {
			t.Errorf("the resume read node %s of batch %d", r.NodeID, *r.ItemIndex)
		}
	}
	res := runStored(t, st, svc, spec, resume, nil)
	if res.Status != engine.ExecutionSucceeded {
		t.Fatalf("resumed: %s %s", res.Status, res.Error)
	}
	for _, r := range res.NodeRuns {
		if r.ItemIndex != nil && *r.ItemIndex < 4 {
			t.Errorf("batch %d ran again: node %s", *r.ItemIndex, r.NodeID)
		}
		if r.NodeID == "total" && !strings.Contains(string(r.Output), `"rows":167`) {
			t.Errorf("total %s", r.Output)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for k := range 10 {
		if n := seen[fmt.Sprint(k)]; n != 1 {
			t.Errorf("batch %d was posted %d times", k, n)
		}
	}
	all, err := st.NodeRuns(context.Background(), env.org.ID, env.executionID)
	if err != nil {
		t.Fatal(err)
	}
	if p := engine.ProgressOf(all); p == nil || p.BatchesDone != 10 || p.Done != 500 {
		t.Errorf("final recorded progress %+v", p)
	}
	// The runs of the batches finished before the kill are the records the child wrote, untouched.
	before := map[string]engine.NodeRun{}
	for _, r := range recorded {
		if r.ItemIndex != nil && *r.ItemIndex < 4 {
			before[fmt.Sprint(r.NodeID, *r.ItemIndex)] = r
		}
	}
	for _, r := range all {
		if b, ok := before[fmt.Sprint(r.NodeID, deref(r.ItemIndex))]; ok && r.ItemIndex != nil && !r.FinishedAt.Equal(b.FinishedAt) {
			t.Errorf("node %s of batch %d was recorded again", r.NodeID, *r.ItemIndex)
		}
	}
	if len(before) != 4*4 { // part, post, keep and the checkpoint of each
		t.Errorf("%d runs of batches 0–3 recorded before the kill", len(before))
	}
}

func deref(i *int) int {
	if i == nil {
		return -1
	}
	return *i
}
