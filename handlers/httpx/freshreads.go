package httpx

import (
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/sql/store"
)

// recentWriters remembers which users changed something lately, so that their reads, for as long as a read
// replica may lag (Config.FreshReadsWindow), come from the primary: whoever saves a workflow sees it in the list
// the page sends them back to, and an API client reads back what it wrote. It is per process: behind a load
// balancer without sticky sessions, a read may reach another instance, which the README points out.
type recentWriters struct {
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	at map[uuid.UUID]time.Time
}

// sweepAbove is the map size from which marking also forgets writers whose window has passed.
const sweepAbove = 1024

func (rw *recentWriters) mark(user uuid.UUID) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	now := rw.now()
	if len(rw.at) > sweepAbove {
		for id, at := range rw.at {
			if now.Sub(at) > rw.window {
				delete(rw.at, id)
			}
		}
	}
	rw.at[user] = now
}

func (rw *recentWriters) recent(user uuid.UUID) bool {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	at, ok := rw.at[user]
	return ok && rw.now().Sub(at) <= rw.window
}

// freshReads sends the reads of a user who wrote within the window to the primary (store.ReadPrimary), and notes
// each request that may write (any method but GET and HEAD) when it ends. Without a read replica it does nothing.
func (k *Kit) freshReads(next http.HandlerFunc) http.HandlerFunc {
	if k.writers == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		user := PrincipalFrom(r.Context()).UserID
		if user == uuid.Nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			defer k.writers.mark(user)
		}
		if k.writers.recent(user) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			r = r.WithContext(store.ReadPrimary(r.Context()))
		}
		next.ServeHTTP(w, r)
	}
}
