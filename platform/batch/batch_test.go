package batch_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/batch"
	"github.com/concertmaster/concertmaster/platform/service"
)

const window = time.Millisecond

// errOdd is the per-item error the test flush gives odd items.
var errOdd = errors.New("odd")

type testBundle struct {
	clock *clockwork.FakeClock
	// flushed receives a copy of each flushed batch.
	flushed chan []int
	// ctx bounds every wait of the test.
	ctx context.Context
}

// setup returns a batcher whose flush doubles each item and fails odd ones, on a fake clock.
func setup(t *testing.T, cfg batch.Config) (*batch.Batcher[int, int], *testBundle) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	bundle := &testBundle{clock: clockwork.NewFakeClock(), flushed: make(chan []int, 100), ctx: ctx}
	cfg.Clock = bundle.clock
	cfg.Window = window
	b := batch.New(cfg, func(_ context.Context, items []int, results []batch.Result[int]) {
		bundle.flushed <- slices.Clone(items)
		for i, item := range items {
			results[i].Value = item * 2
			if item%2 == 1 {
				results[i].Err = errOdd
			}
		}
	})
	return b, bundle
}

func (tb *testBundle) nextBatch(t *testing.T) []int {
	t.Helper()
	select {
	case items := <-tb.flushed:
		return items
	case <-tb.ctx.Done():
		t.Fatal("no batch was flushed")
		return nil
	}
}

// submitAll submits items concurrently; the returned function waits for their outcomes and checks each is its own.
func submitAll(t *testing.T, b *batch.Batcher[int, int], items []int) (wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	for _, item := range items {
		wg.Go(func() {
			got, err := b.Submit(context.Background(), item)
			if item%2 == 1 {
				if !errors.Is(err, errOdd) {
					t.Errorf("item %d: error %v, want its own error", item, err)
				}
				return
			}
			if err != nil || got != item*2 {
				t.Errorf("item %d: %d, %v; want %d", item, got, err, item*2)
			}
		})
	}
	return wg.Wait
}

func TestBatchesCloseWhenFullOrAtTheWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		maxSize int
		items   int
		// wantSizes are the sizes of the batches flushed, in order.
		wantSizes []int
	}{
		{"a full batch does not wait for the window", 3, 3, []int{3}},
		{"the window closes a batch that is not full", 10, 1, []int{1}},
		{"items beyond a full batch open the next one", 2, 3, []int{2, 1}},
		{"a batch of one flushes at once", 1, 2, []int{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, bundle := setup(t, batch.Config{MaxSize: tc.maxSize})
			if err := b.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer b.Stop()
			items := make([]int, tc.items)
			for i := range items {
				items[i] = i
			}
			wait := submitAll(t, b, items)
			var flushed []int
			for _, want := range tc.wantSizes {
				if want < tc.maxSize {
					// The batch's window is open, its timer the only one: end the window.
					if err := bundle.clock.BlockUntilContext(bundle.ctx, 1); err != nil {
						t.Fatalf("no window opened: %v", err)
					}
					bundle.clock.Advance(window)
				}
				got := bundle.nextBatch(t)
				if len(got) != want {
					t.Fatalf("flushed %v, want %d items", got, want)
				}
				flushed = append(flushed, got...)
			}
			wait()
			slices.Sort(flushed)
			if !slices.Equal(flushed, items) {
				t.Errorf("flushed %v, want each of %v once", flushed, items)
			}
		})
	}
}

func TestStopFlushesWhatWasTaken(t *testing.T) {
	t.Parallel()
	b, bundle := setup(t, batch.Config{MaxSize: 10})
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	wait := submitAll(t, b, []int{4})
	// The item is taken and its window open; stopping does not wait for the window to end.
	if err := bundle.clock.BlockUntilContext(bundle.ctx, 1); err != nil {
		t.Fatal(err)
	}
	b.Stop()
	if got := bundle.nextBatch(t); !slices.Equal(got, []int{4}) {
		t.Errorf("flushed %v at stop, want [4]", got)
	}
	wait()
}

// TestStopLosesNothingItTook races submitters against Stop: each submitter either gets its item's result, and then
// the item was flushed, or ErrStopped, and then it was not.
func TestStopLosesNothingItTook(t *testing.T) {
	t.Parallel()
	b, bundle := setup(t, batch.Config{MaxSize: 4, Queue: 8})
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 200
	outcomes := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, outcomes[i] = b.Submit(context.Background(), 2*i) })
	}
	b.Stop()
	wg.Wait()
	close(bundle.flushed)
	flushed := map[int]bool{}
	for items := range bundle.flushed {
		for _, item := range items {
			flushed[item] = true
		}
	}
	for i, err := range outcomes {
		switch {
		case err == nil && !flushed[2*i]:
			t.Errorf("item %d succeeded but was not flushed", 2*i)
		case errors.Is(err, service.ErrStopped) && flushed[2*i]:
			t.Errorf("item %d was flushed but its submitter was told the batcher stopped", 2*i)
		case err != nil && !errors.Is(err, service.ErrStopped):
			t.Errorf("item %d: %v", 2*i, err)
		}
	}
}

func TestSubmitWhenItCannotBeTaken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// prepare leaves the batcher in the state under test and returns the context to submit with.
		prepare func(b *batch.Batcher[int, int]) context.Context
		want    error
	}{
		{"after stop", func(b *batch.Batcher[int, int]) context.Context {
			b.Stop()
			return context.Background()
		}, service.ErrStopped},
		{"caller gone while its item waits for a batcher not started", func(*batch.Batcher[int, int]) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, bundle := setup(t, batch.Config{MaxSize: 10})
			ctx := tc.prepare(b)
			if _, err := b.Submit(ctx, 2); !errors.Is(err, tc.want) {
				t.Errorf("submit: %v, want %v", err, tc.want)
			}
			b.Stop()
			select {
			case items := <-bundle.flushed:
				if tc.want == service.ErrStopped {
					t.Errorf("flushed %v after stop", items)
				}
			default:
			}
		})
	}
}

func TestOfferDropsRatherThanWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		started bool
		stopped bool
		// offers are made in order; want is what each reports.
		offers int
		want   []bool
	}{
		{"queued up to the queue's size, then dropped", false, false, 3, []bool{true, true, false}},
		{"dropped after stop", true, true, 1, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, _ := setup(t, batch.Config{MaxSize: 10, Queue: 2})
			if tc.started {
				if err := b.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if tc.stopped {
				b.Stop()
			}
			var got []bool
			for i := range tc.offers {
				got = append(got, b.Offer(i))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("offers reported %v, want %v", got, tc.want)
			}
			b.Stop()
		})
	}
}

func TestOfferedItemsAreFlushedWithoutAWaiter(t *testing.T) {
	t.Parallel()
	b, bundle := setup(t, batch.Config{MaxSize: 2})
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	for i := range 2 {
		if !b.Offer(i) {
			t.Fatalf("offer %d dropped", i)
		}
	}
	if got := bundle.nextBatch(t); fmt.Sprint(got) != "[0 1]" {
		t.Errorf("flushed %v, want [0 1]", got)
	}
}
