package httpx

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestFreshReadsFollowAWriteForTheWindow: after a user's change, their reads go to the primary until the window
// has passed; other users' reads, and reads before any change, may use the replica.
func TestFreshReadsFollowAWriteForTheWindow(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	k := &Kit{writers: &recentWriters{window: 5 * time.Second, now: clock, at: map[uuid.UUID]time.Time{}}}
	var primary bool
	h := k.freshReads(func(w http.ResponseWriter, r *http.Request) { primary = store.ReadsFromPrimary(r.Context()) })
	ada, bob := uuid.New(), uuid.New()
	send := func(method string, user uuid.UUID) bool {
		r := httptest.NewRequest(method, "/workflows", nil)
		r = withIdentity(r, &Identity{Principal: authz.Principal{UserID: user}})
		h(httptest.NewRecorder(), r)
		return primary
	}
	for _, step := range []struct {
		name    string
		method  string
		user    uuid.UUID
		advance time.Duration
		want    bool
	}{
		{"a read before any change", http.MethodGet, ada, 0, false},
		{"the change itself", http.MethodPost, ada, 0, true},
		{"the read right after it", http.MethodGet, ada, time.Second, true},
		{"another user's read", http.MethodGet, bob, 0, false},
		{"a read at the window's end", http.MethodGet, ada, 4 * time.Second, true},
		{"a read past the window", http.MethodGet, ada, time.Second, false},
	} {
		mu.Lock()
		now = now.Add(step.advance)
		mu.Unlock()
		if got := send(step.method, step.user); got != step.want {
			t.Errorf("%s: reads from the primary = %v, want %v", step.name, got, step.want)
		}
	}
	// Without a replica the middleware is not there at all.
	if (&Kit{}).freshReads(nil) != nil {
		t.Error("freshReads without a replica wrapped the handler")
	}
}
