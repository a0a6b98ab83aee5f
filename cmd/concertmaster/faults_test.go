package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Load of the scaled-out fault test: modest, so that the two cores of a test machine stay usable.
const (
	faultLoadRate     = 100 // webhook calls a second
	faultLoadDuration = 10 * time.Second
	// faultDrainBound is how long after the load every accepted execution must have finished.
	faultDrainBound = 30 * time.Second
)

// faultScenario is one fault injected into the scaled-out set while it is under load.
type faultScenario struct {
	name string
	// killWorker SIGKILLs a worker at killAt into the load, and starts a new one in its place.
	killWorker bool
	killAt     time.Duration
	// restartDatabase restarts PostgreSQL (a fast shutdown, then a start) at restartAt into the load, or
	// restartAfterKill after the kill when the scenario has both.
	restartDatabase  bool
	restartAt        time.Duration
	restartAfterKill time.Duration
}

// heldCalls is how many calls the receiver holds unanswered when a fault strikes: the fault then always finds
// executions in the middle of their side effect, whose calls have reached the receiver but whose answers have not
// come back (like a slow API's).
const heldCalls = 20

// TestScaledOutSetSurvivesFaults runs the shape of a scaled-out installation as separate processes of the real
// binary: one `serve --no-workers` and two `worker`s, on a PostgreSQL cluster of the test's own. Signed webhooks
// arrive at a steady rate into webhook → transform → HTTP call to a receiver the test runs, and a fault is injected
// mid-load: a worker SIGKILLed (and started again), PostgreSQL restarted, or both 3 s apart. Each fault strikes
// while the receiver holds heldCalls calls unanswered. Every execution that was accepted (202) must have succeeded
// within faultDrainBound of the load's end, with each node recorded once, and the receiver, deduplicating on
// Idempotency-Key, must have seen each execution's call exactly once.
func TestScaledOutSetSurvivesFaults(t *testing.T) {
	bin := buildBinary(t)
	cluster := startPrivateCluster(t)
	for i, sc := range []faultScenario{
		{name: "worker killed", killWorker: true, killAt: 4 * time.Second},
		{name: "database restarted", restartDatabase: true, restartAt: 4 * time.Second},
		{name: "worker killed then database restarted", killWorker: true, killAt: 3 * time.Second,
			restartDatabase: true, restartAfterKill: 3 * time.Second},
	} {
		t.Run(sc.name, func(t *testing.T) {
			runFaultScenario(t, bin, cluster, fmt.Sprintf("faults_%d", i), sc)
		})
	}
	t.Run("database stopped and started", func(t *testing.T) {
		runDatabaseDownScenario(t, bin, cluster, "faults_down")
	})
}

// faultSet is the scaled-out set of one scenario.
type faultSet struct {
	bin      string
	cluster  *pgCluster
	env      map[string]string
	web      *process
	workers  []*process
	receiver *idempotencyReceiver
	pool     *pgxpool.Pool
	// base is the web process's URL.
	base string
}

// startFaultSet creates the scenario's database and workflow and starts the web process and workers of the set.
func startFaultSet(t *testing.T, bin string, cluster *pgCluster, database string, workers int) (*faultSet, store.Webhook) {
	dbURL := cluster.createDatabase(t, database)
	set := &faultSet{bin: bin, cluster: cluster, receiver: newIdempotencyReceiver(t), pool: connectPool(t, dbURL)}
	hook := faultWorkflow(t, set.pool, set.receiver.URL+"/notify")
	set.env = map[string]string{"DATABASE_URL": dbURL, "SECRET_KEY": testSecretKey, "LOG_LEVEL": "info",
		"OUTBOUND_ALLOWED_HOSTS": "127.0.0.1", "DATA_DIR": t.TempDir(), "DATABASE_MAX_CONNS": "15",
		"WORKER_CONCURRENCY": "50", "LISTEN_ADDR": "127.0.0.1:" + freePort(t)}
	set.web = startProcess(t, "web", bin, set.env, `"msg":"serving"`, "serve", "--no-workers")
	set.base = "http://" + set.env["LISTEN_ADDR"]
	waitHealthy(t, set.base)
	for i := range workers {
		set.workers = append(set.workers, set.startWorker(t, fmt.Sprintf("worker %d", i+1)))
	}
	return set, hook
}

func runFaultScenario(t *testing.T, bin string, cluster *pgCluster, database string, sc faultScenario) {
	set, hook := startFaultSet(t, bin, cluster, database, 2)
	base := set.base

	loadStart := time.Now()
	loaded := make(chan loadResult, 1)
	go func() { loaded <- sendSignedLoad(base+"/hooks/"+hook.Token, hook.Secret) }()
	var lastFault time.Time
	if sc.killWorker {
		<-time.After(time.Until(loadStart.Add(sc.killAt)))
		lastFault = set.killWorker(t)
	}
	if sc.restartDatabase {
		at := loadStart.Add(sc.restartAt)
		if sc.killWorker {
			at = lastFault.Add(sc.restartAfterKill) // the spec's "3 s apart"
		}
		<-time.After(time.Until(at))
		lastFault = set.restartDatabase(t)
	}
	load := <-loaded
	loadEnd := time.Now()
	t.Logf("%d calls, %d accepted (202), others: %v", load.sent, len(load.accepted), load.refused)
	if len(load.accepted) < load.sent/2 {
		t.Fatalf("only %d of %d calls were accepted", len(load.accepted), load.sent)
	}

	finishedAt, ok := waitExecutionsSucceeded(t, set.pool, load.accepted, loadEnd.Add(faultDrainBound))
	if !ok {
		describeUnfinished(t, set.pool, load.accepted)
		for _, p := range append([]*process{set.web}, set.workers...) {
			t.Logf("log of %s:\n%s", p.name, lastLines(p.output(), 40))
		}
		return
	}
	t.Logf("every accepted execution succeeded %.1f s after the load ended (%.1f s after the last fault)",
		finishedAt.Sub(loadEnd).Seconds(), finishedAt.Sub(lastFault).Seconds())
	checkRecordedOnce(t, set.pool, load.accepted)
	set.receiver.checkEachOnce(t, load.accepted)
}

func (s *faultSet) startWorker(t *testing.T, name string) *process {
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	env["LISTEN_ADDR"] = "127.0.0.1:0" // a worker serves nothing
	return startProcess(t, name, s.bin, env, `"msg":"workers started"`, "worker")
}

// killWorker SIGKILLs the first worker while the receiver holds calls, and starts another in its place. It
// returns when the kill happened.
func (s *faultSet) killWorker(t *testing.T) time.Time {
	t.Helper()
	s.receiver.hold(t, heldCalls)
	// The held calls' executions may all run on one worker: kill the one that holds the most, so that the
	// scenario always takes jobs away from their worker.
	victim, holding := 0, -1
	for i, w := range s.workers {
		var n int
		if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $1`, riverClientID(w.output())).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > holding {
			victim, holding = i, n
		}
	}
	worker := s.workers[victim]
	at := time.Now()
	worker.kill(syscall.SIGKILL)
	s.receiver.release()
	t.Logf("killed %s (River client %s), which held %d running jobs", worker.name, riverClientID(worker.output()), holding)
	if holding == 0 {
		t.Errorf("no worker held a job while the receiver held %d calls: the scenario tested nothing", heldCalls)
	}
	s.workers[victim] = s.startWorker(t, worker.name+" (again)")
	return at
}

// restartDatabase stops PostgreSQL (fast: every session ends) while the receiver holds calls, answers those calls
// while it is down, so that their executions cannot record them, and starts it again. It returns when the
// database stopped.
func (s *faultSet) restartDatabase(t *testing.T) time.Time {
	t.Helper()
	s.receiver.hold(t, heldCalls)
	at := time.Now()
	if out, err := s.cluster.pgCtl("-w", "-t", "60", "-m", "fast", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	s.receiver.release()
	s.receiver.waitNoneHeld(t)
	if out, err := s.cluster.pgCtl("-w", "-t", "60", "-l", s.cluster.logFile(), "start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	t.Logf("PostgreSQL was down for %.1f s", time.Since(at).Seconds())
	return at
}

// runDatabaseDownScenario stops PostgreSQL under a live set and starts it again: meanwhile /readyz answers 503 and
// every webhook call 503 with Retry-After (never a 202 for an execution that was not committed, nor a 500);
// afterwards readiness and acceptance come back by themselves, and every accepted execution succeeds.
func runDatabaseDownScenario(t *testing.T, bin string, cluster *pgCluster, database string) {
	set, hook := startFaultSet(t, bin, cluster, database, 1)
	url := set.base + "/hooks/" + hook.Token
	var accepted []uuid.UUID
	call := func(n int) (int, string) {
		t.Helper()
		status, id, retryAfter := signedCall(t, url, hook.Secret, n)
		if id != uuid.Nil {
			accepted = append(accepted, id)
		}
		return status, retryAfter
	}
	if status, _ := call(0); status != http.StatusAccepted {
		t.Fatalf("before the fault: %d, want 202", status)
	}

	stoppedAt := time.Now()
	if out, err := set.cluster.pgCtl("-w", "-t", "60", "-m", "fast", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	waitReadiness(t, set.base, http.StatusServiceUnavailable)
	t.Logf("/readyz answered 503 %.1f s after the database stopped", time.Since(stoppedAt).Seconds())
	for n := 1; n <= 20; n++ {
		if status, retryAfter := call(n); status != http.StatusServiceUnavailable || retryAfter == "" {
			t.Errorf("call %d with the database down: %d, Retry-After %q; want 503 with Retry-After", n, status, retryAfter)
		}
	}

	startedAt := time.Now()
	if out, err := set.cluster.pgCtl("-w", "-t", "60", "-l", set.cluster.logFile(), "start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	waitReadiness(t, set.base, http.StatusOK)
	t.Logf("/readyz answered 200 %.1f s after the database started", time.Since(startedAt).Seconds())
	// Each pooled connection finds out on its first use that its session ended, so a call may still get a 503 for a
	// moment; it is sent again (with a body of its own: the same one signed in the same second is a replay).
	deadline := time.Now().Add(10 * time.Second)
	for n, acceptedAfter := 21, 0; acceptedAfter < 20; n++ {
		switch status, _ := call(n); {
		case status == http.StatusAccepted:
			acceptedAfter++
		case status != http.StatusServiceUnavailable || time.Now().After(deadline):
			t.Fatalf("call %d after the database came back: %d, want 202 (or 503 for a moment)", n, status)
		}
	}
	if _, ok := waitExecutionsSucceeded(t, set.pool, accepted, time.Now().Add(faultDrainBound)); !ok {
		describeUnfinished(t, set.pool, accepted)
	}
}

// signedCall sends one signed webhook call with body {"n": n} and returns its status, the execution id of a 202,
// and the Retry-After header.
func signedCall(t *testing.T, url, secret string, n int) (int, uuid.UUID, string) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"n":%d}`, n))
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpx.SignatureHeader, httpx.SignatureValue(secret, time.Now(), body))
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("webhook call %d: %v", n, err)
	}
	defer resp.Body.Close()
	var ack struct {
		ExecutionID uuid.UUID `json:"execution_id"`
	}
	if resp.StatusCode == http.StatusAccepted {
		if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
			t.Fatalf("webhook call %d: 202 with %v", n, err)
		}
	}
	return resp.StatusCode, ack.ExecutionID, resp.Header.Get("Retry-After")
}

// waitReadiness polls /readyz until it answers want.
func waitReadiness(t *testing.T, base string, want int) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status := 0
		if resp, err := client.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			status = resp.StatusCode
		}
		if status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d for 30 s, want %d", status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// riverClientID finds the River client id a worker logged.
func riverClientID(log string) string {
	_, rest, ok := strings.Cut(log, `"msg":"River client started","client_id":"`)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// faultWorkflow creates an organization with an active workflow webhook → transform → HTTP call to target, and
// returns its webhook.
func faultWorkflow(t *testing.T, pool *pgxpool.Pool, target string) store.Webhook {
	t.Helper()
	return activeWebhookWorkflow(t, pool, "Ops", `{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"shape","type":"transform.data","config":{"jq":"{n: .body.n}"}},
		{"id":"call","type":"action.http","config":{"method":"POST","url":"`+target+`",
		 "body":{"execution":"{{ execution.id }}","n":"{{ input.n }}"}}}],
		"edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"call"}]}`)
}

// activeWebhookWorkflow creates an organization called name, its owner, and an active workflow of definition, and
// returns the workflow's webhook.
func activeWebhookWorkflow(tb testing.TB, pool *pgxpool.Pool, name, definition string) store.Webhook {
	tb.Helper()
	ctx := context.Background()
	st, err := store.New(pool)
	if err != nil {
		tb.Fatal(err)
	}
	user, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: strings.ToLower(name) + "@example.com",
		Name: name, PasswordHash: "x", OrganizationName: name, Role: store.RoleOwner})
	if err != nil {
		tb.Fatal(err)
	}
	wf, err := st.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: org.ID,
		Name: strings.ToLower(name), AuthorID: &user.ID, Definition: json.RawMessage(definition)})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := st.WorkflowSetActive(ctx, store.SystemActor, org.ID, wf.ID, true, nil); err != nil {
		tb.Fatal(err)
	}
	keys, err := secrets.NewKeyring("webhook-secrets", testSecretKey, "")
	if err != nil {
		tb.Fatal(err)
	}
	hook, err := st.WebhookEnsure(ctx, store.SystemActor, keys, org.ID, wf.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return hook
}

func connectPool(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// loadResult is what a load run sent and what was accepted.
type loadResult struct {
	sent     int
	accepted []uuid.UUID
	// refused counts the other outcomes: a status code, or "error" for a call that got no answer.
	refused map[string]int
}

// sendSignedLoad sends signed webhook calls at faultLoadRate for faultLoadDuration, each with its own body, and
// collects the execution ids of the accepted ones.
func sendSignedLoad(url, secret string) loadResult {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	res := loadResult{refused: map[string]int{}}
	var mu sync.Mutex
	var calls sync.WaitGroup
	total := int(faultLoadRate * faultLoadDuration / time.Second)
	tick := time.NewTicker(time.Second / faultLoadRate)
	defer tick.Stop()
	for i := range total {
		<-tick.C
		calls.Add(1)
		go func() {
			defer calls.Done()
			body := []byte(fmt.Sprintf(`{"n":%d}`, i))
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(httpx.SignatureHeader, httpx.SignatureValue(secret, time.Now(), body))
			outcome, id := "error", uuid.Nil
			if resp, err := client.Do(req); err == nil {
				var ack struct {
					ExecutionID uuid.UUID `json:"execution_id"`
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				outcome = fmt.Sprint(resp.StatusCode)
				if resp.StatusCode == http.StatusAccepted && json.Unmarshal(b, &ack) == nil {
					id = ack.ExecutionID
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if id != uuid.Nil {
				res.accepted = append(res.accepted, id)
			} else {
				res.refused[outcome]++
			}
		}()
	}
	res.sent = total
	calls.Wait()
	return res
}

// waitExecutionsSucceeded polls until every execution in ids has succeeded, or deadline passes; it reports when.
// Other statuses than succeeded fail the test at once: nothing in the scenario makes an execution fail.
func waitExecutionsSucceeded(t *testing.T, pool *pgxpool.Pool, ids []uuid.UUID, deadline time.Time) (time.Time, bool) {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var succeeded, failed int
		err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'succeeded'),
			count(*) FILTER (WHERE status IN ('failed', 'canceled'))
			FROM workflow_executions WHERE id = ANY($1)`, ids).Scan(&succeeded, &failed)
		cancel()
		if err == nil && failed > 0 {
			t.Errorf("%d executions failed or were canceled", failed)
			return time.Time{}, false
		}
		if err == nil && succeeded == len(ids) {
			return time.Now(), true
		}
		if time.Now().After(deadline) {
			t.Errorf("%d of %d accepted executions had succeeded %s after the load ended (last error: %v)",
				succeeded, len(ids), faultDrainBound, err)
			return time.Time{}, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// describeUnfinished logs what the unfinished executions and their River jobs look like, to tell why.
func describeUnfinished(t *testing.T, pool *pgxpool.Pool, ids []uuid.UUID) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT e.status, j.state, j.attempt,
		coalesce(j.attempted_by[array_upper(j.attempted_by, 1)], ''), coalesce(j.errors::text, ''), count(*)
		FROM workflow_executions e
		LEFT JOIN river_job j ON (j.args->>'execution_id')::uuid = e.id
		WHERE e.id = ANY($1) AND e.status <> 'succeeded'
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 6 DESC LIMIT 20`, ids)
	if err != nil {
		t.Logf("describe unfinished: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var status, state, by, errs string
		var attempt, n int
		if err := rows.Scan(&status, &state, &attempt, &by, &errs, &n); err != nil {
			t.Logf("describe unfinished: %v", err)
			return
		}
		t.Logf("unfinished: %d × execution %s, job %s attempt %d by %q, errors %.300s", n, status, state, attempt, by, errs)
	}
}

// checkRecordedOnce checks that each execution has its three node runs, each recorded once and succeeded.
func checkRecordedOnce(t *testing.T, pool *pgxpool.Pool, ids []uuid.UUID) {
	t.Helper()
	var wrong int
	var sample string
	err := pool.QueryRow(context.Background(), `SELECT count(*), coalesce(min(summary), '') FROM (
		SELECT e.id, string_agg(n.node_id || ':' || n.status, ',' ORDER BY n.node_id) AS summary
		FROM workflow_executions e LEFT JOIN node_executions n ON n.execution_id = e.id
		WHERE e.id = ANY($1) GROUP BY e.id) runs
		WHERE summary IS DISTINCT FROM 'call:succeeded,hook:succeeded,shape:succeeded'`, ids).Scan(&wrong, &sample)
	if err != nil {
		t.Fatal(err)
	}
	if wrong > 0 {
		t.Errorf("%d executions do not have each node recorded once, succeeded (e.g. %q)", wrong, sample)
	}
}

// idempotencyReceiver is the HTTP API the workflow calls: it records each call's Idempotency-Key per execution,
// as a receiver that deduplicates on the key would.
type idempotencyReceiver struct {
	*httptest.Server
	mu sync.Mutex
	// keys holds, per execution, the keys its calls carried and how many calls carried each.
	keys     map[uuid.UUID]map[string]int
	calls    int
	keyless  int
	badBody  int
	firstBad string
	// gate, when set, holds calls unanswered until it is closed; held counts them.
	gate chan struct{}
	held int
}

func newIdempotencyReceiver(t *testing.T) *idempotencyReceiver {
	r := &idempotencyReceiver{keys: map[uuid.UUID]map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Execution uuid.UUID `json:"execution"`
		}
		b, _ := io.ReadAll(req.Body)
		key := req.Header.Get("Idempotency-Key")
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		switch {
		case json.Unmarshal(b, &body) != nil || body.Execution == uuid.Nil:
			r.badBody++
			r.firstBad = string(b)
		case key == "":
			r.keyless++
			fallthrough
		default:
			if r.keys[body.Execution] == nil {
				r.keys[body.Execution] = map[string]int{}
			}
			r.keys[body.Execution][key]++
		}
		if gate := r.gate; gate != nil {
			r.held++
			r.mu.Unlock()
			select {
			case <-gate:
			case <-req.Context().Done(): // its worker was killed
			}
			r.mu.Lock()
			r.held--
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

// hold makes the receiver hold the calls that arrive from now on, and returns once it holds n of them.
func (r *idempotencyReceiver) hold(t *testing.T, n int) {
	t.Helper()
	r.mu.Lock()
	r.gate = make(chan struct{})
	r.mu.Unlock()
	r.waitHeld(t, func(held int) bool { return held >= n }, fmt.Sprintf("hold %d calls", n))
}

// release answers the held calls, and the next ones at once.
func (r *idempotencyReceiver) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gate != nil {
		close(r.gate)
		r.gate = nil
	}
}

// waitNoneHeld returns once every held call has been answered.
func (r *idempotencyReceiver) waitNoneHeld(t *testing.T) {
	t.Helper()
	r.waitHeld(t, func(held int) bool { return held == 0 }, "answer every held call")
}

func (r *idempotencyReceiver) waitHeld(t *testing.T, done func(held int) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		held := r.held
		r.mu.Unlock()
		if done(held) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver did not %s within 20 s (it holds %d)", what, held)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkEachOnce checks that every call carried a key, that the calls of one execution all carried the same one,
// and that deduplicating on it leaves exactly one call per accepted execution.
func (r *idempotencyReceiver) checkEachOnce(t *testing.T, accepted []uuid.UUID) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.badBody > 0 {
		t.Errorf("%d calls had no execution id in their body (e.g. %q)", r.badBody, r.firstBad)
	}
	if r.keyless > 0 {
		t.Errorf("%d of %d calls carried no Idempotency-Key", r.keyless, r.calls)
	}
	var missing, several, repeated []string
	for _, id := range accepted {
		keys := r.keys[id]
		switch {
		case len(keys) == 0:
			missing = append(missing, id.String())
		case len(keys) > 1:
			several = append(several, id.String())
		}
		for _, n := range keys {
			if n > 1 {
				repeated = append(repeated, id.String())
			}
		}
	}
	if len(missing) > 0 || len(several) > 0 {
		t.Errorf("after deduplicating on Idempotency-Key: %d executions' calls never arrived (e.g. %v), %d arrived "+
			"under several keys (e.g. %v)", len(missing), head(missing), len(several), head(several))
	}
	t.Logf("receiver: %d calls for %d executions; %d executions' call arrived again with its key (deduplicated)",
		r.calls, len(accepted), len(repeated))
}

func head(s []string) []string {
	sort.Strings(s)
	return s[:min(len(s), 3)]
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
