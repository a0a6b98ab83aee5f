package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// nginxFront is deploy/compose/nginx run as shipped, in front of web processes of the test's: only the addresses
// differ (the listen ports, the upstream servers, the certificate's paths).
type nginxFront struct {
	base, tlsBase string
	certFile      string
	proc          *process
}

// startNginx copies the shipped configuration, points it at upstreams, checks it with nginx -t and starts nginx.
func startNginx(t *testing.T, upstreams []string) *nginxFront {
	t.Helper()
	bin := opsTool(t, "TEST_NGINX", "nginx")
	dir := t.TempDir()
	copyDir(t, "../../deploy/compose/nginx", dir)
	httpAddr, tlsAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	var servers strings.Builder
	for _, u := range upstreams {
		servers.WriteString("\tserver " + u + ";\n")
	}
	writeFile(t, filepath.Join(dir, "upstreams.conf"), "upstream concertmaster_web {\n"+servers.String()+"\tkeepalive 8;\n}\n")
	// One worker process: round-robin is per worker, and the test wants to see it exactly.
	replaceInFile(t, filepath.Join(dir, "nginx.conf"), "worker_processes auto;", "worker_processes 1;")
	replaceInFile(t, filepath.Join(dir, "nginx.conf"), "listen 80 default_server;", "listen "+httpAddr+" default_server;")
	certFile, keyFile := selfSignedCert(t, dir)
	example, err := os.ReadFile(filepath.Join(dir, "tls.d", "tls.conf.example"))
	if err != nil {
		t.Fatal(err)
	}
	tlsConf := strings.NewReplacer("listen 443 ", "listen "+tlsAddr+" ", "/etc/nginx/tls/fullchain.pem", certFile,
		"/etc/nginx/tls/privkey.pem", keyFile).Replace(string(example))
	writeFile(t, filepath.Join(dir, "tls.d", "tls.conf"), tlsConf)

	global := "daemon off; pid " + filepath.Join(dir, "nginx.pid") + "; error_log stderr notice;"
	args := []string{"-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", global}
	if out, err := exec.Command(bin, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the shipped configuration: %v\n%s", err, out)
	}
	proc := startProcess(t, "nginx", bin, nil, "start worker process", args...)
	// nginx stops its worker processes on SIGTERM; startProcess's SIGKILL would orphan them (they hold the log).
	t.Cleanup(func() { proc.kill(syscall.SIGTERM) })
	return &nginxFront{base: "http://" + httpAddr, tlsBase: "https://" + tlsAddr, certFile: certFile, proc: proc}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceInFile replaces old, which must be there, by new.
func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s no longer has %q", path, old)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}

// TestNginxInFrontOfTwoWebProcesses runs the shipped nginx configuration in front of two real `serve --no-workers`
// processes: requests alternate between them, an execution's server-sent events stream through unbuffered, HTTP/2
// works over TLS, and the audit log records the client's address (not nginx's, nor one the client made up) because
// TRUSTED_PROXIES names nginx.
func TestNginxInFrontOfTwoWebProcesses(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dbURL := migratedDatabase(t)
	webAddrs := []string{"127.0.0.1:" + freePort(t), "127.0.0.1:" + freePort(t)}
	front := startNginx(t, webAddrs)
	var webs []*process
	for i, addr := range webAddrs {
		env := map[string]string{"DATABASE_URL": dbURL, "SECRET_KEY": testSecretKey, "LISTEN_ADDR": addr,
			"BASE_URL": front.base, "TRUSTED_PROXIES": "127.0.0.1/32", "LOG_LEVEL": "info", "DATA_DIR": t.TempDir()}
		webs = append(webs, startProcess(t, fmt.Sprintf("web-%d", i+1), bin, env, `"msg":"serving"`, "serve", "--no-workers"))
	}
	waitHealthy(t, front.base)
	createUser(t, map[string]string{"DATABASE_URL": dbURL}, "ops@example.com")

	t.Run("round-robin", func(t *testing.T) {
		for i := range 10 {
			resp, err := http.Get(front.base + fmt.Sprintf("/round-robin-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		waitFor(t, "each web process logs 5 of the 10 requests", 10*time.Second, func() (bool, string) {
			n1, n2 := strings.Count(webs[0].output(), `"path":"/round-robin-`), strings.Count(webs[1].output(), `"path":"/round-robin-`)
			return n1 == 5 && n2 == 5, fmt.Sprintf("web-1 %d, web-2 %d", n1, n2)
		})
	})

	// A client at 127.0.0.2 claiming to be someone else; nginx is at 127.0.0.1.
	spoofer := clientFrom("127.0.0.2", http.Header{"X-Forwarded-For": {"203.0.113.66"}, "X-Real-Ip": {"203.0.113.67"}})
	api := signInAPIVia(t, front.base, "ops@example.com", spoofer)
	wf := api.activeWorkflow(t, "Through nginx", hookDefinition(`{ok: true}`))

	t.Run("client address in the audit log", func(t *testing.T) {
		direct := &apiClient{base: "http://" + webAddrs[0], token: api.token, hc: spoofer}
		direct.activeWorkflow(t, "Direct", hookDefinition(`{ok: true}`))
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var ips []string
		rows, _ := conn.Query(ctx, "SELECT host(remote_ip) FROM audit_log WHERE action = 'workflow.create' ORDER BY created_at")
		for rows.Next() {
			var ip string
			if err := rows.Scan(&ip); err != nil {
				t.Fatal(err)
			}
			ips = append(ips, ip)
		}
		if got := strings.Join(ips, ","); got != "127.0.0.2,127.0.0.2" {
			t.Errorf("audit remote_ip of the workflows created through nginx and directly = %s, want 127.0.0.2 for both", got)
		}
	})

	t.Run("server-sent events stream through", func(t *testing.T) { checkEventStream(t, front, api, wf) })

	t.Run("HTTP/2 over TLS", func(t *testing.T) { checkHTTP2(t, front) })

	t.Run("metrics are not public", func(t *testing.T) {
		if status, _, _ := get(t, front.base+"/metrics"); status != http.StatusNotFound {
			t.Errorf("GET /metrics through nginx = %d, want 404", status)
		}
	})
}

// checkEventStream reads an execution's server-sent events through nginx: the first event, then a heartbeat sent
// seconds later, each while the stream is still open.
func checkEventStream(t *testing.T, front *nginxFront, api *apiClient, wf string) {
	// No worker runs: the execution stays queued, so its stream stays open.
	exec := api.runWorkflow(t, wf)
	cookie := signInBrowser(t, front.base, "ops@example.com")
	req, _ := http.NewRequest("GET", front.base+"/executions/"+exec+"/events", nil)
	req.AddCookie(&http.Cookie{Name: "cm_session", Value: cookie})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The first event, then a heartbeat sent seconds later, each read while the stream is still open: nothing
	// waits for a buffer to fill or for the response to end.
	lines := bufio.NewScanner(resp.Body)
	for _, want := range []string{"event: timeline", ": heartbeat"} {
		found := false
		for !found && lines.Scan() {
			found = lines.Text() == want
		}
		if !found {
			t.Fatalf("the stream ended before %q: %v", want, lines.Err())
		}
	}
}

// checkHTTP2 calls the TLS server (tls.d/tls.conf.example with the test's certificate) and wants HTTP/2.
func checkHTTP2(t *testing.T, front *nginxFront) {
	pemBytes, err := os.ReadFile(front.certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	resp, err := client.Get(front.tlsBase + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("GET /healthz over TLS = %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("the TLS server sends no Strict-Transport-Security")
	}
}
