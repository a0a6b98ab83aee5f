package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/sql/store"
)

// TestExecutionListBulkRetryAndRelativeTimes drives the execution list in Chromium: rows show their run number and
// a relative creation time with the exact time as tooltip, which the page keeps fresh as time passes; "select
// all" chooses every row and the count follows; unchoosing one and retrying the rest answers with each
// execution's outcome, and the retries appear in the list with their own numbers and kind.
func TestExecutionListBulkRetryAndRelativeTimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	runs := h.failedExecutions(w.orgA.ID, owner.ID, 3)
	// The oldest was created three minutes ago (its id keeps its partition).
	if _, err := h.pool.Exec(context.Background(), `UPDATE workflow_executions SET created_at = now() - interval '3 minutes'
		WHERE id = $1`, runs[0].ID); err != nil {
		t.Fatal(err)
	}

	b := h.newBrowser(t)
	b.signIn(owner, w.orgA.ID)
	b.open("/executions")
	b.waitFor("table.executions")
	oldest := `tr[data-execution-id="` + runs[0].ID.String() + `"]`
	if got := b.eval(`(s) => document.querySelector(s + " [data-run-number]").textContent`, oldest).Str(); got != "#1" {
		t.Errorf("oldest run shows %q, want #1", got)
	}
	created := b.eval(`(s) => { const t = document.querySelector(s + " time[data-reltime]"); return [t.textContent, t.title]; }`, oldest).Arr()
	if created[0].Str() != "3 min ago" || !strings.HasSuffix(created[1].Str(), " UTC") {
		t.Errorf("created %q, title %q", created[0].Str(), created[1].Str())
	}
	// Ten minutes later (the page's clock moved on), the words follow without a reload.
	b.eval(`() => { const real = Date.now; Date.now = () => real() + 10 * 60e3; document.dispatchEvent(new Event("htmx:afterSettle")); }`)
	b.waitUntil(`(s) => document.querySelector(s + " time[data-reltime]").textContent === "13 min ago"`, oldest)
	b.assertLabelled()

	if !b.eval(`() => Array.from(document.querySelectorAll("button[data-bulk-action]")).every((x) => x.disabled)`).Bool() {
		t.Error("bulk actions are offered with nothing selected")
	}
	b.click("input[data-bulk-all]")
	b.waitUntil(`() => document.querySelector("[data-bulk-count]").textContent === "3 selected"`)
	b.click(oldest + ` input[name="ids"]`)
	b.waitUntil(`() => document.querySelector("[data-bulk-count]").textContent === "2 selected" &&
		document.querySelector("input[data-bulk-all]").indeterminate`)
	b.click(`button[data-bulk-action][value="retry"]`)
	b.waitFor("[data-bulk-outcome]")
	b.settle()
	outcome := b.eval(`() => Array.from(document.querySelectorAll("[data-bulk-item]")).map((li) =>
		li.getAttribute("data-ok") + " " + li.textContent.replace(/\s+/g, " ").trim())`).Arr()
	if len(outcome) != 2 {
		t.Fatalf("outcome of %d executions, want 2: %v", len(outcome), outcome)
	}
	for _, o := range outcome {
		if !strings.HasPrefix(o.Str(), "true ") || !strings.Contains(o.Str(), "retried as #") {
			t.Errorf("outcome %q", o.Str())
		}
	}
	if got := b.eval(`() => document.querySelectorAll('table.executions tr[data-kind="retry"]').length`).Int(); got != 2 {
		t.Errorf("%d retries listed, want 2", got)
	}
	if n := h.auditCount("execution.retry"); n != 2 {
		t.Errorf("%d retries audited, want 2", n)
	}
	list, err := h.st.ExecutionList(context.Background(), w.orgA.ID, store.ExecutionFilter{Kind: store.KindRetry})
	if err != nil || len(list) != 2 || list[0].RunNumber+list[1].RunNumber != 4+5 {
		t.Errorf("retries in the store: %+v %v", list, err)
	}
	// On a phone the outcome and the list fit; only the table scrolls inside its own box.
	b.setViewport(390, 844)
	b.assertNoHorizontalScroll()
	b.screenshot("executions-bulk-390")
	b.assertClean()
}
