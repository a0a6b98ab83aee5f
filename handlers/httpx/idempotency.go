package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/sql/store"
)

// maxReplayBytes bounds an answer kept for Idempotency-Key replays; API answers to POSTs are far smaller.
const maxReplayBytes = 256 << 10

// IdempotencyTTL is how long an Idempotency-Key's first answer is replayed (API POSTs and webhook calls).
const IdempotencyTTL = 24 * time.Hour

// Idempotent honours an Idempotency-Key header on an API POST: the first request with a key runs and its successful
// answer is kept for 24 hours; a repeat gets the same answer (Idempotent-Replayed: true) without running again, and a
// repeat while the first is still running gets 409. A failed first request frees the key, so a retry can succeed.
// Keys are scoped to the caller and the route. Should the process die between the change and storing its answer,
// the key stays pending (409) until it expires: a repeat never runs twice.
func (k *Kit) Idempotent(pattern string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			next(w, r)
			return
		}
		if len(key) > 255 {
			k.Problem(w, r, fault.Fields("bad Idempotency-Key", fault.FieldError{Field: "Idempotency-Key",
				Message: "must be at most 255 characters"}))
			return
		}
		p := PrincipalFrom(r.Context())
		scope := "api:" + p.UserID.String() + ":" + pattern
		claimed, previous, err := k.cfg.Store.IdempotencyKeyClaim(r.Context(), p.OrgID, scope, key, IdempotencyTTL)
		if err != nil {
			k.Problem(w, r, err)
			return
		}
		if !claimed {
			if previous.StatusCode == store.IdempotencyPending {
				k.Problem(w, r, fault.New(fault.Conflict, "a request with this Idempotency-Key is still being processed"))
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			if string(previous.Body) == "null" {
				w.WriteHeader(previous.StatusCode)
				return
			}
			WriteJSON(w, previous.StatusCode, "application/json", previous.Body)
			return
		}
		rec := &answerRecorder{ResponseWriter: w}
		next(rec, r)
		answer := store.IdempotentResponse{StatusCode: rec.status, Body: json.RawMessage("null")}
		if rec.body.Len() > 0 {
			answer.Body = json.RawMessage(bytes.TrimSpace(rec.body.Bytes()))
		}
		ctx := r.Context()
		if rec.status >= 200 && rec.status < 300 && !rec.overflow && json.Valid(answer.Body) {
			err = k.cfg.Store.IdempotencyKeyComplete(ctx, p.OrgID, scope, key, answer)
		} else {
			err = k.cfg.Store.IdempotencyKeyRelease(ctx, p.OrgID, scope, key)
		}
		if err != nil {
			logging.From(ctx, k.cfg.Logger).Error("storing an idempotent answer failed", "error", err)
		}
	}
}

// answerRecorder passes an answer through while keeping a copy of it.
type answerRecorder struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	overflow bool
}

func (a *answerRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body.Len()+len(b) <= maxReplayBytes {
		a.body.Write(b)
	} else {
		a.overflow = true
	}
	return a.ResponseWriter.Write(b)
}
