package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
)

// The job monitor is River's own UI (riverqueue.com/riverui): its pages, assets and JSON API are served below
// JobsUIPrefix, behind the cookie stack of every page (session, cross-origin protection) and authz.JobsAdmin. It
// shows the jobs of every organization, so only instance administrators may open it; an organization's owner who
// is not one gets 403 like any other forbidden page.

// JobsUIPrefix is where River's UI is mounted (routes.go spells out its routes); it also tells the UI the base of
// its links, assets and API calls.
const JobsUIPrefix = "/admin/jobs"

// jobsUIMaxBodyBytes bounds a state-changing request to the UI's API (at most 1,000 job ids, as River UI allows).
const jobsUIMaxBodyBytes = 64 << 10

// jobsUIContentSecurityPolicy is httpx.ContentSecurityPolicy with inline styles allowed, sent only with what River's UI
// answers to an instance administrator. Its bundle writes <style> elements while it runs (goober, which styles its
// toasts, and the theme switcher, which pauses transitions), and their text is generated, so no hash or nonce can
// name them. Scripts stay 'self' only, eval included: the one eval in the bundle is zod's probe (`try { Function("")
// } catch`), which reports a violation and falls back to its eval-free path. Everything else (connections, images,
// framing) is the application's policy: the UI loads nothing from elsewhere.
func jobsUIContentSecurityPolicy() string {
	return strings.Replace(httpx.ContentSecurityPolicy, "style-src 'self'", "style-src 'self' 'unsafe-inline'", 1)
}

// NewJobsUI builds River's UI over client, mounted at JobsUIPrefix. The caller starts it (Start, with a context
// canceled at shutdown: its background count caches run until then) and passes it as Deps.JobsUI. An insert-only
// client is enough: the UI reads and changes job and queue rows through the client's driver, it works no job.
func NewJobsUI(client *river.Client[pgx.Tx], logger *slog.Logger) (*riverui.Handler, error) {
	return riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    logger,
		Prefix:    JobsUIPrefix,
	})
}

// jobsUI serves River's UI to instance administrators. State changes (cancel, retry, delete, pausing a queue) are
// written to the audit log as instance-level events once River's UI has made them.
func (s *Handlers) jobsUI(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.JobsAdmin, authz.Instance); err != nil {
		s.PageError(w, r, err)
		return
	}
	if s.deps.JobsUI == nil {
		s.PageError(w, r, fault.New(fault.Unavailable, "The job monitor is not available on this server."))
		return
	}
	w.Header().Set("Content-Security-Policy", jobsUIContentSecurityPolicy())
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.deps.JobsUI.ServeHTTP(w, r)
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, jobsUIMaxBodyBytes))
	if err != nil {
		s.PageError(w, r, fault.New(fault.TooLarge, "The request is too large."))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &httpx.StatusRecorder{ResponseWriter: w}
	s.deps.JobsUI.ServeHTTP(rec, r)
	if rec.Status() != 0 && rec.Status()/100 != 2 {
		return
	}
	// River UI commits its change in a transaction of its own, so the audit row follows it rather than sharing it.
	action, targetType, targetID := jobsUIAuditEvent(r.Method, strings.TrimPrefix(r.URL.Path, JobsUIPrefix+"/api/"), body)
	if err := s.deps.Store.AuditEvent(r.Context(), s.Actor(r), nil, action, targetType, targetID); err != nil {
		logging.From(r.Context(), s.deps.Logger).Error("audit a job monitor change", "action", action, "error", err)
	}
}

// jobsUIAuditEvent names a change made through River UI's API (path is below its /api/) for the audit log.
func jobsUIAuditEvent(method, path string, body []byte) (action, targetType, targetID string) {
	parts := strings.Split(path, "/")
	switch {
	case len(parts) == 2 && parts[0] == "jobs":
		var req struct {
			IDs []json.Number `json:"ids"`
		}
		_ = json.Unmarshal(body, &req) // River UI has accepted it; ids are numbers or strings of digits
		ids := make([]string, len(req.IDs))
		for i, id := range req.IDs {
			ids[i] = id.String()
		}
		return "jobs." + parts[1], "river_job", strings.Join(ids, ",")
	case len(parts) == 3 && parts[0] == "queues":
		return "jobs.queue." + parts[2], "river_queue", parts[1]
	case len(parts) == 2 && parts[0] == "queues" && method == http.MethodPatch:
		return "jobs.queue.update", "river_queue", parts[1]
	}
	return "jobs.change", "", method + " " + path
}
