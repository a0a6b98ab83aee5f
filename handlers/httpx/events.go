package httpx

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Live execution pages and the canvas follow an execution through server-sent events.

// sseResync is how often an idle event stream checks the execution's status itself and, when it is unchanged,
// sends a comment: that keeps proxies from closing the stream and finds a client that went away, and a change whose
// notification never arrived (NOTIFY is not delivered to a LISTEN connection that was down, and a slow subscriber's
// events are dropped) is still shown within this long instead of never.
const sseResync = 5 * time.Second

// StreamExecution answers with server-sent events about exec: send writes the execution's state at once and again
// after each change the engine announces (a burst coalesced into one), until the execution is final (send says so)
// or the client leaves. It works on whichever instance the browser reached: the changes come from NOTIFY.
func (k *Kit) StreamExecution(w http.ResponseWriter, r *http.Request, changes *store.ExecutionEvents, exec store.Execution,
	send func(ctx context.Context, w io.Writer, exec store.Execution) (final bool, err error)) {
	ctx := r.Context()
	// Subscribe before the first read, so a change between the read and the subscription is not lost.
	events, unsubscribe := changes.Subscribe(func(e store.ExecutionEvent) bool {
		return e.ExecutionID == exec.ID
	}, 16)
	defer unsubscribe()

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a server-wide write timeout must not cut the stream
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	resync := time.NewTicker(sseResync)
	defer resync.Stop()
	seen := exec.Status
	for {
		final, err := send(ctx, w, exec)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil || final {
			if err != nil && ctx.Err() == nil {
				logging.From(ctx, k.cfg.Logger).Warn("execution events: stream ended", "error", err)
			}
			return
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-resync.C:
				if now, err := k.cfg.Store.ExecutionGet(ctx, exec.OrganizationID, exec.ID); err == nil && now.Status != seen {
					seen = now.Status
					break wait
				}
				if _, err := io.WriteString(w, ": heartbeat\n\n"); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
			case <-events:
				break wait
			}
		}
		// Coalesce a burst (several nodes finishing at once) into one redraw.
		for drained := false; !drained; {
			select {
			case <-events:
			default:
				drained = true
			}
		}
	}
}

// FinalStatus reports whether an execution's status can no longer change.
func FinalStatus(status string) bool {
	return status == store.StatusSucceeded || status == store.StatusFailed || status == store.StatusCanceled
}

// sseNewlines turns every line break SSE knows (CR LF, CR, LF) into LF, so none can start a field of its own.
var sseNewlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// WriteSSE writes one server-sent event. A data line may not hold a line break, so each line of data goes on a
// data: line of its own (the client joins them with "\n" again).
func WriteSSE(w io.Writer, event, data string) error {
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	for line := range strings.Lines(sseNewlines.Replace(data)) {
		b.WriteString("data: " + strings.TrimSuffix(line, "\n") + "\n")
	}
	if data == "" {
		b.WriteString("data: \n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
