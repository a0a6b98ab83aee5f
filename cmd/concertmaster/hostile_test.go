package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
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

// hostileWorkflows are workflows a stranger who signed up could save, each of which took the process down,
// stalled it or filled its memory before evaluation was bounded. Each is `hook → x`; x is the node given.
var hostileWorkflows = map[string]string{
	"deep value (jq)":            `{"id":"x","type":"transform.data","config":{"jq":"reduce range(1000000) as $i (null; [.])"}}`,
	"string repeated (jq)":       `{"id":"x","type":"transform.data","config":{"jq":"(\"x\" * 1000000000) | length"}}`,
	"runaway recursion (jq)":     `{"id":"x","type":"transform.data","config":{"jq":"def f: [f]; f"}}`,
	"endless loop (jq)":          `{"id":"x","type":"transform.data","config":{"jq":"def f: f; f"}}`,
	"long array (jq)":            `{"id":"x","type":"transform.data","config":{"jq":"[range(100000000)] | length"}}`,
	"nested reduce (if)":         `{"id":"x","type":"condition.if","config":{"condition":"let r = 1..800; reduce(r, #acc + reduce(r, #acc + reduce(r, #acc+1,0),0),0) > 0"}}`,
	"string doubling (if)":       `{"id":"x","type":"condition.if","config":{"condition":"let a = trigger.body.s + trigger.body.s; let b = a+a; let c = b+b; let d = c+c; let e = d+d; let f = e+e; let g = f+f; let h = g+g; let i = h+h; let j = i+i; let k = j+j; let l = k+k; let m = l+l; let n = m+m; let o = n+n; len(o+o) > 0"}}`,
	"quadratic references":       `{"id":"x","type":"transform.data","config":{"mapping":{"v":"{{ toJSON(map(1..300000, trigger.body.s)) }}"}}}`,
	"huge CSV":                   `{"id":"x","type":"transform.format","config":{"output":"csv","items":"map(1..99000, ({a: trigger.body.s}))"}}`,
	"huge loop":                  `{"id":"x","type":"condition.loop","config":{"items":"1..200000","max_iterations":100000}}`,
	"thousand parallel branches": "",
}

// limitWords are the words every limit's message uses: time, memory, size, depth, count.
var limitWords = []string{"ran longer than", "memory", "larger than", "nested deeper than", "more than", "stack", "max_iterations"}

func hostileDefinition(name, node string) string {
	if name != "thousand parallel branches" {
		return `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},` + node + `],"edges":[{"from":"hook","to":"x"}]}`
	}
	var nodes, edges []string
	nodes = append(nodes, `{"id":"hook","type":"trigger.webhook","config":{}}`)
	for i := range 999 {
		nodes = append(nodes, fmt.Sprintf(`{"id":"x%d","type":"transform.data","config":{"jq":"def f: f; f"}}`, i))
		edges = append(edges, fmt.Sprintf(`{"from":"hook","to":"x%d"}`, i))
	}
	return `{"nodes":[` + strings.Join(nodes, ",") + `],"edges":[` + strings.Join(edges, ",") + `]}`
}

// TestHostileWorkflowsAgainstALiveServer runs every hostile workflow at once against the real serve command while
// another goroutine checks /healthz and another organization's ordinary workflow is triggered mid-attack: the
// server stays up and answering, the ordinary execution succeeds, and each hostile one fails with a message
// naming the limit it met.
func TestHostileWorkflowsAgainstALiveServer(t *testing.T) {
	if raceDetector {
		t.Skip("hostile workflows run in the pass without the race detector: its runtime makes the runners' limits unenforceable")
	}
	dbURL := migratedDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.NewKeyring("webhook-secrets", testSecretKey, "")
	if err != nil {
		t.Fatal(err)
	}
	hook := func(org store.Organization, author uuid.UUID, name, definition string) store.Webhook {
		t.Helper()
		wf, err := st.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: org.ID, Name: name,
			AuthorID: &author, Definition: json.RawMessage(definition)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := st.WorkflowSetActive(ctx, store.SystemActor, org.ID, wf.ID, true, nil); err != nil {
			t.Fatal(err)
		}
		h, err := st.WebhookEnsure(ctx, store.SystemActor, keys, org.ID, wf.ID)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	stranger, strangers, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "stranger@example.com",
		Name: "Stranger", PasswordHash: "x", OrganizationName: "Strangers", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	tenant, tenants, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "tenant@example.com",
		Name: "Tenant", PasswordHash: "x", OrganizationName: "Tenants", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	hostile := map[string]store.Webhook{}
	for name, node := range hostileWorkflows {
		hostile[name] = hook(strangers, stranger.ID, name, hostileDefinition(name, node))
	}
	benign := hook(tenants, tenant.ID, "orders", `{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total}"}},
		{"id":"big","type":"condition.if","config":{"condition":"input.total > 100"}}],
		"edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`)

	base := startServe(t, map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0",
		"SECRET_KEY": testSecretKey, "LOG_LEVEL": "error"})
	trigger := func(h store.Webhook, body string) (uuid.UUID, error) {
		req, _ := http.NewRequest("POST", base+"/hooks/"+h.Token, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(httpx.SignatureHeader, httpx.SignatureValue(h.Secret, time.Now(), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return uuid.Nil, err
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		var accepted struct {
			ExecutionID uuid.UUID `json:"execution_id"`
		}
		if err := json.Unmarshal(answer, &accepted); err != nil || resp.StatusCode != http.StatusAccepted {
			return uuid.Nil, fmt.Errorf("webhook answered %d: %s", resp.StatusCode, answer)
		}
		return accepted.ExecutionID, nil
	}
	call := func(h store.Webhook, body string) uuid.UUID {
		t.Helper()
		id, err := trigger(h, body)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	// The health check: /healthz keeps answering throughout. The bound is what tells a process that stopped
	// answering (its event loop held by a hostile workflow) from one that is slow: on a busy 2-core machine any
	// request can take a second, so it is generous, and the slowest answer is logged.
	const healthBound = 10 * time.Second
	stopHealth := make(chan struct{})
	var healthWG sync.WaitGroup
	var slowest time.Duration
	var healthErr error
	healthWG.Go(func() {
		client := &http.Client{Timeout: healthBound}
		for {
			select {
			case <-stopHealth:
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			resp, err := client.Get(base + "/healthz")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("healthz answered %d", resp.StatusCode)
				}
			}
			if err != nil && healthErr == nil {
				healthErr = err
			}
			slowest = max(slowest, time.Since(start))
		}
	})

	// Every trigger is offered to the express path first (engine.execution_path defaults to express), which runs a
	// pure workflow inside the accepting request: its budget must give each hostile one back to the queue, so that
	// none holds its caller for its own limits (seconds) and none is written finished. The slowest acknowledgement
	// is logged rather than bounded: on a loaded machine any request can take a second.
	payload := `{"s":"` + strings.Repeat("y", 1000) + `","total":250}`
	ids := map[string]uuid.UUID{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var slowestAck time.Duration
	for name, h := range hostile {
		wg.Go(func() {
			start := time.Now()
			id, err := trigger(h, payload)
			mu.Lock()
			defer mu.Unlock()
			slowestAck = max(slowestAck, time.Since(start))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			ids[name] = id
		})
	}
	wg.Wait()
	// Each came back: unfinished (over budget or failed), impure (the loop), or every slot busy.
	if got := expressOutcomes(t, base); got["ran"] != 0 || got["queued_unfinished"]+got["queued_impure"]+got["queued_busy"] != float64(len(hostile)) {
		t.Errorf("express path outcomes %v, want the %d hostile executions all given back to the queue", got, len(hostile))
	}
	benignStarted := time.Now()
	benignID := call(benign, `{"total":250}`)

	status := func(id uuid.UUID) (string, string) {
		var s string
		var e *string
		if err := pool.QueryRow(ctx, `SELECT status, error FROM workflow_executions WHERE id = $1`, id).Scan(&s, &e); err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return s, ""
		}
		return s, *e
	}
	// One deadline for every wait: each hostile execution stops at its first limit, within seconds.
	deadline := time.Now().Add(3 * time.Minute)
	waitFinished := func(id uuid.UUID) (string, string) {
		for {
			s, e := status(id)
			if s == store.StatusSucceeded || s == store.StatusFailed || s == store.StatusCanceled {
				return s, e
			}
			if time.Now().After(deadline) {
				return s, "still " + s + " at the deadline"
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if s, e := waitFinished(benignID); s != store.StatusSucceeded {
		t.Errorf("the other organization's execution ended %s: %s", s, e)
	}
	// Within seconds: it waits for at most one turn of the jq runners, which the two organizations take in turn.
	benignTook := time.Since(benignStarted)
	if benignTook > 30*time.Second {
		t.Errorf("the other organization's execution took %s during the attack", benignTook)
	}
	for name, id := range ids {
		s, e := waitFinished(id)
		named := false
		for _, w := range limitWords {
			named = named || strings.Contains(e, w)
		}
		if s != store.StatusFailed || !named {
			t.Errorf("%s: ended %s with %q, want failed with a message naming a limit", name, s, e)
		} else {
			t.Logf("%s: %s", name, e)
		}
	}
	// Every runner and every ordinary path still works after the attack.
	if s, e := waitFinished(call(benign, `{"total":5}`)); s != store.StatusSucceeded {
		t.Errorf("after the attack, an ordinary execution ended %s: %s", s, e)
	}
	close(stopHealth)
	healthWG.Wait()
	if healthErr != nil {
		t.Errorf("health check failed during the attack: %v", healthErr)
	}
	var children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	t.Logf("slowest /healthz during the attack: %s; slowest hostile acknowledgement: %s; the other organization's execution "+
		"took %s; peak resident memory: this process (web, workers) %d MiB, the largest jq runner %d MiB", slowest,
		slowestAck, benignTook, peakRSS("self")>>20, children.Maxrss>>10)
	if rss := peakRSS("self"); rss > 1<<30 {
		t.Errorf("peak resident memory %d MiB, over 1 GiB", rss>>20)
	}
}

// expressOutcomes reads, from the server's metrics, what became of the executions offered to the express path,
// by outcome (ran, queued_busy, queued_unfinished, …).
func expressOutcomes(t *testing.T, base string) map[string]float64 {
	t.Helper()
	_, metrics, _ := get(t, base+"/metrics")
	outcomes := map[string]float64{}
	for line := range strings.SplitSeq(metrics, "\n") {
		rest, ok := strings.CutPrefix(line, `concertmaster_express_executions_total{outcome="`)
		if !ok {
			continue
		}
		outcome, value, ok := strings.Cut(rest, `"} `)
		n, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		outcomes[outcome] = n
	}
	return outcomes
}

// peakRSS reads the peak resident memory (VmHWM) of a process, "self" or a pid, or 0 where /proc has none.
func peakRSS(proc string) int64 {
	b, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
