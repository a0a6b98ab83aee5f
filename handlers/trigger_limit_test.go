package handlers

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
)

func TestOrganizationTriggerRateLimitAnswers429(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps, h *harness) {
		h.app.OrgTriggerRateLimit = 3
		// The clock stopped: no window ends, so the test does not depend on how fast this machine sends the calls.
		stopped := time.Now()
		d.Limiter = ratelimit.NewMemoryClock(1000, func() time.Time { return stopped })
	})
	w := h.newWorld()
	info, wfID := h.hookWorkflow(w, `{}`)
	for i := range 3 {
		body := fmt.Appendf(nil, `{"order":%d}`, i) // each call its own: a repeated signed body is a replay
		if status, out := post(t, info.URL, body, signed(info.Secret, time.Now(), body)); status != http.StatusAccepted {
			t.Fatalf("call %d: %d %s", i+1, status, out)
		}
	}
	// The organization's fourth start within the second, by a webhook or by hand, is refused and not enqueued.
	body := []byte(`{"order":4}`)
	req, _ := http.NewRequest("POST", info.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpx.SignatureHeader, httpx.SignatureValue(info.Secret, time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("fourth webhook call: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"),
			resp.Header.Get("Content-Type"))
	}
	run := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wfID + "/run",
		Bearer: h.accessToken(w.users["admin"], w.orgA.ID), JSON: `{}`})
	if run.StatusCode != http.StatusTooManyRequests || run.Header.Get("Retry-After") == "" {
		t.Errorf("manual run over the limit: %d %s", run.StatusCode, run.body)
	}
	var n int
	if err := h.pool.QueryRow(t.Context(), "SELECT count(*) FROM workflow_executions").Scan(&n); err != nil || n != 3 {
		t.Errorf("%d executions recorded (%v), want 3", n, err)
	}
}
