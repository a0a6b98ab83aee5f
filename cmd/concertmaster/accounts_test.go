package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestUserCreateIsAudited(t *testing.T) {
	t.Parallel()
	dbURL := migratedDatabase(t)
	args := []string{"user", "create", "--email", "root@example.com", "--password", "correct horse", "--name", "Root", "--org", "Ops"}
	if err := run(context.Background(), args, envFrom(map[string]string{"DATABASE_URL": dbURL}), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var actions []string
	rows, _ := conn.Query(context.Background(), "SELECT action || ':' || request_id FROM audit_log ORDER BY created_at, action")
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actions = append(actions, a)
	}
	if got := strings.Join(actions, ","); got != "organization.created:cli,user.created:cli" {
		t.Errorf("audit rows %q", got)
	}
}

func TestAccountConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve"}, envFrom(map[string]string{
		"DATABASE_URL": "postgres://x/y", "SECRET_KEY": testSecretKey,
		"SMTP_URL": "smtp://user:hunter2@mail.example.com?tls=none&from=a@example.com", "CORS_ALLOWED_ORIGINS": "https://ok.example, not an origin",
		"SESSION_IDLE_TIMEOUT": "48h", "SESSION_LIFETIME": "24h", "SIGNUP_ENABLED": "maybe", "TRUSTED_PROXIES": "10.0.0.0/8,bogus",
		"API_RATE_LIMIT": "0",
	}), io.Discard, nil)
	if err == nil {
		t.Fatal("a bad configuration was accepted")
	}
	for _, name := range []string{"SMTP_URL", "CORS_ALLOWED_ORIGINS", "SESSION_IDLE_TIMEOUT", "SIGNUP_ENABLED", "TRUSTED_PROXIES", "API_RATE_LIMIT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("the configuration error shows the SMTP password")
	}
}

// TestServeWithRedisSessions runs the real binary's serve with REDIS_URL: signing in puts the session in Redis.
func TestServeWithRedisSessions(t *testing.T) {
	t.Parallel()
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with `make test`, which starts a private Redis")
	}
	dbURL := migratedDatabase(t)
	env := map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0", "SECRET_KEY": testSecretKey,
		"REDIS_URL": redisURL}
	if err := run(context.Background(), []string{"user", "create", "--email", "r@example.com", "--password", "correct horse",
		"--name", "R", "--org", "Redis Org"}, envFrom(env), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	base := startServe(t, env)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/login", url.Values{"email": {"r@example.com"}, "password": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var token string
	for _, c := range resp.Cookies() {
		if c.Name == "cm_session" {
			token = c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || token == "" {
		t.Fatalf("sign-in = %d", resp.StatusCode)
	}
	opts, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if n, err := rdb.Exists(context.Background(), "concertmaster:session:"+token).Result(); err != nil || n != 1 {
		t.Fatalf("session not in Redis: %d %v", n, err)
	}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.AddCookie(&http.Cookie{Name: "cm_session", Value: token})
	page, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != 200 {
		t.Errorf("dashboard with the Redis session = %d", page.StatusCode)
	}
}
