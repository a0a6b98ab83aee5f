package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/service"
)

// eventsChannel is the Postgres NOTIFY channel of execution and node status changes.
const eventsChannel = "concertmaster_execution_events"

// ExecutionEvent is one status change, small enough for a NOTIFY payload: listeners read details from the database.
// NodeID is set for a node's change; CancelRequested for a cancel request that running workers must act on.
type ExecutionEvent struct {
	ExecutionID    uuid.UUID `json:"e"`
	OrganizationID uuid.UUID `json:"o"`
	WorkflowID     uuid.UUID `json:"w"`
	Status         string    `json:"s"`
	NodeID         string    `json:"n,omitempty"`
	NodeStatus     string    `json:"ns,omitempty"`
	// Nodes carries the node runs written together with an execution's status (the pure nodes' runs, recorded at
	// its end): one notification for the lot instead of one each. Runs beyond maxEventNodes are left out, and
	// listeners read them from the database.
	Nodes           []NodeStatusEvent `json:"ra,omitempty"`
	ItemIndex       *int              `json:"i,omitempty"`
	CancelRequested bool              `json:"c,omitempty"`
	// Resync is set on an event the subscriber makes itself after reconnecting to the database: events may have
	// been missed, so a listener should re-read what it shows.
	Resync bool `json:"-"`
	// Bell is set on the event of new in-app notifications (BellChannel), for the users in BellUsers (all users
	// when empty: re-read); it carries no execution.
	Bell      bool        `json:"-"`
	BellUsers []uuid.UUID `json:"-"`
}

// NodeStatusEvent is one node run's status inside an execution's event.
type NodeStatusEvent struct {
	NodeID    string `json:"n"`
	Status    string `json:"s"`
	ItemIndex *int   `json:"i,omitempty"`
}

// maxEventNodes keeps a notification far below PostgreSQL's 8000-byte payload limit.
const maxEventNodes = 64

// withNodes folds node runs into an execution's event.
func (e ExecutionEvent) withNodes(runs []engine.NodeRun) ExecutionEvent {
	for _, r := range runs[:min(len(runs), maxEventNodes)] {
		e.Nodes = append(e.Nodes, NodeStatusEvent{NodeID: r.NodeID, Status: string(r.Status), ItemIndex: r.ItemIndex})
	}
	return e
}

// notifyTx publishes events when tx commits (NOTIFY is transactional), in one statement whatever their number.
func (s *Store) notifyTx(ctx context.Context, tx pgx.Tx, events []ExecutionEvent) error {
	if len(events) == 0 {
		return nil
	}
	payloads := make([]string, len(events))
	for i, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		payloads[i] = string(b)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", eventsChannel, payloads); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	return nil
}

// ExecutionEvents relays the status changes that any instance publishes to subscribers in this process, over one
// dedicated LISTEN connection that reconnects by itself (a NotifyListener). It is a service.Service: it listens
// once started.
type ExecutionEvents struct {
	*NotifyListener
	logger *slog.Logger

	mu     sync.Mutex
	subs   map[uint64]*subscription
	nextID uint64
}

type subscription struct {
	match func(ExecutionEvent) bool
	ch    chan ExecutionEvent
}

// NewExecutionEvents returns a relay; it must be started for subscribers to receive anything.
func NewExecutionEvents(pool *pgxpool.Pool, arch *service.Archetype) *ExecutionEvents {
	r := &ExecutionEvents{logger: arch.Logger, subs: map[uint64]*subscription{}}
	r.NotifyListener = NewNotifyListener(pool, arch, r.notified, func() { r.deliver(ExecutionEvent{Resync: true}) },
		eventsChannel, BellChannel)
	return r
}

// notified relays a NOTIFY: an execution's status change, or (BellChannel) the users whose unread count moved.
func (r *ExecutionEvents) notified(channel, payload string) {
	var e ExecutionEvent
	if channel == BellChannel {
		e.Bell = true
		_ = json.Unmarshal([]byte(payload), &e.BellUsers)
		r.deliver(e)
		return
	}
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		r.logger.Error("execution events: bad payload", "payload", payload, "error", err)
		return
	}
	r.deliver(e)
}

// Subscribe returns a channel of the events match accepts (all when match is nil) and a function to unsubscribe.
// A subscriber that does not keep up loses events rather than slowing the others: buffer sizes the slack.
func (r *ExecutionEvents) Subscribe(match func(ExecutionEvent) bool, buffer int) (<-chan ExecutionEvent, func()) {
	sub := &subscription{match: match, ch: make(chan ExecutionEvent, max(buffer, 1))}
	r.mu.Lock()
	id := r.nextID
	r.nextID++
	r.subs[id] = sub
	r.mu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.subs, id)
			r.mu.Unlock()
		})
	}
}

func (r *ExecutionEvents) deliver(e ExecutionEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sub := range r.subs {
		if sub.match != nil && !e.Resync && !sub.match(e) {
			continue
		}
		select {
		case sub.ch <- e:
		default: // too slow: drop rather than block every other subscriber
		}
	}
}

// NotifyListener LISTENs to Postgres NOTIFY channels over a dedicated connection (not one of the pool's, which
// a LISTEN would pin) and hands every payload to notify, reconnecting by itself after a lost connection with a
// capped backoff. Notifications sent while it was disconnected are lost, so after each reconnect it calls
// reconnected, for its user to re-read what it keeps. It is a service.Service: it listens once started.
type NotifyListener struct {
	*service.Loop
	pool        *pgxpool.Pool
	logger      *slog.Logger
	clock       clockwork.Clock
	channels    []string
	notify      func(channel, payload string)
	reconnected func()
	// listening is closed once the first LISTEN is in place, so that a caller can know no later NOTIFY is missed.
	listening     chan struct{}
	listeningOnce sync.Once
}

// NewNotifyListener returns a listener of channels (fixed identifiers, never user input); notify and reconnected
// run on its goroutine, one at a time, and must not block for long.
func NewNotifyListener(pool *pgxpool.Pool, arch *service.Archetype, notify func(channel, payload string),
	reconnected func(), channels ...string) *NotifyListener {
	l := &NotifyListener{pool: pool, logger: arch.Logger, clock: arch.Clock, channels: channels, notify: notify,
		reconnected: reconnected, listening: make(chan struct{})}
	l.Loop = service.NewLoop(l.run)
	return l
}

// Listening is closed once the listener's first LISTEN is in place.
func (l *NotifyListener) Listening() <-chan struct{} { return l.listening }

// run listens until ctx ends, reconnecting after a lost connection with a capped backoff.
func (l *NotifyListener) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for first := true; ; first = false {
		err := l.listen(ctx, !first)
		if ctx.Err() != nil {
			return
		}
		l.logger.Warn("notify listener: connection lost; reconnecting", "channels", l.channels, "error", err, "in", backoff)
		timer := l.clock.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.Chan():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (l *NotifyListener) listen(ctx context.Context, resync bool) error {
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	listen := make([]string, len(l.channels))
	for i, c := range l.channels {
		listen[i] = "LISTEN " + c
	}
	if _, err := conn.Exec(ctx, strings.Join(listen, "; ")); err != nil {
		return err
	}
	l.listeningOnce.Do(func() { close(l.listening) })
	if resync && l.reconnected != nil {
		l.reconnected()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.notify(n.Channel, n.Payload)
	}
}
