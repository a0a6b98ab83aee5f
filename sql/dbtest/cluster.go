package dbtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a private PostgreSQL server a test starts in its own folder, for what the shared test server must not
// be changed for: a streaming replica of it, a restore into a fresh cluster, stopping it. It uses the system's
// server binaries (deploy/dev/postgres.sh installs them), runs as the postgres user when the test runs as root
// (PostgreSQL refuses root), listens on 127.0.0.1 only, and is stopped when the test ends.
type Cluster struct {
	t    testing.TB
	Dir  string
	Port int
}

// Bin is the path of a PostgreSQL server program (initdb, pg_ctl, pg_basebackup, pg_dump …) of the newest installed
// version, failing t when there is none.
func Bin(t testing.TB, name string) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
	if len(dirs) == 0 {
		t.Fatal("dbtest: no PostgreSQL server binaries under /usr/lib/postgresql: run deploy/dev/postgres.sh start")
	}
	return filepath.Join(dirs[len(dirs)-1], name)
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// RunAsOwner runs a PostgreSQL program as the postgres user when the test is root, failing t with its output.
func RunAsOwner(t testing.TB, program string, args ...string) string {
	t.Helper()
	cmd := exec.Command(program, args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", program}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dbtest: %s %s: %v\n%s", filepath.Base(program), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ownedFolder makes a folder the postgres user owns and can reach (t.TempDir is root's, mode 0700).
func ownedFolder(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cmcluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
			t.Fatalf("dbtest: chown: %v %s", err, out)
		}
	}
	return dir
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NewCluster creates and starts an empty cluster (trust authentication on 127.0.0.1, replication allowed, fsync
// off: it is thrown away); settings are postgresql.conf lines added after the defaults.
func NewCluster(t testing.TB, settings ...string) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Dir: filepath.Join(ownedFolder(t), "data"), Port: freePort(t)}
	RunAsOwner(t, Bin(t, "initdb"), "-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
	c.configure(fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
		"fsync = off\nmax_connections = 50\nwal_level = replica\nmax_wal_senders = 5\nlog_min_messages = warning\n%s\n",
		c.Port, filepath.Dir(c.Dir), strings.Join(settings, "\n")))
	c.Start()
	return c
}

// NewReplica makes a streaming replica of primary with pg_basebackup and starts it.
func NewReplica(t testing.TB, primary *Cluster) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Dir: filepath.Join(ownedFolder(t), "data"), Port: freePort(t)}
	RunAsOwner(t, Bin(t, "pg_basebackup"), "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", "postgres",
		"-D", c.Dir, "-R", "-X", "stream", "-c", "fast")
	c.configure(fmt.Sprintf("port = %d\nunix_socket_directories = '%s'\nhot_standby = on\n", c.Port, filepath.Dir(c.Dir)))
	c.Start()
	return c
}

// configure appends settings to the cluster's postgresql.conf (a later line wins).
func (c *Cluster) configure(settings string) {
	c.t.Helper()
	f, err := os.OpenFile(filepath.Join(c.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + settings); err != nil {
		c.t.Fatal(err)
	}
}

// Command is a PostgreSQL program (initdb, pg_ctl, pg_dump …) to run on the cluster, as its owner.
func (c *Cluster) Command(program string, args ...string) *exec.Cmd {
	path := Bin(c.t, program)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// PgCtl runs pg_ctl on the cluster's data directory.
func (c *Cluster) PgCtl(args ...string) ([]byte, error) {
	return c.Command("pg_ctl", append([]string{"-D", c.Dir}, args...)...).CombinedOutput()
}

// LogFile is where the server logs.
func (c *Cluster) LogFile() string { return filepath.Join(filepath.Dir(c.Dir), "server.log") }

// Start starts the cluster and waits until it accepts connections; it is stopped when the test ends.
func (c *Cluster) Start() {
	c.t.Helper()
	if out, err := c.PgCtl("-l", c.LogFile(), "-w", "-t", "120", "start"); err != nil {
		c.t.Fatalf("dbtest: pg_ctl start: %v\n%s", err, out)
	}
	c.t.Cleanup(c.Stop)
}

// Stop stops the cluster at once (fast shutdown); stopping a stopped cluster does nothing.
func (c *Cluster) Stop() {
	if _, err := c.PgCtl("status"); err != nil {
		return
	}
	if out, err := c.PgCtl("-w", "-m", "fast", "stop"); err != nil {
		c.t.Errorf("dbtest: pg_ctl stop: %v\n%s", err, out)
	}
}

// URL is the connection URL of a database of the cluster.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, database)
}

// Exec runs statements on a database of the cluster, failing the test on an error.
func (c *Cluster) Exec(database, sql string, args ...any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL(database))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		c.t.Fatalf("dbtest: %s: %v", sql, err)
	}
}
