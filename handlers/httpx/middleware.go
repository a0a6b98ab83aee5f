package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/validate"
)

type contextKey int

// validRequestID accepts an incoming X-Request-ID only when it is short and plain, so a caller cannot inject
// log lines or huge values through it.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// withRequestID gives every request an id (the caller's X-Request-ID when it is sane) and a logger carrying it.
func (k *Kit) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		ctx := logging.WithRequestID(r.Context(), id)
		ctx = logging.With(ctx, k.cfg.Logger.With("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RequestID returns the request's id, or "" outside a request.
func RequestID(ctx context.Context) string { return logging.RequestID(ctx) }

// StatusRecorder remembers the status and size of a response for the access log and metrics.
type StatusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *StatusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Status is the response's status code, 0 while nothing is written.
func (w *StatusRecorder) Status() int { return w.status }

// Unwrap lets http.ResponseController reach the underlying writer (flushing for server-sent events).
func (w *StatusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withObservation writes one access-log line per request and records the request metrics, labelled by the
// route pattern the mux matched (set on r by ServeMux as it routes).
func (k *Kit) withObservation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &StatusRecorder{ResponseWriter: w}
		k.metrics.inFlight.Inc()
		defer k.metrics.inFlight.Dec()
		ctx, notes := logging.WithAnnotations(r.Context())
		inner := r.WithContext(ctx)

		next.ServeHTTP(rec, inner)
		// The mux set the pattern and the path values on the request it routed; the middleware outside reads the
		// pattern too.
		r.Pattern = inner.Pattern

		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		elapsed := time.Since(start)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		k.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		k.metrics.duration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
		attrs := append(make([]slog.Attr, 0, 10), slog.String("method", r.Method), slog.String("path", loggablePath(inner)),
			slog.String("route", route), slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", elapsed), slog.String("remote", r.RemoteAddr),
			slog.String("client", k.ClientIP(r).String()))
		// The executions the request created (execution_id), so that a 202 leads to them.
		attrs = append(attrs, notes.Attrs()...)
		logging.From(r.Context(), k.cfg.Logger).LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// loggablePath is the request's path with secret path segments (the {token} of invitation and webhook links)
// replaced, so access logs never hold a usable link. The query string is never logged at all.
func loggablePath(r *http.Request) string {
	if strings.Contains(r.Pattern, "{token}") {
		if t := r.PathValue("token"); t != "" {
			return strings.Replace(r.URL.Path, t, "[redacted]", 1)
		}
	}
	return r.URL.Path
}

// withRecovery turns a handler panic into a logged 500 instead of a dropped connection.
func (k *Kit) withRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logging.From(r.Context(), k.cfg.Logger).Error("handler panic",
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withTextURL refuses a request whose path or query decodes to a NUL character or invalid UTF-8, naming the part:
// no handler then passes such bytes to a query (PostgreSQL refuses them in text) or into trigger data.
func (k *Kit) withTextURL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := validate.Text("path", r.URL.Path)
		if err == nil && r.URL.RawQuery != "" {
			err = validate.Values("query", r.URL.Query())
		}
		if err != nil {
			k.Problem(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
