package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadmeQuickStartByAPI runs the README's quick-start API block word for word, as a newcomer would paste it,
// against a live server: only the address differs (the block reads BASE), and DATABASE_URL and SECRET_KEY are
// the test's, which the block's `eval "$(deploy/dev/env.sh)"` keeps since they are set.
func TestReadmeQuickStartByAPI(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "openssl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the quick start needs %s (make test installs it; else apt-get install -y curl openssl jq)", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- quickstart:api -->\n```sh\n")
	if block, _, ok = strings.Cut(block, "```"); !ok {
		t.Fatal("README.md has no quick-start API block")
	}

	// The block runs from a repository root: bin/concertmaster built, and deploy/dev/env.sh as it is.
	root := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(root, "bin", "concertmaster"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env, err := os.ReadFile("../../deploy/dev/env.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "deploy", "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "deploy", "dev", "env.sh"), env, 0o755); err != nil {
		t.Fatal(err)
	}

	dbURL := migratedDatabase(t)
	// The webhook's URL is built from BASE_URL, so the server gets a known address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	base := startServe(t, map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": addr, "BASE_URL": "http://" + addr,
		"SECRET_KEY": testSecretKey, "LOG_LEVEL": "error"})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BASE="+base, "DATABASE_URL="+dbURL, "SECRET_KEY="+testSecretKey,
		"DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the quick start failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), " succeeded\n") || !strings.Contains(string(out), `"port": "true"`) {
		t.Fatalf("the quick start's execution did not succeed down the true branch:\n%s", out)
	}
	t.Logf("%s", out)
}
