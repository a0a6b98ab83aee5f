package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/handlers/public"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// engineDeps gives the harness what cmd/concertmaster gives the web process besides accounts: the group-commit
// ingester, the execution events relay and the deliveries log (running), the keys sealing webhook and integration
// secrets, the connection tester and file storage.
func (h *harness) engineDeps(d *Deps) {
	h.t.Helper()
	keys, err := secrets.NewKeyring("webhook-secrets", testSecretKey, "")
	if err != nil {
		h.t.Fatal(err)
	}
	integrationKeys, err := secrets.NewKeyring("integrations", testSecretKey, "")
	if err != nil {
		h.t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	d.WebhookKeys = keys
	d.Integrations = store.NewIntegrationStore(h.st, integrationKeys)
	// The tests' own servers listen on loopback, which the guard refuses unless allowed.
	if d.ConnectionTester, err = actions.NewConnectionTester([]string{"127.0.0.1"}); err != nil {
		h.t.Fatal(err)
	}
	files, err := storage.NewLocal(h.t.TempDir(), storage.LocalOptions{MaxBytes: 10 << 20})
	if err != nil {
		h.t.Fatal(err)
	}
	d.Files = files
	arch := service.NewArchetype(logger)
	d.Ingester = h.st.NewExecutionIngester(arch, time.Millisecond, 100)
	d.Events = store.NewExecutionEvents(h.pool, arch)
	d.Deliveries = h.st.NewDeliveryLog(arch)
	// Each part is taken now: an option may replace one in d with its own, which it runs itself.
	parts := []service.Service{d.Ingester, d.Events, d.Deliveries}
	if err := service.StartAll(context.Background(), parts...); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { service.StopAll(parts...); _ = files.Close() })
}

// hookWorkflow creates and activates a webhook workflow of organization A with the given trigger config, and
// returns its webhook URL and secret as the API hands them out.
func (h *harness) hookWorkflow(w *world, triggerConfig string) (api.WebhookInfo, string) {
	h.t.Helper()
	def := strings.Replace(apiFlow, `"config":{}`, `"config":`+triggerConfig, 1)
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: admin, JSON: `{"name":"Hooked","definition":` + def + `}`})
	var wf struct {
		ID string `json:"id"`
	}
	resp.json(h.t, &wf)
	if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/activate", Bearer: admin}); resp.StatusCode != 200 {
		h.t.Fatalf("activate: %d %s", resp.StatusCode, resp.body)
	}
	var info api.WebhookInfo
	resp = h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID + "/webhook", Bearer: admin})
	resp.json(h.t, &info)
	h.remember(info.Secret)
	return info, wf.ID
}

// post calls a webhook URL with body and headers.
func post(t *testing.T, url string, body []byte, header http.Header) (int, string) {
	t.Helper()
	status, answer, _ := postFull(t, url, body, header)
	return status, answer
}

func signed(secret string, at time.Time, body []byte) http.Header {
	return http.Header{httpx.SignatureHeader: {httpx.SignatureValue(secret, at, body)}}
}

// steppedClock is the real time plus an offset a test moves forward: what the server times by Deps.Now (cached
// webhook targets, the in-process limiter's windows) passes without the test sleeping.
type steppedClock struct{ offset atomic.Int64 }

func (c *steppedClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *steppedClock) Step(d time.Duration) { c.offset.Add(int64(d)) }

func withClock(c *steppedClock) harnessOption {
	return func(d *Deps, _ *harness) { d.Now = c.Now }
}

func TestSignedWebhookRunsTheWorkflow(t *testing.T) {
	t.Parallel()
	clock := &steppedClock{}
	h := newHarness(t, withClock(clock))
	h.startWorkers()
	w := h.newWorld()
	info, wfID := h.hookWorkflow(w, `{}`)
	if !strings.HasPrefix(info.URL, h.ts.URL+"/hooks/") || !strings.HasPrefix(info.Secret, "whsec_") {
		t.Fatalf("webhook info %+v", info)
	}
	body := []byte(`{"total":250,"email":"a@example.com"}`)
	// Each accepted call below is signed at its own second: the same body signed at the same second is a replay.
	t0 := time.Now()

	status, out := post(t, info.URL, body, signed(info.Secret, t0, body))
	if status != http.StatusAccepted {
		t.Fatalf("signed call: %d %s", status, out)
	}
	var accepted struct {
		ExecutionID string `json:"execution_id"`
	}
	_ = json.Unmarshal([]byte(out), &accepted)
	member := h.accessToken(w.users["member"], w.orgA.ID)
	exec := h.waitExecution(member, accepted.ExecutionID, "succeeded")
	if len(exec.Nodes) != 3 {
		t.Errorf("node runs: %+v", exec.Nodes)
	}

	// Bad and stale signatures, a wrong secret, no signature: 401, and nothing runs.
	for name, hdr := range map[string]http.Header{
		"tampered body": signed(info.Secret, time.Now(), []byte(`{"total":1}`)),
		"stale":         signed(info.Secret, time.Now().Add(-6*time.Minute), body),
		"future":        signed(info.Secret, time.Now().Add(6*time.Minute), body),
		"wrong secret":  signed("whsec_wrong", time.Now(), body),
		"unsigned":      {},
		"garbage":       {httpx.SignatureHeader: {"t=abc,v1=zz"}},
	} {
		if status, out := post(t, info.URL, body, hdr); status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, status, out)
		}
	}
	// Oversize: 413.
	big := bytes.Repeat([]byte("x"), DefaultWebhookMaxBodyBytes+1)
	if status, _ := post(t, info.URL, big, signed(info.Secret, time.Now(), big)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize: %d", status)
	}
	// Invalid JSON with a JSON content type: 422 naming the body.
	bad := []byte(`{"total":`)
	if status, out := post(t, info.URL, bad, signed(info.Secret, time.Now(), bad)); status != http.StatusUnprocessableEntity || !strings.Contains(out, `"field":"body"`) {
		t.Errorf("bad JSON: %d %s", status, out)
	}

	// The same Idempotency-Key twice: the same answer, one execution.
	hdr := signed(info.Secret, t0.Add(-time.Second), body)
	hdr.Set("Idempotency-Key", "order-42")
	s1, o1 := post(t, info.URL, body, hdr)
	s2, o2 := post(t, info.URL, body, hdr)
	if s1 != 202 || s2 != 202 || o1 != o2 {
		t.Errorf("idempotent calls: %d %s / %d %s", s1, o1, s2, o2)
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM workflow_executions WHERE workflow_id = $1", wfID).Scan(&n); err != nil || n != 2 {
		t.Errorf("executions after the idempotent pair: %d (%v), want 2", n, err)
	}

	// A rotated secret: both verify during the grace period.
	var rotated api.WebhookInfo
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wfID + "/webhook/rotate", Bearer: admin}).json(t, &rotated)
	h.remember(rotated.Secret)
	if rotated.Secret == info.Secret || rotated.URL != info.URL || rotated.PreviousSecretExpiresAt == nil {
		t.Fatalf("rotation: %+v", rotated)
	}
	clock.Step(public.WebhookTargetTTL) // the token's cached secrets expire
	for i, secret := range []string{info.Secret, rotated.Secret} {
		if status, out := post(t, info.URL, body, signed(secret, t0.Add(-time.Duration(2+i)*time.Second), body)); status != 202 {
			t.Errorf("after rotation, %.12s…: %d %s", secret, status, out)
		}
	}
	// A member (not the author, no grant) may not read the secret.
	if resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wfID + "/webhook", Bearer: member}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member reads the secret: %d", resp.StatusCode)
	}

	// Every call is in the webhook's deliveries log (written in the background).
	deadline := time.Now().Add(5 * time.Second)
	for {
		var log struct {
			Items []api.WebhookDeliveryJSON `json:"items"`
		}
		h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wfID + "/webhook/deliveries", Bearer: member}).json(t, &log)
		statuses := map[int]int{}
		for _, d := range log.Items {
			statuses[d.StatusCode]++
		}
		if statuses[202] >= 5 && statuses[401] >= 6 && statuses[413] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries log: %v", statuses)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The workflow page shows the same log to anyone who may see the workflow.
	page := h.do(request{Method: "GET", Path: "/workflows/" + wfID, Cookie: h.sessionCookie(w.users["viewer"], w.orgA.ID)})
	if rows := page.doc(t).Find("section.deliveries tbody tr").Length(); page.StatusCode != 200 || rows < 12 {
		t.Errorf("workflow page deliveries: %d, %d rows", page.StatusCode, rows)
	}

	// Deactivated: 404 (once the cached resolution expires).
	h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wfID + "/deactivate", Bearer: admin})
	clock.Step(public.WebhookTargetTTL)
	if status, _ := post(t, info.URL, body, signed(rotated.Secret, time.Now(), body)); status != http.StatusNotFound {
		t.Errorf("inactive workflow: %d", status)
	}
	if status, _ := post(t, h.ts.URL+"/hooks/unknown-token", body, nil); status != http.StatusNotFound {
		t.Errorf("unknown token: %d", status)
	}
}

func TestWebhookAnswersWithTheResultAndOtherAuthModes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()

	info, _ := h.hookWorkflow(w, `{"auth":"header","header_name":"X-Hook-Token","response":"result","timeout_seconds":20}`)
	body := []byte(`{"total":7}`)
	status, out := post(t, info.URL, body, http.Header{"X-Hook-Token": {info.Secret}})
	if status != http.StatusOK || out != `{"total": 7}` && !strings.Contains(out, `"total"`) {
		t.Errorf("result mode: %d %s", status, out)
	}
	if status, _ := post(t, info.URL, body, http.Header{"X-Hook-Token": {"nope"}}); status != http.StatusUnauthorized {
		t.Errorf("bad header token: %d", status)
	}

	info, _ = h.hookWorkflow(w, `{"auth":"basic"}`)
	req, _ := http.NewRequest("POST", info.URL, strings.NewReader("a=1&a=2&b=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("anyone", info.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("basic auth: %d", resp.StatusCode)
	}

	info, _ = h.hookWorkflow(w, `{"auth":"none"}`)
	if status, _ := post(t, info.URL, body, nil); status != http.StatusAccepted {
		t.Errorf("no auth: %d", status)
	}
	getReq, _ := http.NewRequest("GET", info.URL, nil)
	if resp, err := http.DefaultClient.Do(getReq); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET without allow_get: %v %v", resp.StatusCode, err)
	}
}
