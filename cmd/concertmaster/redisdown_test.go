package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// TestServeSurvivesRedisDown runs the real binary's serve with REDIS_URL on a redis-server of the test's own, which
// the test stops (SHUTDOWN NOSAVE) and starts again. Before, during and after the outage: signing in works and the
// session is honoured, the API's rate limit still refuses the call over it (counted in process while Redis is down,
// never failing a request), webhooks start executions that succeed, and /readyz stays 200. Sessions begun during
// the outage keep working after it; once Redis is back it is used again (new sessions and counts land in it); the
// log says each switch once.
func TestServeSurvivesRedisDown(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t)
	bin := buildBinary(t)
	dbURL := migratedDatabase(t)
	const apiLimit = 5
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	env := map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:" + port, "BASE_URL": base,
		"SECRET_KEY": testSecretKey, "REDIS_URL": rs.url(), "API_RATE_LIMIT": fmt.Sprint(apiLimit)}
	for _, phase := range []string{"hooks", "before", "during", "after"} {
		createUser(t, env, phase+"@example.com")
	}
	serve := startProcess(t, "serve", bin, env, `"msg":"serving"`, "serve")
	waitHealthy(t, base)
	hookAPI := signInAPI(t, base, "hooks@example.com")
	hook := hookAPI.activeWorkflow(t, "hook", `{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{"auth":"none"}},
		{"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total}"}}],
		"edges":[{"from":"hook","to":"shape"}]}`)
	hookURL := base + hookPath(t, hookAPI, hook)
	pool := connectPool(t, dbURL)
	rdb := rs.client(t)

	// check runs every check of one phase and returns the session cookie it signed in with.
	check := func(t *testing.T, phase string) string {
		t.Helper()
		cookie := signInBrowser(t, base, phase+"@example.com")
		if status := getWithSession(t, base+"/", cookie); status != http.StatusOK {
			t.Errorf("%s: the dashboard with the new session = %d", phase, status)
		}
		api := signInAPI(t, base, phase+"@example.com")
		for i := 1; i <= apiLimit+1; i++ {
			want := http.StatusOK
			if i > apiLimit {
				want = http.StatusTooManyRequests
			}
			api.call(t, "GET", "/api/v1/workflows", nil, want)
		}
		id := callHook(t, hookURL)
		if _, ok := waitExecutionsSucceeded(t, pool, []uuid.UUID{id}, time.Now().Add(30*time.Second)); !ok {
			t.Errorf("%s: the webhook's execution did not succeed", phase)
		}
		wantRedis := map[bool]string{true: "redis: up", false: "redis: down since"}[phase != "during"]
		if status, body, _ := get(t, base+"/readyz"); status != http.StatusOK || !strings.Contains(body, wantRedis) {
			t.Errorf("%s: /readyz = %d %q, want 200 saying %q: Redis is optional", phase, status, body, wantRedis)
		}
		return cookie
	}

	before := check(t, "before")
	if !rs.has(t, rdb, "concertmaster:session:"+before) {
		t.Error("before the outage: the session is not in Redis")
	}

	rs.stop(t)
	during := check(t, "during")
	var inPostgres bool
	if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM sessions WHERE token = $1)`, during).Scan(&inPostgres); err != nil || !inPostgres {
		t.Errorf("during the outage: the session is not in PostgreSQL (%v)", err)
	}

	rs.start(t)
	back := time.Now()
	rdb = rs.client(t)
	// Redis is used again within a probe interval or so: a new sign-in's session lands in it.
	deadline := time.Now().Add(15 * time.Second)
	var after string
	for {
		after = signInBrowser(t, base, "after@example.com")
		if rs.has(t, rdb, "concertmaster:session:"+after) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis was not used again within 15 s of its return:\n%s", lastLines(serve.output(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("Redis used again %s after it answered", time.Since(back).Round(time.Millisecond))
	check(t, "after")
	if status := getWithSession(t, base+"/", during); status != http.StatusOK {
		t.Errorf("after the outage: the session begun during it = %d, want 200", status)
	}
	if keys, err := rdb.Keys(context.Background(), "concertmaster:ratelimit:*").Result(); err != nil || len(keys) == 0 {
		t.Errorf("after the outage: no rate-limit counts in Redis (%v)", err)
	}
	log := serve.output()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "Redis") {
			t.Log(line)
		}
	}
	for msg, want := range map[string]int{"Redis does not answer": 1, "Redis answers again": 1} {
		if n := strings.Count(log, msg); n != want {
			t.Errorf("the log says %q %d times, want %d:\n%s", msg, n, want, lastLines(log, 30))
		}
	}
	if strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("the outage logged errors:\n%s", lastLines(log, 30))
	}
}

// signInBrowser signs in through the login form and returns the session cookie.
func signInBrowser(t *testing.T, base, email string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/login", url.Values{"email": {email}, "password": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "cm_session" && resp.StatusCode == http.StatusSeeOther {
			return c.Value
		}
	}
	t.Fatalf("sign-in as %s = %d, without a session", email, resp.StatusCode)
	return ""
}

// getWithSession GETs u with the session cookie and returns the status, not following redirects (a lost session
// redirects to /login).
func getWithSession(t *testing.T, u, cookie string) int {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", u, nil)
	req.AddCookie(&http.Cookie{Name: "cm_session", Value: cookie})
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// redisServer is a redis-server the test runs, on a port of its own, keeping nothing on disk.
type redisServer struct {
	port string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedisServer starts redis-server (the flags of deploy/dev/redis.sh); it is killed when the test ends.
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("no redis-server: deploy/dev/redis.sh installs it (apt-get install -y redis-server)")
	}
	rs := &redisServer{port: freePort(t), dir: t.TempDir()}
	rs.start(t)
	t.Cleanup(func() {
		if rs.cmd != nil {
			_ = rs.cmd.Process.Kill()
			<-rs.done
		}
	})
	return rs
}

func (rs *redisServer) url() string { return "redis://127.0.0.1:" + rs.port + "/0" }

// start runs the server and waits until it answers.
func (rs *redisServer) start(t *testing.T) {
	t.Helper()
	rs.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", rs.port, "--save", "", "--appendonly", "no",
		"--dir", rs.dir)
	if err := rs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rs.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(rs.cmd, rs.done)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + rs.port, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the server down without saving and waits for its end.
func (rs *redisServer) stop(t *testing.T) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + rs.port, MaxRetries: -1})
	defer c.Close()
	_ = c.Shutdown(context.Background()).Err() // answered by the connection closing; NOSAVE is the default without --save
	select {
	case <-rs.done:
	case <-time.After(10 * time.Second):
		t.Fatal("redis-server did not stop")
	}
	rs.cmd = nil
}

// client is a client of the test's own.
func (rs *redisServer) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + rs.port})
	t.Cleanup(func() { c.Close() })
	return c
}

// has reports whether key exists.
func (rs *redisServer) has(t *testing.T, c *redis.Client, key string) bool {
	t.Helper()
	n, err := c.Exists(context.Background(), key).Result()
	return err == nil && n == 1
}
