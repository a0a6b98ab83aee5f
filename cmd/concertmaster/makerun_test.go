package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/sql/dbtest"
)

// TestMakeRunStopsOnSignalsSentToMake runs the repository's real `make run` (against a database of its own) and
// stops it the ways a person or a tool does: a SIGINT or a SIGTERM sent to make alone (an IDE's stop button, a
// supervisor), and the SIGINT Ctrl-C sends to the whole foreground process group. Each time make and the server it
// started must both end soon, the server after a graceful shutdown. The cases run one after the other: each
// builds bin/concertmaster in the repository, as `make run` does.
func TestMakeRunStopsOnSignalsSentToMake(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: this test runs `make run`")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// A test started in the background by a non-interactive shell inherits SIGINT ignored, and so would make, which
	// then would not even delete its target. The Go runtime resets the signals it handles to their default in the
	// processes it starts, so handling SIGINT here (by dropping it, as ignoring it did) gives make the default.
	if signal.Ignored(syscall.SIGINT) {
		dropped := make(chan os.Signal, 1)
		signal.Notify(dropped, syscall.SIGINT)
		defer signal.Stop(dropped)
	}

	for _, tc := range []struct {
		name       string
		sig        syscall.Signal
		whole      bool // send sig to make's whole process group, as a terminal's Ctrl-C does
		makeDelete bool // make reports deleting the pid file: how a signal it does not pass on reaches the server
	}{
		{name: "SIGINT to make alone", sig: syscall.SIGINT, makeDelete: true},
		{name: "SIGTERM to make alone", sig: syscall.SIGTERM},
		{name: "SIGINT to the process group (Ctrl-C)", sig: syscall.SIGINT, whole: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dbURL := dbtest.NewDatabase(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			pidFile := filepath.Join(t.TempDir(), "run.pid")

			cmd := exec.Command("make", "run", "RUN_PID="+pidFile)
			cmd.Dir = root
			// make's own variables from an enclosing make (make test) would change how this one runs.
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" &&
					k != "GNUMAKEFLAGS" && k != "MAKEOVERRIDES" {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, "DATABASE_URL="+dbURL, "LISTEN_ADDR="+addr, "SECRET_KEY="+testSecretKey,
				"DATA_DIR="+t.TempDir(), "LOG_FORMAT=text", "LOG_LEVEL=info")
			// A group of its own: a signal to the group reaches make and the server, not this test.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }() //nolint:errcheck // the exit status is read from ProcessState
			group := cmd.Process.Pid
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					syscall.Kill(-group, syscall.SIGKILL) //nolint:errcheck // the group may be gone already
					<-done
				}
			})
			// fail stops everything first: out is only read once make has ended.
			fail := func(format string, args ...any) {
				t.Helper()
				syscall.Kill(-group, syscall.SIGKILL) //nolint:errcheck // the group may be gone already
				<-done
				t.Fatalf(format+"\nmake run's output:\n%s", append(args, out.String())...)
			}

			// The first run on a machine builds the binary from cold caches: minutes on two busy cores.
			ready := time.After(5 * time.Minute)
			client := &http.Client{Timeout: 5 * time.Second}
			poll := time.NewTicker(100 * time.Millisecond)
			defer poll.Stop()
			for up := false; !up; {
				select {
				case <-done:
					fail("make run ended before serving: %v", cmd.ProcessState)
				case <-ready:
					fail("make run did not answer /healthz within 5 minutes")
				case <-poll.C:
					if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
						resp.Body.Close()
						up = resp.StatusCode == http.StatusOK
					}
				}
			}
			b, err := os.ReadFile(pidFile)
			server, convErr := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || convErr != nil || server == cmd.Process.Pid {
				fail("pid file %q: %v, %v; want the server's pid", b, err, convErr)
			}

			target := cmd.Process.Pid
			if tc.whole {
				target = -group
			}
			if err := syscall.Kill(target, tc.sig); err != nil {
				fail("kill: %v", err)
			}
			select {
			case <-done:
			case <-time.After(time.Minute):
				fail("make run had not ended a minute after %v", tc.sig)
			}
			logs := out.String()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != tc.sig {
				t.Errorf("make ended with %v; want it killed by %v, the signal it got", cmd.ProcessState, tc.sig)
			}
			// make waits for its recipe, so the server had ended; this checks it was not left running elsewhere.
			if err := syscall.Kill(server, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the server (pid %d) is still there after make ended: kill 0 = %v", server, err)
			}
			if !strings.Contains(logs, "msg=stopped") {
				t.Errorf("the server did not log its graceful shutdown (msg=stopped)")
			}
			if tc.makeDelete && !strings.Contains(logs, "Deleting file '"+pidFile+"'") {
				t.Errorf("make did not report deleting %s", pidFile)
			}
			if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the pid file is still there: %v", err)
			}
			if t.Failed() {
				t.Logf("make run's output:\n%s", logs)
			}
		})
	}
}
