package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/sql/dbtest"
)

const testSecretKey = "test-secret-key-with-at-least-32-characters"

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// startServe runs `concertmaster serve` in-process on a free port and returns its base URL; it stops with the test.
func startServe(t testing.TB, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, envFrom(env), io.Discard, func(addr string) { addrCh <- addr })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	select {
	case addr := <-addrCh:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("serve stopped early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start listening")
	}
	return ""
}

func get(t *testing.T, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func migratedDatabase(t testing.TB) string {
	t.Helper()
	_, dbURL := dbtest.NewDatabase(t)
	if err := run(context.Background(), []string{"migrate"}, envFrom(map[string]string{"DATABASE_URL": dbURL}), io.Discard, nil); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return dbURL
}

func TestServeHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	dbURL := migratedDatabase(t)
	base := startServe(t, map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0", "SECRET_KEY": testSecretKey})

	if code, body, _ := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Request-ID", "caller-id-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got != "caller-id-123" {
		t.Errorf("X-Request-ID echoed as %q", got)
	}

	code, metrics, hdr := get(t, base+"/metrics")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics = %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`concertmaster_http_requests_total{method="GET",route="GET /healthz",status="200"} 2`,
		`concertmaster_http_request_duration_seconds_bucket{method="GET",route="GET /readyz"`,
		"go_goroutines ",
		"concertmaster_db_pool_max_connections ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestReadinessFollowsTheDatabase cuts the connection to a real PostgreSQL (through a TCP relay the test owns) and
// restores it: /readyz turns 503 and then 200 again, without restarting the app.
func TestReadinessFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	dbURL := migratedDatabase(t)
	u, _ := url.Parse(dbURL)
	relay := newTCPRelay(t, u.Host)
	u.Host = relay.addr()
	base := startServe(t, map[string]string{"DATABASE_URL": u.String(), "LISTEN_ADDR": "127.0.0.1:0", "SECRET_KEY": testSecretKey})

	waitFor := func(want int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, _, _ := get(t, base+"/readyz")
			if code == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz stayed %d, want %d", code, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor(200)
	relay.cut()
	waitFor(503)
	relay.restore()
	waitFor(200)
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve"}, envFrom(map[string]string{
		"DATABASE_URL": "mysql://x", "LISTEN_ADDR": "nope", "SECRET_KEY": "short", "LOG_FORMAT": "xml",
		"WORKER_CONCURRENCY": "0", "SHUTDOWN_TIMEOUT": "soon", "WORKER_RESCUE_AFTER": "10ms", "NOTIFICATION_TRIGGER_MAX_BYTES": "-1",
	}), io.Discard, nil)
	if err == nil {
		t.Fatal("serve accepted a bad configuration")
	}
	for _, name := range []string{"DATABASE_URL", "LISTEN_ADDR", "SECRET_KEY", "LOG_FORMAT", "WORKER_CONCURRENCY", "SHUTDOWN_TIMEOUT", "WORKER_RESCUE_AFTER", "NOTIFICATION_TRIGGER_MAX_BYTES"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestUserCreateAndVersion(t *testing.T) {
	t.Parallel()
	dbURL := migratedDatabase(t)
	env := envFrom(map[string]string{"DATABASE_URL": dbURL})
	var out bytes.Buffer
	args := []string{"user", "create", "--email", "ada@example.com", "--password", "correct horse", "--name", "Ada", "--org", "Acme Corp"}
	if err := run(context.Background(), args, env, &out, nil); err != nil {
		t.Fatalf("user create: %v", err)
	}
	if !strings.Contains(out.String(), "as owner of Acme Corp (acme-corp)") {
		t.Errorf("output %q", out.String())
	}
	// A second user joins the now existing organization with the role asked for.
	args = []string{"user", "create", "--email", "bob@example.com", "--password", "battery staple", "--name", "Bob", "--org", "acme corp", "--role", "viewer"}
	out.Reset()
	if err := run(context.Background(), args, env, &out, nil); err != nil || !strings.Contains(out.String(), "as viewer of Acme Corp") {
		t.Fatalf("second user: %v %q", err, out.String())
	}
	// The same e-mail in another case is the same account.
	args = []string{"user", "create", "--email", "ADA@example.com", "--password", "correct horse", "--name", "Ada", "--org", "Other"}
	if err := run(context.Background(), args, env, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate e-mail: %v", err)
	}
	args = []string{"user", "create", "--email", "not-an-address", "--password", "short", "--name", "", "--org", "!!", "--role", "king"}
	err := run(context.Background(), args, env, io.Discard, nil)
	for _, flag := range []string{"--email", "--password", "--name", "--org", "--role"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("bad input error %v does not name %s", err, flag)
		}
	}

	out.Reset()
	if err := run(context.Background(), []string{"version"}, env, &out, nil); err != nil || strings.TrimSpace(out.String()) == "" {
		t.Errorf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"bogus"}, env, io.Discard, nil); err != errUsage {
		t.Errorf("unknown command: %v", err)
	}
}

// tcpRelay forwards connections to a target and can drop them all and refuse new ones, like a database going away.
type tcpRelay struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newTCPRelay(t *testing.T, target string) *tcpRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tcpRelay{t: t, ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); r.cut() })
	go r.accept()
	return r
}

func (r *tcpRelay) addr() string { return r.ln.Addr().String() }

func (r *tcpRelay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.down {
			r.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			r.mu.Unlock()
			c.Close()
			continue
		}
		r.conns = append(r.conns, c, up)
		r.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (r *tcpRelay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = true
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

func (r *tcpRelay) restore() {
	r.mu.Lock()
	r.down = false
	r.mu.Unlock()
}
