package views

import (
	"strconv"
	"time"
)

// RelativeTime says how long before now t was, in the largest whole unit ("just now", "5 min ago", "3 h ago",
// "2 days ago"); past a month it is the date. now is the caller's clock, so tests can fix it.
func RelativeTime(t, now time.Time) string {
	d := now.Sub(t)
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
