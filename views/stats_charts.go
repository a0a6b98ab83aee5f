package views

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StatsPoint is one minute of finished executions, as the statistics rollup aggregated it.
type StatsPoint struct {
	Minute                      time.Time
	Succeeded, Failed, Canceled int32
	// Trigger-to-finish percentiles, in milliseconds.
	P50, P95, P99 float64
}

// StatsCharts are two SVG charts over a range of minutes: executions per minute stacked by final status, and the
// trigger-to-finish p50, p95 and p99. They are drawn here in the SVG's own units (no script, no outside request);
// the CSS scales them to the width (the viewBox keeps the proportions) and colours them by theme.
type StatsCharts struct {
	// ID prefixes the charts' element ids (two pages may show charts).
	ID    string
	Title string
	// From and To label the range's ends (UTC times); Total counts its finished executions.
	From, To string
	Total    int64
	Bars     []statsBar
	Lines    []statsLine
	// CountTop and DurationTop label the top of each chart's scale.
	CountTop, DurationTop string
}

// statsBar is one rectangle of the stacked bars.
type statsBar struct {
	Class      string
	X, Y, W, H string
}

// statsLine is one percentile's line, with a dot on each minute (a lone minute has no line to show).
type statsLine struct {
	Class, Label, Points string
	Dots                 [][2]string
}

// The charts' geometry, in SVG units (stretched to the box the CSS gives the chart).
const (
	statsWidth   = 600
	statsLeft    = 0
	statsRight   = 0
	statsTop     = 4
	statsHeight  = 116
	statsViewBox = "0 0 600 120"
)

// NewStatsCharts lays out the charts of the minutes [from, to) from the minutes that had finished executions.
func NewStatsCharts(id, title string, from, to time.Time, points []StatsPoint) StatsCharts {
	c := StatsCharts{ID: id, Title: title, From: from.UTC().Format("15:04"), To: to.UTC().Format("15:04 UTC")}
	slots := max(int(to.Sub(from)/time.Minute), 1)
	slot := float64(statsWidth-statsLeft-statsRight) / float64(slots)
	var countTop int32 = 1
	var durationTop float64 = 1
	for _, p := range points {
		countTop = max(countTop, p.Succeeded+p.Failed+p.Canceled)
		durationTop = max(durationTop, p.P99)
		c.Total += int64(p.Succeeded + p.Failed + p.Canceled)
	}
	c.CountTop, c.DurationTop = strconv.Itoa(int(countTop)), msText(durationTop)
	lines := map[string]*strings.Builder{"p50": {}, "p95": {}, "p99": {}}
	dots := map[string][][2]string{}
	for _, p := range points {
		i := int(p.Minute.Sub(from) / time.Minute)
		if i < 0 || i >= slots {
			continue
		}
		x := statsLeft + float64(i)*slot
		base := float64(statsTop + statsHeight)
		for _, part := range []struct {
			class string
			n     int32
		}{{"status-succeeded", p.Succeeded}, {"status-failed", p.Failed}, {"status-canceled", p.Canceled}} {
			if part.n == 0 {
				continue
			}
			h := float64(part.n) / float64(countTop) * statsHeight
			base -= h
			c.Bars = append(c.Bars, statsBar{Class: "bar " + part.class, X: num(x + slot*0.1), Y: num(base),
				W: num(slot * 0.8), H: num(h)})
		}
		for name, v := range map[string]float64{"p50": p.P50, "p95": p.P95, "p99": p.P99} {
			y := statsTop + statsHeight - v/durationTop*statsHeight
			fmt.Fprintf(lines[name], "%s,%s ", num(x+slot/2), num(y))
			dots[name] = append(dots[name], [2]string{num(x + slot/2), num(y)})
		}
	}
	for _, name := range []string{"p50", "p95", "p99"} {
		if pts := strings.TrimSpace(lines[name].String()); pts != "" {
			c.Lines = append(c.Lines, statsLine{Class: "line " + name, Label: name, Points: pts, Dots: dots[name]})
		}
	}
	return c
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// msText writes a duration in milliseconds for a scale: "850 ms", "1.2 s", "3.5 min".
func msText(ms float64) string {
	switch {
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms < 60_000:
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s"
	}
	return strconv.FormatFloat(ms/60_000, 'f', 1, 64) + " min"
}
