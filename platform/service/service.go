// Package service is the one shape of the background services a process runs besides its HTTP server (the group
// commits, the scheduler, the sweeps, the events relay): Start(ctx) puts a service to work in its own goroutine,
// Stop ends it and returns once it has finished. Both are idempotent, and Stop is safe on a service never started.
// Every service takes its logger and its clock from an Archetype, so that tests run a service's loop on a fake clock
// and advance time instead of sleeping through it.
//
// It follows River's rivershared/startstop and baseservice, with one difference on purpose: a service runs once.
// Starting it again after it stopped is refused, because a group commit that has told its callers "stopped" must
// not then write what they went on to retry elsewhere.
package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Service is a background service.
type Service interface {
	// Start puts the service to work in the background and returns. The service runs until ctx ends or Stop is
	// called. Starting a running service does nothing; starting a stopped one is ErrStopped.
	Start(ctx context.Context) error
	// Stop ends the service and returns once it has finished, whatever it does to finish (a group commit writes
	// what it holds). Stopping a stopped service, or one never started, does nothing.
	Stop()
}

// ErrStopped is the answer of a service that has stopped: to Start, and to work handed to it (a group commit's
// Submit) that it did not take.
var ErrStopped = errors.New("the service has stopped")

// Archetype is what every service of a process shares: where it logs and what time it reads.
type Archetype struct {
	Logger *slog.Logger
	// Clock is the real clock in production and a clockwork.FakeClock in tests.
	Clock clockwork.Clock
}

// NewArchetype returns the production archetype: logger, and the real clock.
func NewArchetype(logger *slog.Logger) *Archetype {
	return &Archetype{Logger: logger, Clock: clockwork.NewRealClock()}
}

// Loop is a Service that runs one function in its own goroutine: Start calls run with a context that Stop cancels,
// and Stop waits for run to return. Services embed one and hand it their main loop.
type Loop struct {
	run func(ctx context.Context)

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	// done is closed when run has returned, or by a Stop that came before any Start.
	done     chan struct{}
	doneOnce sync.Once
}

// NewLoop returns a service running run, which must return soon after its context ends.
func NewLoop(run func(ctx context.Context)) *Loop {
	return &Loop{run: run, done: make(chan struct{})}
}

// Start implements Service.
func (l *Loop) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return ErrStopped
	default:
	}
	if l.started {
		return nil
	}
	l.started = true
	ctx, l.cancel = context.WithCancel(ctx)
	go func() {
		defer l.markDone()
		l.run(ctx)
	}()
	return nil
}

// Stop implements Service.
func (l *Loop) Stop() {
	l.mu.Lock()
	if !l.started {
		l.markDone()
	} else {
		l.cancel()
	}
	l.mu.Unlock()
	<-l.done
}

// Done returns a channel closed once the service has stopped: its run returned (Stop was called, or the context
// given to Start ended), or Stop came before any Start.
func (l *Loop) Done() <-chan struct{} { return l.done }

func (l *Loop) markDone() { l.doneOnce.Do(func() { close(l.done) }) }

// NewPeriodic returns a service that calls fn at once and then every interval of clock (measured from the end of
// one round to the start of the next), until it stops. A round in progress sees its context end and is waited for.
//
// Between rounds the service waits on one timer of clock and on nothing else, so a test holding a fake clock knows
// a round has finished when BlockUntilContext(ctx, 1) returns, and starts the next with Advance(interval).
func NewPeriodic(clock clockwork.Clock, interval time.Duration, fn func(ctx context.Context)) *Loop {
	return NewLoop(func(ctx context.Context) {
		for {
			fn(ctx)
			timer := clock.NewTimer(interval)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.Chan():
			}
		}
	})
}

// StartAll starts services in order. When one fails to start, it stops those already started and returns the
// error.
func StartAll(ctx context.Context, services ...Service) error {
	for i, s := range services {
		if err := s.Start(ctx); err != nil {
			StopAll(services[:i]...)
			return err
		}
	}
	return nil
}

// StopAll stops services concurrently and returns once all have stopped.
func StopAll(services ...Service) {
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(s.Stop)
	}
	wg.Wait()
}
