package admin

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/concertmaster/concertmaster/platform/logging"
)

// healthz answers 200 while the process can serve at all; it checks nothing else, so an orchestrator restarts the
// process only when it is truly stuck.
func (s *Handlers) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyzTimeout bounds the database check, so a hung database makes the probe fail rather than hang.
const readyzTimeout = 2 * time.Second

// readyz answers 200 when the database answers and 503 otherwise; under its "ok", a line per optional dependency
// says its state ("redis: down since …: …"), which does not change the answer. The pool reconnects by itself, so
// readiness comes back without a restart when the database does.
func (s *Handlers) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.deps.DB.Ping(ctx); err != nil {
		logging.From(r.Context(), s.deps.Logger).Warn("readiness check failed", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
	for _, name := range slices.Sorted(maps.Keys(s.deps.Optional)) {
		_, _ = fmt.Fprintf(w, "%s: %s\n", name, s.deps.Optional[name]())
	}
}
