// Package batch is the one group-commit primitive: items submitted by many goroutines are collected into a batch
// for a window after the batch's first item, or until the batch is full, and written by one flush function; each
// submitter learns its own item's outcome once that flush has finished. The execution ingester, the workers'
// completions and the webhook delivery log are built on it, so all three group, shut down and report alike.
package batch

import (
	"context"
	"slices"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/service"
)

// Config sizes a Batcher.
type Config struct {
	// Window is how long a batch stays open for more items after its first one.
	Window time.Duration
	// MaxSize closes a batch before its window ends once it holds this many items.
	MaxSize int
	// Queue is how many submitted items may wait while the batcher is busy (collecting or flushing); beyond it,
	// Submit waits and Offer drops. Zero means 4 × MaxSize.
	Queue int
	// FlushTimeout bounds one flush, in real time whatever the clock: a flush is I/O. Stopping the batcher does
	// not cut a flush short, since its submitters wait for it. Zero means 30 seconds.
	FlushTimeout time.Duration
	// Clock times the windows; nil means the real clock.
	Clock clockwork.Clock
}

// Result is one item's outcome: the value its submitter gets, or its error.
type Result[R any] struct {
	Value R
	Err   error
}

// FlushFunc writes a batch. It records each item's outcome in results[i] (results arrive zeroed: success with a
// zero value) and must not keep items or results after it returns: the batcher reuses them.
type FlushFunc[T, R any] func(ctx context.Context, items []T, results []Result[R])

// Batcher groups items into batches and flushes them from one goroutine. It is a service.Service: nothing is
// flushed before Start, and Stop flushes every item already taken before it returns.
type Batcher[T, R any] struct {
	*service.Loop
	cfg      Config
	flush    FlushFunc[T, R]
	requests chan request[T, R]

	// Owned by the loop goroutine, reused from one batch to the next.
	pending []request[T, R]
	items   []T
	results []Result[R]
}

type request[T, R any] struct {
	item T
	// done receives the item's outcome; nil for an item offered without waiting.
	done chan Result[R]
}

// New returns a batcher; Start must be called for anything to be flushed.
func New[T, R any](cfg Config, flush FlushFunc[T, R]) *Batcher[T, R] {
	cfg.MaxSize = max(cfg.MaxSize, 1)
	if cfg.Queue <= 0 {
		cfg.Queue = 4 * cfg.MaxSize
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 30 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	b := &Batcher[T, R]{cfg: cfg, flush: flush, requests: make(chan request[T, R], cfg.Queue)}
	b.Loop = service.NewLoop(b.run)
	return b
}

// Submit adds item to a batch and waits until that batch is flushed, returning the item's result.
//
//   - Once the batcher has stopped, it returns service.ErrStopped and the item is not written: not now, not later.
//   - When ctx ends first it returns ctx's error. An item not yet taken is then never written; one already taken
//     may still be: the caller only stops waiting for it.
func (b *Batcher[T, R]) Submit(ctx context.Context, item T) (R, error) {
	var zero R
	select {
	case <-b.Done():
		return zero, service.ErrStopped
	default:
	}
	req := request[T, R]{item: item, done: make(chan Result[R], 1)}
	select {
	case b.requests <- req:
	case <-b.Done():
		return zero, service.ErrStopped
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.Value, res.Err
	case <-b.Done():
		// The loop flushed everything it took before stopping; an item that slipped in after was not written.
		select {
		case res := <-req.done:
			return res.Value, res.Err
		default:
			return zero, service.ErrStopped
		}
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Offer adds item to a batch without waiting for anything; its outcome is left to the flush function (to log).
// It reports whether the item was queued: it is dropped when the queue is full or the batcher has stopped. An item
// queued at the very moment the batcher stops may be lost too: Offer is for writes that may be lost.
func (b *Batcher[T, R]) Offer(item T) bool {
	select {
	case <-b.Done():
		return false
	default:
	}
	select {
	case b.requests <- request[T, R]{item: item}:
		return true
	default:
		return false
	}
}

// run collects and flushes batches until ctx ends, then flushes whatever is still queued and returns.
func (b *Batcher[T, R]) run(ctx context.Context) {
	// Flushes finish even during shutdown, with the context's values but not its end: submitters wait for them.
	flushCtx := context.WithoutCancel(ctx)
	for {
		select {
		case first := <-b.requests:
			b.collect(ctx, first)
			b.flushPending(flushCtx)
		case <-ctx.Done():
			b.drain(flushCtx)
			return
		}
	}
}

// collect fills pending from first until the batch is full, its window ends, or ctx ends.
func (b *Batcher[T, R]) collect(ctx context.Context, first request[T, R]) {
	b.pending = append(b.pending[:0], first)
	if len(b.pending) >= b.cfg.MaxSize {
		return
	}
	// The timer is stopped before the flush, so that a fake clock counts it only while the batch is open.
	timer := b.cfg.Clock.NewTimer(b.cfg.Window)
	defer timer.Stop()
	for len(b.pending) < b.cfg.MaxSize {
		select {
		case r := <-b.requests:
			b.pending = append(b.pending, r)
		case <-timer.Chan():
			return
		case <-ctx.Done():
			return
		}
	}
}

// drain flushes everything queued, in full batches, without waiting for more.
func (b *Batcher[T, R]) drain(ctx context.Context) {
	for {
		b.pending = b.pending[:0]
	take:
		for len(b.pending) < b.cfg.MaxSize {
			select {
			case r := <-b.requests:
				b.pending = append(b.pending, r)
			default:
				break take
			}
		}
		if len(b.pending) == 0 {
			return
		}
		b.flushPending(ctx)
	}
}

func (b *Batcher[T, R]) flushPending(ctx context.Context) {
	n := len(b.pending)
	b.items = b.items[:0]
	for _, r := range b.pending {
		b.items = append(b.items, r.item)
	}
	b.results = slices.Grow(b.results[:0], n)[:n]
	clear(b.results)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.FlushTimeout)
	b.flush(ctx, b.items, b.results)
	cancel()
	for i, r := range b.pending {
		if r.done != nil {
			r.done <- b.results[i]
		}
	}
	// Let the items' memory go: a batcher idle after a burst should not hold the burst.
	clear(b.pending)
	clear(b.items)
}
