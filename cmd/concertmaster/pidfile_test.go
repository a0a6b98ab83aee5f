package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestServePIDFile: serve --pid-file keeps the pid in the file while it runs, and shuts down gracefully when the
// file is removed or comes to name another process, removing it only in the first case (it is not its own then).
func TestServePIDFile(t *testing.T) {
	dbURL := migratedDatabase(t)
	for _, tc := range []struct {
		name     string
		change   func(path string) error
		leftover string // the file's contents once serve is done; "" when it is gone
	}{
		{name: "removed", change: os.Remove},
		{
			name:     "names another process",
			change:   func(path string) error { return os.WriteFile(path, []byte("1\n"), 0o644) },
			leftover: "1\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "serve.pid")
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel) // a serve the test gave up on
			listening := make(chan string, 1)
			done := make(chan error, 1)
			go func() {
				env := envFrom(map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0",
					"SECRET_KEY": testSecretKey, "LOG_LEVEL": "error", "DATA_DIR": t.TempDir()})
				done <- run(ctx, []string{"serve", "--pid-file", path}, env, nil,
					func(addr string) { listening <- addr })
			}()
			select {
			case <-listening:
			case err := <-done:
				t.Fatalf("serve stopped early: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not start listening")
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
				t.Fatalf("pid file = %q, %v; want this process's pid", b, err)
			}

			if err := tc.change(path); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop")
			}
			b, err := os.ReadFile(path)
			if tc.leftover == "" && !errors.Is(err, os.ErrNotExist) || tc.leftover != "" && string(b) != tc.leftover {
				t.Fatalf("pid file after serve = %q, %v; want %q", b, err, tc.leftover)
			}
		})
	}
}
