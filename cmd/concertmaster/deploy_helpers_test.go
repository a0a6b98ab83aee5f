package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests of deploy/ (nginx, Prometheus, the rule file) run the real programs from Debian, which
// deploy/dev/ops-env.sh installs for make test and names in these variables; PATH is the fallback.
func opsTool(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed (make test installs it with deploy/dev/ops-env.sh; else set %s): %v", name, env, err)
	}
	return p
}

// clientFrom is an HTTP client whose connections leave from localIP (any 127/8 address is this machine) and
// whose requests carry header: a client somewhere on the internet, claiming what it likes.
func clientFrom(localIP string, header http.Header) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: headerTransport{header,
		&http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}}
}

type headerTransport struct {
	header http.Header
	next   http.RoundTripper
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header[k] = v
	}
	return h.next.RoundTrip(r)
}

// hookDefinition is a webhook workflow whose one transform runs jq (error("…") fails it).
func hookDefinition(jq string) string {
	return `{"nodes": [{"id": "hook", "type": "trigger.webhook", "config": {}},
		{"id": "shape", "type": "transform.data", "config": {"jq": ` + strconv.Quote(jq) + `}}],
		"edges": [{"from": "hook", "to": "shape"}]}`
}

// runWorkflow starts an execution through the API and returns its id.
func (c *apiClient) runWorkflow(t *testing.T, id string) string {
	t.Helper()
	var out struct {
		ExecutionID string `json:"execution_id"`
	}
	c.decode(t, c.call(t, "POST", "/api/v1/workflows/"+id+"/run", map[string]any{"n": 1}, http.StatusAccepted), &out)
	return out.ExecutionID
}

// callWebhook posts body to a workflow's webhook, signed with its secret, and returns the status.
func (c *apiClient) callWebhook(t *testing.T, id, body string) int {
	t.Helper()
	var hook struct{ URL, Secret string }
	c.decode(t, c.call(t, "GET", "/api/v1/workflows/"+id+"/webhook", nil, http.StatusOK), &hook)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(hook.Secret))
	mac.Write([]byte(ts + "." + body))
	// The URL is built from BASE_URL; the test calls its path on c.base.
	req, _ := http.NewRequest("POST", c.base+hook.URL[strings.Index(hook.URL, "/hooks/"):], strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-ConcertMaster-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// selfSignedCert writes a certificate and key for 127.0.0.1 into dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// waitFor polls cond until it holds or the deadline passes; cond's detail explains the last miss.
func waitFor(t *testing.T, what string, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, within, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// copyDir copies the files of src (one level of subfolders) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
