package views

import (
	"strconv"
	"time"
)

// RelativeTime says how long before now t was, in the largest whole unit ("just now", "5 min ago", "3 h ago",
// "2 days ago"), or how long after now it is ("in 5 min", "in 3 h", "in 2 days"); past a month either way it is
// the date. now is the caller's clock, so tests can fix it. static/js/reltime.js says the same, in the same words,
// when it refreshes a page left open.
func RelativeTime(t, now time.Time) string {
	d := now.Sub(t)
	if d < -30*time.Second {
		return untilText(-d, t)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	case d < 48*time.Hour:
		return "yesterday"
	case d < 30*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
	}
	return t.UTC().Format("2006-01-02")
}

// untilText is RelativeTime for a time d ahead.
func untilText(d time.Duration, t time.Time) string {
	switch {
	case d < time.Hour:
		return "in " + strconv.Itoa(max(1, int((d+time.Minute-1)/time.Minute))) + " min"
	case d < 24*time.Hour:
		return "in " + strconv.Itoa(int(d/time.Hour)) + " h"
	case d < 30*24*time.Hour:
		return "in " + strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return t.UTC().Format("2006-01-02")
}

// When is a moment shown relative to now ("3 min ago", "in 5 min") with the exact time in its tooltip, as a
// <time> element that static/js/reltime.js keeps fresh while the page stays open.
type When struct {
	// ISO is the machine-readable time (RFC 3339, UTC) of the datetime attribute.
	ISO string
	// Relative is the text shown, as of rendering.
	Relative string
	// Exact is the tooltip: the time as Stamp writes it.
	Exact string
}

// WhenOf is t as a When at now; the zero When for a zero t.
func WhenOf(t, now time.Time) When {
	if t.IsZero() {
		return When{}
	}
	return When{ISO: t.UTC().Format(time.RFC3339), Relative: RelativeTime(t, now), Exact: Stamp(t)}
}
