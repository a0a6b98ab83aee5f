package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestStatisticsChartsInBothThemesAndWidths opens the workflow page and the dashboard with statistics to chart (a
// succeeded and a failed execution, rolled up), in the light and dark themes at 360 and 1440 pixels: the two charts
// are drawn from the rollup, fit the window, stay inside the origin, and their text, bars and lines stand out from
// the page's background in each theme.
func TestStatisticsChartsInBothThemesAndWidths(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	info, wfID := h.hookWorkflow(w, `{}`)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	for i, body := range []string{`{"total":250}`, `{"total":"not a number"}`} {
		status, out := post(t, info.URL, []byte(body), signed(info.Secret, time.Now().Add(time.Duration(i)*time.Second), []byte(body)))
		if status != http.StatusAccepted {
			t.Fatalf("webhook: %d %s", status, out)
		}
		var accepted struct {
			ExecutionID string `json:"execution_id"`
		}
		_ = json.Unmarshal([]byte(out), &accepted)
		h.waitExecution(viewer, accepted.ExecutionID, []string{store.StatusSucceeded, store.StatusFailed}[i])
	}
	arch := &service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(time.Now().Add(2 * time.Minute))}
	if _, err := h.st.NewStatsRollup(arch, store.StatsRollupConfig{}).Round(context.Background()); err != nil {
		t.Fatal(err)
	}

	b := h.newBrowser(t)
	b.setCookie(h.sessionCookie(w.users["viewer"], w.orgA.ID))
	for _, path := range []string{"/workflows/" + wfID, "/"} {
		for _, theme := range []string{"light", "dark"} {
			b.setColorScheme(theme)
			for _, width := range []int{360, 1440} {
				b.setViewport(width, 900)
				b.open(path)
				b.waitFor(`[data-stats-charts] svg[data-chart="durations"]`)
				r := b.eval(`() => {
					let bg = getComputedStyle(document.body).backgroundColor;
					if (bg === "rgba(0, 0, 0, 0)") bg = getComputedStyle(document.documentElement).backgroundColor;
					const charts = [...document.querySelectorAll("[data-stats-charts] svg.chart")];
					const fill = (sel) => { const el = document.querySelector(sel); return el ? getComputedStyle(el).fill : ""; };
					const stroke = (sel) => { const el = document.querySelector(sel); return el ? getComputedStyle(el).stroke : ""; };
					return {
						bg,
						bars: document.querySelectorAll('[data-chart="executions"] rect.bar').length,
						failedBars: document.querySelectorAll('[data-chart="executions"] rect.status-failed').length,
						lines: document.querySelectorAll('[data-chart="durations"] polyline.line').length,
						widest: Math.max(...charts.map((c) => c.getBoundingClientRect().right)),
						text: (() => { const el = document.querySelector("[data-stats-charts] .stats-scale"); return el ? getComputedStyle(el).color : ""; })(),
						succeeded: fill('[data-chart="executions"] rect.status-succeeded'),
						failed: fill('[data-chart="executions"] rect.status-failed'),
						p99: stroke('[data-chart="durations"] polyline.p99'),
						dots: document.querySelectorAll('[data-chart="durations"] line.dot').length,
						dot: stroke('[data-chart="durations"] line.p95'),
					};
				}`)
				where := fmt.Sprintf("%s, %s theme, %d px", path, theme, width)
				if r.Get("bars").Int() < 2 || r.Get("failedBars").Int() < 1 || r.Get("lines").Int() != 3 || r.Get("dots").Int() < 3 {
					t.Errorf("%s: charts %v, want a succeeded and a failed bar and three lines", where, r)
				}
				if r.Get("widest").Num() > float64(width) {
					t.Errorf("%s: a chart reaches %v px", where, r.Get("widest").Num())
				}
				bg := r.Get("bg").Str()
				for _, part := range []string{"text", "succeeded", "failed", "p99", "dot"} {
					if c := r.Get(part).Str(); c == "" || c == bg || c == "none" {
						t.Errorf("%s: the chart's %s is %q on a %q background", where, part, c, bg)
					}
				}
				b.assertNoHorizontalScroll()
				b.assertClean()
				page := "workflow"
				if path == "/" {
					page = "dashboard"
				}
				b.screenshot(fmt.Sprintf("stats-%s-%s-%d", page, theme, width))
			}
		}
	}
}
