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
	// Average is the mean trigger-to-finish duration in milliseconds (a period's bucket; 0 when unknown).
	Average float64
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
	// Step is a period chart's bucket (NewPeriodCharts); zero for minutes.
	Step time.Duration
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
	c.layout(from, to, time.Minute, points, map[string]func(StatsPoint) float64{
		"p50": func(p StatsPoint) float64 { return p.P50 }, "p95": func(p StatsPoint) float64 { return p.P95 },
		"p99": func(p StatsPoint) float64 { return p.P99 }})
	return c
}

// NewPeriodCharts lays out the charts of a period [from, to) in buckets of step, each point a bucket (Minute is its
// start): executions per bucket stacked by final status, and the bucket's average trigger-to-finish duration
// (Average). The dashboard's periods are a day, a week and a month, which percentiles of minutes cannot add up to.
func NewPeriodCharts(id, title string, from, to time.Time, step time.Duration, points []StatsPoint) StatsCharts {
	layout := "Jan 2 15:04"
	if step >= 24*time.Hour {
		layout = "Jan 2"
	}
	c := StatsCharts{ID: id, Title: title, From: from.UTC().Format(layout), To: to.UTC().Format(layout) + " UTC",
		Step: step}
	c.layout(from, to, step, points, map[string]func(StatsPoint) float64{
		"average": func(p StatsPoint) float64 { return p.Average }})
	return c
}

// layout draws the bars of the points and one line per duration, in the slots of step between from and to.
func (c *StatsCharts) layout(from, to time.Time, step time.Duration, points []StatsPoint, durations map[string]func(StatsPoint) float64) {
	slots := max(int(to.Sub(from)/step), 1)
	slot := float64(statsWidth-statsLeft-statsRight) / float64(slots)
	var countTop int32 = 1
	var durationTop float64 = 1
	for _, p := range points {
		countTop = max(countTop, p.Succeeded+p.Failed+p.Canceled)
		for _, v := range durations {
			durationTop = max(durationTop, v(p))
		}
		c.Total += int64(p.Succeeded + p.Failed + p.Canceled)
	}
	c.CountTop, c.DurationTop = strconv.Itoa(int(countTop)), msText(durationTop)
	lines := map[string]*strings.Builder{}
	dots := map[string][][2]string{}
	for name := range durations {
		lines[name] = &strings.Builder{}
	}
	for _, p := range points {
		i := int(p.Minute.Sub(from) / step)
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
		for name, value := range durations {
			if name == "average" && value(p) <= 0 {
				continue // a bucket rolled up before its durations were summed
			}
			y := statsTop + statsHeight - value(p)/durationTop*statsHeight
			fmt.Fprintf(lines[name], "%s,%s ", num(x+slot/2), num(y))
			dots[name] = append(dots[name], [2]string{num(x + slot/2), num(y)})
		}
	}
	for _, name := range []string{"p50", "p95", "p99", "average"} {
		if b := lines[name]; b != nil && strings.TrimSpace(b.String()) != "" {
			class := "line " + name
			if name == "average" {
				class = "line p50 average" // drawn in p50's colour: the stylesheet has no other line
			}
			c.Lines = append(c.Lines, statsLine{Class: class, Label: name, Points: strings.TrimSpace(b.String()),
				Dots: dots[name]})
		}
	}
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

// stepText names a period chart's bucket: "hour", "6 hours", "day".
func stepText(step time.Duration) string {
	switch {
	case step == time.Hour:
		return "hour"
	case step == 24*time.Hour:
		return "day"
	case step%time.Hour == 0 && step < 24*time.Hour:
		return strconv.Itoa(int(step/time.Hour)) + " hours"
	case step%(24*time.Hour) == 0:
		return strconv.Itoa(int(step/(24*time.Hour))) + " days"
	}
	return "minute"
}
