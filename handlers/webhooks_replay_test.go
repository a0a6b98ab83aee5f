package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/service"
)

// hookExecutions counts a workflow's executions.
func (h *harness) hookExecutions(wfID string) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM workflow_executions WHERE workflow_id = $1",
		wfID).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// postFull calls a webhook URL and returns the status, the body and the answer's headers.
func postFull(t *testing.T, url string, body []byte, header http.Header) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// withKey adds an Idempotency-Key to a header.
func withKey(h http.Header, key string) http.Header {
	h = h.Clone()
	h.Set("Idempotency-Key", key)
	return h
}

// replayProblem checks that an answer is the 409 problem document of a replayed signed request.
func replayProblem(t *testing.T, what string, status int, body string) {
	t.Helper()
	var p httpx.ProblemBody
	if status != http.StatusConflict || json.Unmarshal([]byte(body), &p) != nil || p.Status != http.StatusConflict ||
		!strings.Contains(p.Detail, "already accepted at") || !strings.Contains(p.Detail, "send a new timestamp and signature") {
		t.Errorf("%s: %d %s, want the 409 replay problem", what, status, body)
	}
}

// TestSignedWebhookIsAcceptedOnce: a signed request (its timestamp and body) starts one execution; sent again
// inside its window it gets 409 and starts nothing, whatever is added to its headers, while a new timestamp is a new
// call and unsigned modes are unchanged.
func TestSignedWebhookIsAcceptedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	// Timestamps are chosen, not read from the clock as calls go: each case says which calls share one.
	t0 := time.Now()
	body := []byte(`{"total":250}`)

	t.Run("the same request twice", func(t *testing.T) {
		info, wfID := h.hookWorkflow(w, `{}`)
		hdr := signed(info.Secret, t0, body)
		if status, out := post(t, info.URL, body, hdr); status != http.StatusAccepted {
			t.Fatalf("first call: %d %s", status, out)
		}
		status, out := post(t, info.URL, body, hdr)
		replayProblem(t, "second call", status, out)
		// The header rewritten (t with a leading zero, another v1 appended): the same signed content.
		sig := hdr[httpx.SignatureHeader][0]
		mangled := strings.Replace(sig, "t=", "t=0", 1) + ",v1=" + strings.Repeat("ab", 32)
		status, out = post(t, info.URL, body, http.Header{httpx.SignatureHeader: {mangled}})
		replayProblem(t, "rewritten header", status, out)
		if n := h.hookExecutions(wfID); n != 1 {
			t.Errorf("%d executions, want 1", n)
		}
	})

	t.Run("a new timestamp is a new call", func(t *testing.T) {
		info, wfID := h.hookWorkflow(w, `{}`)
		for _, at := range []time.Time{t0, t0.Add(-time.Second)} {
			if status, out := post(t, info.URL, body, signed(info.Secret, at, body)); status != http.StatusAccepted {
				t.Fatalf("call at %d: %d %s", at.Unix(), status, out)
			}
		}
		if n := h.hookExecutions(wfID); n != 2 {
			t.Errorf("%d executions, want 2", n)
		}
	})

	t.Run("each webhook has its own nonces", func(t *testing.T) {
		a, wfA := h.hookWorkflow(w, `{}`)
		b, wfB := h.hookWorkflow(w, `{}`)
		for _, info := range []api.WebhookInfo{a, b} {
			if status, out := post(t, info.URL, body, signed(info.Secret, t0, body)); status != http.StatusAccepted {
				t.Fatalf("%s: %d %s", info.URL, status, out)
			}
		}
		if h.hookExecutions(wfA) != 1 || h.hookExecutions(wfB) != 1 {
			t.Errorf("executions: %d and %d, want 1 each", h.hookExecutions(wfA), h.hookExecutions(wfB))
		}
	})

	t.Run("Idempotency-Key", func(t *testing.T) {
		info, wfID := h.hookWorkflow(w, `{}`)
		first := signed(info.Secret, t0, body)
		s1, o1, _ := postFull(t, info.URL, body, withKey(first, "order-1"))
		if s1 != http.StatusAccepted {
			t.Fatalf("first keyed call: %d %s", s1, o1)
		}
		// The same key, with the same signature or a new one: the first answer again, nothing new.
		for name, hdr := range map[string]http.Header{
			"same signature": withKey(first, "order-1"),
			"new signature":  withKey(signed(info.Secret, t0.Add(-time.Second), body), "order-1"),
		} {
			s, o, answer := postFull(t, info.URL, body, hdr)
			if s != http.StatusAccepted || o != o1 || answer.Get("Idempotent-Replayed") != "true" {
				t.Errorf("%s: %d %s (replayed %q), want the first answer %s", name, s, o, answer.Get("Idempotent-Replayed"), o1)
			}
		}
		// The accepted signature with another key, or with none: a replay (the key is not signed).
		s, o, _ := postFull(t, info.URL, body, withKey(first, "order-2"))
		replayProblem(t, "accepted signature, new key", s, o)
		s, o = post(t, info.URL, body, first)
		replayProblem(t, "accepted signature, no key", s, o)
		// A signature accepted without a key is a replay with one; the refused key stays free for a new request.
		unkeyed := signed(info.Secret, t0.Add(-2*time.Second), body)
		if s, o := post(t, info.URL, body, unkeyed); s != http.StatusAccepted {
			t.Fatalf("unkeyed call: %d %s", s, o)
		}
		s, o, _ = postFull(t, info.URL, body, withKey(unkeyed, "order-3"))
		replayProblem(t, "keyed replay of an unkeyed call", s, o)
		s, o, answer := postFull(t, info.URL, body, withKey(signed(info.Secret, t0.Add(-3*time.Second), body), "order-3"))
		if s != http.StatusAccepted || o == o1 || answer.Get("Idempotent-Replayed") != "" {
			t.Errorf("the refused key with a new signature: %d %s", s, o)
		}
		if n := h.hookExecutions(wfID); n != 3 {
			t.Errorf("%d executions, want 3", n)
		}
	})

	t.Run("an expired nonce does not block", func(t *testing.T) {
		// The row outlives its signature's window only until the pruner runs; the claim itself reads expiry.
		info, wfID := h.hookWorkflow(w, `{}`)
		hdr := signed(info.Secret, t0, body)
		if status, out := post(t, info.URL, body, hdr); status != http.StatusAccepted {
			t.Fatalf("first call: %d %s", status, out)
		}
		if _, err := h.pool.Exec(context.Background(), `UPDATE webhook_nonces n SET expires_at = now() - interval '1 second'
			FROM workflows f JOIN webhooks k ON k.workflow_id = f.id WHERE n.webhook_id = k.id AND f.id = $1`, wfID); err != nil {
			t.Fatal(err)
		}
		if status, out := post(t, info.URL, body, hdr); status != http.StatusAccepted {
			t.Errorf("after expiry: %d %s", status, out)
		}
		if n := h.hookExecutions(wfID); n != 2 {
			t.Errorf("%d executions, want 2", n)
		}
	})

	t.Run("unsigned modes are unchanged", func(t *testing.T) {
		info, wfID := h.hookWorkflow(w, `{"auth":"header","header_name":"X-Hook-Token"}`)
		for i := range 2 {
			if status, out := post(t, info.URL, body, http.Header{"X-Hook-Token": {info.Secret}}); status != http.StatusAccepted {
				t.Errorf("header call %d: %d %s", i, status, out)
			}
		}
		if n := h.hookExecutions(wfID); n != 2 {
			t.Errorf("%d executions, want 2", n)
		}
		var nonces int
		if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_nonces n JOIN webhooks k
			ON k.id = n.webhook_id WHERE k.workflow_id = $1`, wfID).Scan(&nonces); err != nil || nonces != 0 {
			t.Errorf("nonces of an unsigned webhook: %d (%v)", nonces, err)
		}
	})
}

// withGroupedIngester replaces the ingester with one whose group holds exactly size requests (its window is long
// enough that it never closes a group early), so that concurrent calls are written in one group commit.
func withGroupedIngester(size int) harnessOption {
	return func(d *Deps, h *harness) {
		g := h.st.NewExecutionIngester(service.NewArchetype(slog.New(slog.DiscardHandler)), time.Minute, size)
		if err := g.Start(context.Background()); err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(g.Stop)
		d.Ingester = g
	}
}

// TestSignedWebhookReplayInsideOneGroupCommit: copies of one signed request that arrive together, in one group
// commit with other calls, start one execution; the other copies get 409, and the other calls are not disturbed.
func TestSignedWebhookReplayInsideOneGroupCommit(t *testing.T) {
	t.Parallel()
	const copies, others = 5, 3
	h := newHarness(t, withGroupedIngester(copies+others))
	w := h.newWorld()
	info, wfID := h.hookWorkflow(w, `{}`)
	t0 := time.Now()
	body := []byte(`{"total":1}`)
	replayed := signed(info.Secret, t0, body)

	var wg sync.WaitGroup
	statuses := make(chan int, copies+others)
	for i := range copies + others {
		hdr := replayed
		if i >= copies {
			hdr = signed(info.Secret, t0.Add(-time.Duration(i)*time.Second), body)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, out := post(t, info.URL, body, hdr)
			if status == http.StatusConflict {
				replayProblem(t, "copy", status, out)
			}
			statuses <- status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusAccepted] != 1+others || count[http.StatusConflict] != copies-1 {
		t.Errorf("answers %v, want %d × 202 and %d × 409", count, 1+others, copies-1)
	}
	if n := h.hookExecutions(wfID); n != 1+others {
		t.Errorf("%d executions, want %d", n, 1+others)
	}
	// One group: every accepted execution in one transaction.
	var groups int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(DISTINCT xmin::text) FROM workflow_executions WHERE workflow_id = $1",
		wfID).Scan(&groups); err != nil || groups != 1 {
		t.Errorf("executions written in %d transactions (%v), want 1", groups, err)
	}
}
