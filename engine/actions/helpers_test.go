package actions_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// registry holds the built-in and action types; it is read-only once built.
var registry = func() *engine.Registry {
	reg := nodes.NewRegistry()
	if err := actions.Register(reg); err != nil {
		panic(err)
	}
	return reg
}()

// testIntegrationKey is the SECRET_KEY integrations are sealed with in these tests (and their child processes).
const testIntegrationKey = "actions-test-secret-key-0123456789abcdefgh"

// testEnv is a real database with an organization, a workflow and an execution of it, an integration store and a
// file store: what the services of one execution stand on.
type testEnv struct {
	store        *store.Store
	integrations *store.IntegrationStore
	files        *storage.Local
	dbURL        string
	org, other   store.Organization
	workflowID   uuid.UUID
	executionID  uuid.UUID
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	pool, dbURL := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	user, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "ada@example.com", Name: "Ada",
		PasswordHash: "x", OrganizationName: "Acme", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "eve@example.com", Name: "Eve",
		PasswordHash: "x", OrganizationName: "Other", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := st.WorkflowCreate(ctx, store.Actor{}, store.NewWorkflow{OrganizationID: org.ID, Name: "Orders",
		Definition: json.RawMessage(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}}],"edges":[]}`), AuthorID: &user.ID})
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.WorkflowHeadForRun(ctx, org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := st.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: org.ID, WorkflowID: wf.ID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual", TriggerData: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.NewKeyring("integrations", testIntegrationKey, "")
	if err != nil {
		t.Fatal(err)
	}
	files, err := storage.NewLocal(t.TempDir(), storage.LocalOptions{MaxBytes: 50 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	return &testEnv{store: st, integrations: store.NewIntegrationStore(st, keys), files: files, dbURL: dbURL,
		org: org, other: other, workflowID: wf.ID, executionID: exec.ID}
}

// factory returns a services factory allowing 127.0.0.1 (where every test server listens) unless configure says
// otherwise.
func (e *testEnv) factory(t *testing.T, configure func(*actions.ServicesConfig)) *actions.ServicesFactory {
	t.Helper()
	cfg := actions.ServicesConfig{Integrations: e.integrations, Records: e.store, Files: e.files,
		RateLimiter: e.store.IntegrationRateLimiter(), OutboundAllowedHosts: []string{"127.0.0.1"}}
	if configure != nil {
		configure(&cfg)
	}
	f, err := actions.NewServicesFactory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func (e *testEnv) services(f *actions.ServicesFactory) *engine.Services {
	return f.Services(e.org.ID, e.workflowID, e.executionID)
}

// integration stores an integration of the test organization from one settings object.
func (e *testEnv) integration(t *testing.T, kind, settings string, rateLimit int, interval time.Duration) string {
	t.Helper()
	config, secretJSON, err := actions.SplitSettings(kind, json.RawMessage(settings))
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.integrations.Create(context.Background(), store.NewIntegration{OrganizationID: e.org.ID,
		Name: kind + "-" + uuid.NewString()[:8], Kind: kind, Config: config, Secrets: secretJSON,
		RateLimit: rateLimit, RateInterval: interval}, store.SystemActor)
	if err != nil {
		t.Fatalf("create integration: %v", err)
	}
	return in.ID.String()
}

// node is one node of a test workflow.
type node struct {
	id, typ, cfg string
	retry        *engine.RetryPolicy
}

// runChain runs trigger → nodes[0] → nodes[1] … with the given trigger data and services, and returns the result
// and each node's run. sleeps records the waits between retries, which are not slept.
func runChain(t *testing.T, svc *engine.Services, trigger string, chain ...node) (engine.RunResult, map[string]engine.NodeRun, *[]time.Duration) {
	t.Helper()
	return runChainAs(t, svc, uuid.NewString(), trigger, chain...)
}

// runChainAs is runChain as the execution executionID: running it again with the same id is what a resume does
// for the nodes whose runs were not recorded.
func runChainAs(t *testing.T, svc *engine.Services, executionID, trigger string, chain ...node) (engine.RunResult, map[string]engine.NodeRun, *[]time.Duration) {
	t.Helper()
	return runChainWaiting(t, svc, executionID, nil, trigger, chain...)
}

// runChainWaiting is runChainAs calling beforeRetry, when set, in place of each wait between attempts: what a test
// does there (restart a server) happens while the node waits to try again.
func runChainWaiting(t *testing.T, svc *engine.Services, executionID string, beforeRetry func(wait time.Duration), trigger string, chain ...node) (engine.RunResult, map[string]engine.NodeRun, *[]time.Duration) {
	t.Helper()
	def := &engine.Definition{Nodes: []engine.Node{{ID: "in", Type: "trigger.webhook", Config: json.RawMessage(`{"auth":"none"}`)}}}
	prev := "in"
	for _, n := range chain {
		def.Nodes = append(def.Nodes, engine.Node{ID: n.id, Type: n.typ, Config: json.RawMessage(n.cfg), Retry: n.retry})
		def.Edges = append(def.Edges, engine.Edge{From: prev, To: n.id})
		prev = n.id
	}
	plan, err := engine.Compile(def, registry)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	var sleeps []time.Duration
	executor := engine.NewExecutor(engine.ExecutorOptions{
		Sleep: func(_ context.Context, d time.Duration) error {
			sleeps = append(sleeps, d)
			if beforeRetry != nil {
				beforeRetry(d)
			}
			return nil
		},
		Jitter: func(c time.Duration) time.Duration { return c },
	})
	res, err := executor.Run(context.Background(), plan, engine.RunInput{Trigger: json.RawMessage(trigger), Services: svc,
		Execution: engine.ExecutionInfo{ID: executionID, WorkflowID: uuid.NewString(), Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]engine.NodeRun{}
	for _, r := range res.NodeRuns {
		runs[r.NodeID] = r
	}
	return res, runs, &sleeps
}

// output decodes a node run's output, failing the test when the run did not succeed.
func output(t *testing.T, run engine.NodeRun) map[string]any {
	t.Helper()
	if run.Status != engine.NodeSucceeded {
		t.Fatalf("node %s %s: %s", run.NodeID, run.Status, run.Error)
	}
	var out map[string]any
	if err := json.Unmarshal(run.Output, &out); err != nil {
		t.Fatalf("output %s: %v", run.Output, err)
	}
	return out
}

// hostPort splits a test server's address.
func hostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	return u.Hostname(), port
}

// redisClient returns a client on the test Redis (TEST_REDIS_URL), on a database of its own for the test.
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with `make test`, which starts a private Redis")
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

var storeSystem = store.SystemActor

func storeNewIntegration(orgID uuid.UUID, name, kind string, config json.RawMessage) store.NewIntegration {
	return store.NewIntegration{OrganizationID: orgID, Name: name, Kind: kind, Config: config}
}
