package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/sql/dbtest"
)

// pgCluster is a PostgreSQL cluster of a test's own (dbtest.Cluster): a test that stops or restarts its database
// cannot use the shared cluster, which every other test package is using at the same time.
type pgCluster struct {
	*dbtest.Cluster
	data string
	port string
}

// startPrivateCluster creates and starts a cluster on a free port, sized for a scaled-out set of processes; it is
// stopped when the test ends.
func startPrivateCluster(t *testing.T) *pgCluster {
	t.Helper()
	c := dbtest.NewCluster(t, "max_connections = 200", "shared_buffers = 64MB")
	return &pgCluster{Cluster: c, data: c.Dir, port: strconv.Itoa(c.Port)}
}

func (c *pgCluster) command(tool string, args ...string) *exec.Cmd { return c.Command(tool, args...) }

func (c *pgCluster) pgCtl(args ...string) ([]byte, error) { return c.PgCtl(args...) }

// url is the connection URL of a database of the cluster.
func (c *pgCluster) url(database string) string { return c.URL(database) }

// createDatabase creates a database and migrates it with the migrate command.
func (c *pgCluster) createDatabase(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	dbURL := c.url(name)
	if err := run(ctx, []string{"migrate"}, envFrom(map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "error"}), io.Discard, nil); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return dbURL
}

// logFile is where the server logs.
func (c *pgCluster) logFile() string { return c.LogFile() }

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// buildBinary builds the command into a temporary folder, once per test.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "concertmaster")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a concertmaster process a test started; its log is kept for the test's failure messages.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	// ready is closed when the log shows the line the process was started waiting for.
	ready chan struct{}

	mu  sync.Mutex
	log bytes.Buffer
}

// startProcess runs bin with args and env (on top of a minimal environment); readyLine is a log message that says
// the process is up. It is killed when the test ends.
func startProcess(t testing.TB, name, bin string, env map[string]string, readyLine string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{}), ready: make(chan struct{})}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	out, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = p.cmd.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		var once sync.Once
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if strings.Contains(line, readyLine) {
				once.Do(func() { close(p.ready) })
			}
		}
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("%s ended before it was ready:\n%s", name, p.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s was not ready within a minute:\n%s", name, p.output())
	}
	return p
}

// kill sends sig and waits for the process to end.
func (p *process) kill(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	<-p.done
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitHealthy polls base/healthz until it answers 200.
func waitHealthy(t testing.TB, base string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/healthz did not answer 200 within 30 s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
