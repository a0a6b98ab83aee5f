package service_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/service"
)

// waitCtx bounds every wait of a test: a service that does not do what it should fails the test, never hangs it.
func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitDone fails the test unless ch closes in time.
func waitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-waitCtx(t).Done():
		t.Fatalf("%s: timed out", what)
	}
}

func TestLoopStartAndStop(t *testing.T) {
	t.Parallel()
	// blockingLoop counts its runs and runs until its context ends.
	blockingLoop := func() (*service.Loop, *atomic.Int32) {
		var runs atomic.Int32
		return service.NewLoop(func(ctx context.Context) {
			runs.Add(1)
			<-ctx.Done()
		}), &runs
	}
	for _, tc := range []struct {
		name string
		// steps drives the loop; wantRuns is how many times it ran in all.
		steps    func(t *testing.T, l *service.Loop)
		wantRuns int32
	}{
		{"start then stop", func(t *testing.T, l *service.Loop) {
			if err := l.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			l.Stop()
		}, 1},
		{"a second start while running does nothing", func(t *testing.T, l *service.Loop) {
			for range 2 {
				if err := l.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			l.Stop()
		}, 1},
		{"a second stop does nothing", func(t *testing.T, l *service.Loop) {
			if err := l.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			l.Stop()
			l.Stop()
		}, 1},
		{"stop without start", func(t *testing.T, l *service.Loop) {
			l.Stop()
			waitDone(t, l.Done(), "done after a stop without start")
		}, 0},
		{"start after stop is refused", func(t *testing.T, l *service.Loop) {
			if err := l.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			l.Stop()
			if err := l.Start(context.Background()); !errors.Is(err, service.ErrStopped) {
				t.Fatalf("start after stop: %v, want ErrStopped", err)
			}
		}, 1},
		{"the start context ending stops it", func(t *testing.T, l *service.Loop) {
			ctx, cancel := context.WithCancel(context.Background())
			if err := l.Start(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			waitDone(t, l.Done(), "done after the context ended")
			l.Stop()
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, runs := blockingLoop()
			tc.steps(t, l)
			select {
			case <-l.Done():
			default:
				t.Fatal("Stop returned before the loop was done")
			}
			if got := runs.Load(); got != tc.wantRuns {
				t.Errorf("ran %d times, want %d", got, tc.wantRuns)
			}
		})
	}
}

func TestStopWaitsForTheRunToReturn(t *testing.T) {
	t.Parallel()
	var finished atomic.Bool
	l := service.NewLoop(func(ctx context.Context) {
		<-ctx.Done()
		finished.Store(true) // what a group commit does when it stops: write what it holds
	})
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Stop()
	if !finished.Load() {
		t.Fatal("Stop returned before the run had finished")
	}
}

func TestPeriodicRunsAtOnceThenEveryInterval(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	clock := clockwork.NewFakeClock()
	rounds := make(chan time.Time, 10)
	p := service.NewPeriodic(clock, time.Minute, func(context.Context) { rounds <- clock.Now() })
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	start := clock.Now()
	for _, tc := range []struct {
		name    string
		advance time.Duration
		// wantAt is the fake time of the round the advance starts, zero when it starts none.
		wantAt time.Duration
	}{
		{"the first round runs at once", 0, 0},
		{"not before the interval", time.Minute - time.Second, -1},
		{"at the interval", time.Second, time.Minute},
		{"an interval after the previous round", time.Minute, 2 * time.Minute},
	} {
		// Between rounds the loop waits on exactly one timer.
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatalf("%s: the loop is not waiting: %v", tc.name, err)
		}
		clock.Advance(tc.advance)
		if tc.wantAt < 0 {
			select {
			case at := <-rounds:
				t.Fatalf("%s: a round ran at %s", tc.name, at.Sub(start))
			default:
			}
			continue
		}
		select {
		case at := <-rounds:
			if at.Sub(start) != tc.wantAt {
				t.Errorf("%s: round at %s, want %s", tc.name, at.Sub(start), tc.wantAt)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no round", tc.name)
		}
	}
}

func TestPeriodicStopCancelsTheRoundInProgress(t *testing.T) {
	t.Parallel()
	inRound := make(chan struct{})
	p := service.NewPeriodic(clockwork.NewFakeClock(), time.Hour, func(ctx context.Context) {
		close(inRound)
		<-ctx.Done()
	})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitDone(t, inRound, "first round")
	p.Stop()
}

func TestStartAllStopsTheStartedOnesWhenOneFails(t *testing.T) {
	t.Parallel()
	started := service.NewLoop(func(ctx context.Context) { <-ctx.Done() })
	failing := service.NewLoop(func(context.Context) {})
	failing.Stop()
	never := service.NewLoop(func(ctx context.Context) { <-ctx.Done() })
	err := service.StartAll(context.Background(), started, failing, never)
	if !errors.Is(err, service.ErrStopped) {
		t.Fatalf("StartAll: %v, want the failing service's error", err)
	}
	waitDone(t, started.Done(), "the service started before the failure")
	if err := never.Start(context.Background()); err != nil {
		t.Fatalf("the service after the failure was touched: %v", err)
	}
	service.StopAll(started, failing, never)
}
