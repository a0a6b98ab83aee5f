package actions_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
)

// recorder is an httptest server that answers from a script and keeps every request it saw.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	answer   func(n int, w http.ResponseWriter, r *http.Request)
}

type recorded struct {
	method, path, query string
	header              http.Header
	body                string
}

func newRecorder(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{answer: answer}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, recorded{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
			header: r.Header.Clone(), body: string(body)})
		n := len(rec.requests)
		rec.mu.Unlock()
		rec.answer(n, w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) seen() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

func TestHTTPRetriesHonourRetryAfterAndSignsTheBody(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	srv := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true,"id":42}`)
		}
	})
	hmacID := env.integration(t, actions.KindHTTP, fmt.Sprintf(`{"auth":"hmac","hmac_secret":"shh",
		"hmac_header":"X-Hub-Signature-256","hmac_timestamp_header":"X-Timestamp","base_url":%q}`, srv.URL), 0, 0)
	svc := env.services(env.factory(t, nil))

	_, runs, sleeps := runChain(t, svc, `{"body":{"id":7,"note":"rush"}}`, node{id: "call", typ: "action.http",
		retry: &engine.RetryPolicy{MaxAttempts: 4, InitialInterval: engine.Duration(time.Second)},
		cfg: fmt.Sprintf(`{"method":"POST","url":"/orders/{{ trigger.body.id }}","integration_id":%q,
			"headers":{"X-Trace":"t-{{ trigger.body.id }}"},"query":{"src":"cm"},
			"body":{"note":"{{ trigger.body.note }}","id":"{{ trigger.body.id }}"}}`, hmacID)})
	out := output(t, runs["call"])
	if runs["call"].Attempt != 3 || out["status"] != float64(200) {
		t.Fatalf("attempts %d, output %v", runs["call"].Attempt, out)
	}
	if body, _ := out["body"].(map[string]any); body["id"] != float64(42) {
		t.Errorf("body %v", out["body"])
	}
	// The 429's Retry-After replaced the backoff; the 502 got the policy's backoff.
	if len(*sleeps) != 2 || (*sleeps)[0] != 7*time.Second || (*sleeps)[1] != 2*time.Second {
		t.Errorf("waits between attempts %v, want [7s 2s]", *sleeps)
	}

	seen := srv.seen()
	if len(seen) != 3 {
		t.Fatalf("server saw %d requests", len(seen))
	}
	last := seen[2]
	if last.method != "POST" || last.path != "/orders/7" || last.query != "src=cm" || last.header.Get("X-Trace") != "t-7" ||
		last.body != `{"id":7,"note":"rush"}` || last.header.Get("Content-Type") != "application/json" {
		t.Errorf("request %+v", last)
	}
	ts := last.header.Get("X-Timestamp")
	mac := hmac.New(sha256.New, []byte("shh"))
	mac.Write([]byte(ts + "." + last.body))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); last.header.Get("X-Hub-Signature-256") != want {
		t.Errorf("signature %q, want %q", last.header.Get("X-Hub-Signature-256"), want)
	}
	if unix, _ := strconv.ParseInt(ts, 10, 64); time.Since(time.Unix(unix, 0)) > time.Minute {
		t.Errorf("timestamp %q", ts)
	}
}

// TestHTTPIdempotencyKeyIsOneRunsOwn: a POST carries an Idempotency-Key that is the same for every attempt of the
// node run and for the run again after a resume (the execution run again with the same id), differs between nodes
// and executions, gives way to an author's own header, and is not sent with a GET.
func TestHTTPIdempotencyKeyIsOneRunsOwn(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	srv := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flaky" && n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
	svc := env.services(env.factory(t, nil))
	chain := []node{
		{id: "charge", typ: "action.http", retry: &engine.RetryPolicy{MaxAttempts: 2},
			cfg: fmt.Sprintf(`{"method":"POST","url":"%s/flaky","body":{"amount":10}}`, srv.URL)},
		{id: "notify", typ: "action.http", cfg: fmt.Sprintf(`{"method":"PUT","url":"%s/notify"}`, srv.URL)},
		{id: "own", typ: "action.http", cfg: fmt.Sprintf(`{"method":"POST","url":"%s/own",
			"headers":{"idempotency-key":"order-{{ trigger.body.id }}"}}`, srv.URL)},
		{id: "read", typ: "action.http", cfg: fmt.Sprintf(`{"url":"%s/read"}`, srv.URL)},
	}
	execution := uuid.NewString()
	runChainAs(t, svc, execution, `{"body":{"id":7}}`, chain...)
	runChainAs(t, svc, execution, `{"body":{"id":7}}`, chain...) // a resume: same execution, same runs
	runChain(t, svc, `{"body":{"id":7}}`, chain[:1]...)          // another execution

	keyOf := func(node, executionID string) string {
		return engine.Input{NodeID: node, Env: &engine.Env{Execution: engine.ExecutionInfo{ID: executionID}}}.IdempotencyKey()
	}
	var keys []string
	for _, r := range srv.seen() {
		keys = append(keys, r.path+"="+r.header.Get(actions.IdempotencyKeyHeader))
	}
	charge, notify := keyOf("charge", execution), keyOf("notify", execution)
	want := []string{
		"/flaky=" + charge, "/flaky=" + charge, "/notify=" + notify, "/own=order-7", "/read=", // the first run, 2 attempts
		"/flaky=" + charge, "/notify=" + notify, "/own=order-7", "/read=", // the resume
	}
	if got := strings.Join(keys[:len(want)], " "); got != strings.Join(want, " ") {
		t.Errorf("requests and their keys:\n got %s\nwant %s", got, strings.Join(want, " "))
	}
	if other := keys[len(keys)-1]; other == "/flaky="+charge || other == "/flaky=" {
		t.Errorf("another execution's request carries %q", other)
	}
	if _, err := uuid.Parse(charge); err != nil || charge == notify {
		t.Errorf("keys %q and %q: want two different UUIDs", charge, notify)
	}
}

func TestHTTPAuthSchemesAndBodies(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	srv := newRecorder(t, func(_ int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "plain text") })
	svc := env.services(env.factory(t, nil))
	for name, tc := range map[string]struct {
		settings, cfg string
		check         func(r recorded) bool
	}{
		"basic": {settings: `{"auth":"basic","username":"ada","password":"pw"}`, cfg: `"method":"GET"`,
			check: func(r recorded) bool { return r.header.Get("Authorization") == "Basic YWRhOnB3" }},
		"bearer": {settings: `{"auth":"bearer","token":"tok"}`, cfg: `"method":"DELETE"`,
			check: func(r recorded) bool { return r.header.Get("Authorization") == "Bearer tok" && r.method == "DELETE" }},
		"api key in a header": {settings: `{"auth":"api_key","api_key":"k1","api_key_name":"X-Key"}`, cfg: `"method":"GET"`,
			check: func(r recorded) bool { return r.header.Get("X-Key") == "k1" }},
		"api key in the query, form body": {settings: `{"auth":"api_key","api_key":"k2","api_key_in":"query"}`,
			cfg: `"method":"POST","body_type":"form","body":{"a":"{{ 1 + 1 }}","b":["x","y"]}`,
			check: func(r recorded) bool {
				return r.query == "api_key=k2" && r.body == "a=2&b=x&b=y" &&
					r.header.Get("Content-Type") == "application/x-www-form-urlencoded"
			}},
		"raw body": {settings: `{"auth":"none"}`, cfg: `"method":"PUT","body_type":"raw","content_type":"text/xml","body":"<a>{{ 3 }}</a>"`,
			check: func(r recorded) bool { return r.body == "<a>3</a>" && r.header.Get("Content-Type") == "text/xml" }},
	} {
		t.Run(name, func(t *testing.T) {
			settings := strings.TrimSuffix(tc.settings, "}") + fmt.Sprintf(`,"allowed_hosts":[%q]}`, srv.URL)
			id := env.integration(t, actions.KindHTTP, settings, 0, 0)
			path := "/" + strings.ReplaceAll(name, " ", "-")
			_, runs, _ := runChain(t, svc, `{}`, node{id: "call", typ: "action.http",
				cfg: fmt.Sprintf(`{"url":"%s%s","integration_id":%q,%s}`, srv.URL, path, id, tc.cfg)})
			out := output(t, runs["call"])
			if out["body"] != "plain text" {
				t.Errorf("output %v", out)
			}
			for _, r := range srv.seen() {
				if r.path == path {
					if !tc.check(r) {
						t.Errorf("request %+v", r)
					}
					return
				}
			}
			t.Error("the server saw no request")
		})
	}
}

func TestHTTPFailuresSizeLimitAndCredentialScope(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	big := strings.Repeat("x", 4000)
	srv := newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.Error(w, "no such order", http.StatusNotFound)
		case "/down":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			fmt.Fprint(w, big)
		}
	})
	svc := env.services(env.factory(t, nil))
	bearer := env.integration(t, actions.KindHTTP, fmt.Sprintf(`{"auth":"bearer","token":"t","base_url":%q}`, srv.URL+"/api"), 0, 0)
	retry := &engine.RetryPolicy{MaxAttempts: 3}

	cases := []struct {
		name, cfg, wantErr string
		attempts           int
	}{
		{"4xx is permanent", `{"url":"` + srv.URL + `/missing"}`, "404 Not Found: no such order", 1},
		{"5xx not in retry_on is permanent", `{"url":"` + srv.URL + `/down","retry_on":["network"]}`, "503", 1},
		{"5xx retried until attempts run out", `{"url":"` + srv.URL + `/down"}`, "503", 3},
		{"too large refused", `{"url":"` + srv.URL + `/big","response":{"max_bytes":1000}}`, "larger than 1000 bytes", 1},
		{"credentials only for their base URL", fmt.Sprintf(`{"url":"http://example.com/x","integration_id":%q}`, bearer), "is not among the hosts of integration", 1},
		{"not http", `{"url":"file:///etc/passwd"}`, "only http and https", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, runs, _ := runChain(t, svc, `{}`, node{id: "call", typ: "action.http", cfg: tc.cfg, retry: retry})
			if r := runs["call"]; r.Status != engine.NodeFailed || r.Attempt != tc.attempts || !strings.Contains(r.Error, tc.wantErr) {
				t.Errorf("run %s after %d attempts: %s; want %d attempts and %q", r.Status, r.Attempt, r.Error, tc.attempts, tc.wantErr)
			}
		})
	}

	_, runs, _ := runChain(t, svc, `{}`, node{id: "call", typ: "action.http",
		cfg: `{"url":"` + srv.URL + `/big","response":{"max_bytes":1000,"truncate":true},"ignore_status":true}`})
	out := output(t, runs["call"])
	if out["truncated"] != true || len(out["body"].(string)) != 1000 {
		t.Errorf("truncated output: %v", out["truncated"])
	}
	_, runs, _ = runChain(t, svc, `{}`, node{id: "call", typ: "action.http", cfg: `{"url":"` + srv.URL + `/missing","ignore_status":true}`})
	if out := output(t, runs["call"]); out["status"] != float64(404) {
		t.Errorf("ignored status: %v", out)
	}
}

func TestHTTPResponseCache(t *testing.T) {
	t.Parallel()
	for name, withRedis := range map[string]bool{"memory": false, "redis": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			var hits atomic.Int32
			srv := newRecorder(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"n":%d}`, hits.Add(1))
			})
			f := env.factory(t, func(c *actions.ServicesConfig) {
				if withRedis {
					c.Redis = redisClient(t)
				}
			})
			// A URL unique to this run: Redis outlives the test.
			cfg := fmt.Sprintf(`{"url":"%s/rates?run=%d","response":{"cache_ttl":"1m"}}`, srv.URL, time.Now().UnixNano())
			first := output(t, mustRun(t, env.services(f), cfg))
			second := output(t, mustRun(t, env.services(f), cfg))
			if hits.Load() != 1 || second["cached"] != true || second["body"].(map[string]any)["n"] != first["body"].(map[string]any)["n"] {
				t.Errorf("server hit %d times; first %v second %v", hits.Load(), first, second)
			}
			// Another organization does not see the entry.
			output(t, mustRun(t, f.Services(env.other.ID, env.workflowID, env.executionID), cfg))
			if hits.Load() != 2 {
				t.Errorf("another organization was served from the cache (%d hits)", hits.Load())
			}
		})
	}
}

func mustRun(t *testing.T, svc *engine.Services, cfg string) engine.NodeRun {
	t.Helper()
	_, runs, _ := runChain(t, svc, `{}`, node{id: "call", typ: "action.http", cfg: cfg})
	return runs["call"]
}

func TestHTTPRateLimitPerIntegration(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	svc := env.services(env.factory(t, nil))
	// Windows are aligned to the clock, so a run that meets the top of an hour sees a fresh window; then the test
	// runs again with a new integration, which cannot meet the next top of an hour seconds later.
	for attempt := 1; ; attempt++ {
		started := time.Now()
		srv := newRecorder(t, func(_ int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
		id := env.integration(t, actions.KindHTTP, `{"auth":"none"}`, 2, time.Hour)
		cfg := fmt.Sprintf(`{"url":"%s/limited","integration_id":%q}`, srv.URL, id)
		for i := 0; i < 2; i++ {
			output(t, mustRun(t, svc, cfg))
		}
		// The third request of the hour is not sent: the wait is too long to hold the worker, so it is left to a
		// retry.
		r := mustRun(t, svc, cfg)
		if !started.Truncate(time.Hour).Equal(time.Now().Truncate(time.Hour)) && attempt == 1 {
			continue
		}
		if r.Status != engine.NodeFailed || !strings.Contains(r.Error, "rate limit of 2 requests per 1h0m0s reached") {
			t.Errorf("third run: %+v", r)
		}
		if n := len(srv.seen()); n != 2 {
			t.Errorf("server saw %d requests", n)
		}
		return
	}
}

func TestHTTPRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	srv := newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
			return
		}
		fmt.Fprint(w, "internal secret")
	})
	_, port := hostPort(t, srv.URL)
	guarded := env.services(env.factory(t, func(c *actions.ServicesConfig) { c.OutboundAllowedHosts = nil }))
	allowed := env.services(env.factory(t, nil)) // 127.0.0.1 only
	retry := &engine.RetryPolicy{MaxAttempts: 3}
	for _, tc := range []struct {
		name string
		svc  *engine.Services
		url  string
	}{
		{"loopback", guarded, fmt.Sprintf("http://127.0.0.1:%d/", port)},
		{"IPv6 loopback", guarded, fmt.Sprintf("http://[::1]:%d/", port)},
		{"cloud metadata", guarded, "http://169.254.169.254/latest/meta-data/"},
		{"a name resolving to loopback", guarded, fmt.Sprintf("http://localhost:%d/", port)},
		{"private network", guarded, "http://10.0.0.1/"},
		{"IPv4-mapped IPv6 loopback", guarded, fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port)},
		{"redirect to a host not allowed", allowed, fmt.Sprintf("http://127.0.0.1:%d/redirect?to=http://[::1]:%d/", port, port)},
		{"redirect to metadata", allowed, fmt.Sprintf("http://127.0.0.1:%d/redirect?to=http://169.254.169.254/", port)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, runs, _ := runChain(t, tc.svc, `{}`, node{id: "call", typ: "action.http", retry: retry,
				cfg: fmt.Sprintf(`{"url":%q,"timeout":"5s"}`, tc.url)})
			r := runs["call"]
			if r.Status != engine.NodeFailed || r.Attempt != 1 || !strings.Contains(r.Error, "OUTBOUND_ALLOWED_HOSTS") {
				t.Errorf("run %s after %d attempts: %s", r.Status, r.Attempt, r.Error)
			}
		})
	}
	for _, r := range srv.seen() {
		if r.path != "/redirect" {
			t.Errorf("the internal server was reached: %+v", r)
		}
	}
	// The same server is reachable once an admin allows it.
	if out := output(t, mustRun(t, allowed, fmt.Sprintf(`{"url":"http://127.0.0.1:%d/"}`, port))); out["body"] != "internal secret" {
		t.Errorf("allowed host: %v", out)
	}
}
