package views

import (
	"testing"
	"time"
)

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for ago, want := range map[time.Duration]string{
		10 * time.Second: "just now", 5 * time.Minute: "5 min ago", 3 * time.Hour: "3 h ago",
		30 * time.Hour: "yesterday", 5 * 24 * time.Hour: "5 days ago", 60 * 24 * time.Hour: "2026-10-04",
		-10 * time.Second: "just now", -90 * time.Second: "in 2 min", -5 * time.Minute: "in 5 min",
		-3 * time.Hour: "in 3 h", -50 * time.Hour: "in 2 days", -60 * 24 * time.Hour: "2027-02-01",
	} {
		if got := RelativeTime(now.Add(-ago), now); got != want {
			t.Errorf("%s ago: %q, want %q", ago, got, want)
		}
	}
	if w := WhenOf(now.Add(-3*time.Minute), now); w.Relative != "3 min ago" || w.Exact != "2026-12-03 11:57 UTC" ||
		w.ISO != "2026-12-03T11:57:00Z" {
		t.Errorf("WhenOf = %+v", w)
	}
}
