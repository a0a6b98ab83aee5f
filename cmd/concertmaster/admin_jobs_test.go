package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestServeNoWorkersServesTheJobMonitor runs the real `serve --no-workers`: a web-only process still serves River's
// UI to an instance administrator, and stops cleanly with it mounted.
func TestServeNoWorkersServesTheJobMonitor(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": migratedDatabase(t), "LISTEN_ADDR": "127.0.0.1:0", "SECRET_KEY": testSecretKey}
	if err := run(context.Background(), []string{"user", "create", "--email", "ops@example.com", "--password", "correct horse",
		"--name", "Ops", "--org", "Ops", "--instance-admin"}, envFrom(env), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrCh, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--no-workers"}, envFrom(env), io.Discard, func(addr string) { addrCh <- addr })
	}()
	var base string
	select {
	case addr := <-addrCh:
		base = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve stopped early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start listening")
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", base+"/admin/jobs/api/jobs?state=available", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	page, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), `"data"`) {
		t.Errorf("the job monitor's job list in a web-only process = %d %.200s", page.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
