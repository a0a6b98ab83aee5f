package sandbox

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine/value"
)

func newTestPool(t *testing.T, opts Options) *Pool {
	t.Helper()
	p := NewPool(opts)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestRunJQReturnsTheProgramsValues(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, Options{Runners: 2})
	out, err := p.RunJQ(context.Background(), JQ{
		Program:  `.[] | {n: ., who: $who}`,
		VarNames: []string{"$who"}, Vars: [][]byte{[]byte(`"ann"`)},
		Input: []byte(`[1, 2.5]`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `[{"n":1,"who":"ann"},{"n":2.5,"who":"ann"}]` {
		t.Fatalf("got %s", out)
	}
	_, err = p.RunJQ(context.Background(), JQ{Program: `error("nope")`, Input: []byte(`{}`)})
	if err == nil || !strings.Contains(err.Error(), "nope") || value.IsLimit(err) {
		t.Fatalf("got %v, want the program's error", err)
	}
	out, err = p.RunJQ(context.Background(), JQ{Program: `$ENV, (env | length)`, Input: []byte(`{}`)})
	if err != nil || string(out) != `[{},0]` {
		t.Fatalf("a runner sees an environment: %s %v", out, err)
	}
}

// Each hostile program ends with a LimitError naming its limit, and the pool keeps serving.
func TestHostileProgramsEndWithTheirLimit(t *testing.T) {
	t.Parallel()
	skipUnderRace(t)
	// A generous timeout, so that on a busy machine each program meets the limit it is about, not the clock.
	p := newTestPool(t, Options{Runners: 2, Limits: Limits{Timeout: time.Minute}})
	tests := []struct {
		program string
		limit   string
		message string
	}{
		{`reduce range(1000000) as $i (null; [.])`, value.LimitDepth, "nested deeper than EVAL_MAX_DEPTH (128 levels)"},
		{`("x" * 1000000000) | length`, value.LimitMemory, "more than 128 MiB of memory"},
		{`def f: [f]; f`, value.LimitMemory, "more than 128 MiB of memory"},
		{`[range(100000000)] | length`, value.LimitMemory, "more than 128 MiB of memory"},
		{`def f: f; f`, value.LimitTime, "ran longer than 200ms"},
		{`range(200000)`, value.LimitResults, "more than 100000 values"},
		{`[range(1000000) | "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]`, value.LimitOutput, "larger than EVAL_MAX_OUTPUT_BYTES (8388608 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.program, func(t *testing.T) {
			t.Parallel()
			run := JQ{Program: tt.program, Input: []byte(`null`)}
			if tt.limit == value.LimitTime {
				run.Timeout = 200 * time.Millisecond
			}
			_, err := p.RunJQ(context.Background(), run)
			var le *value.LimitError
			if !errors.As(err, &le) || le.Limit != tt.limit || !strings.Contains(le.Message, tt.message) {
				t.Fatalf("got %v, want the %s limit (%q)", err, tt.limit, tt.message)
			}
			out, err := p.RunJQ(context.Background(), JQ{Program: `. + 1`, Input: []byte(`41`)})
			if err != nil || string(out) != `[42]` {
				t.Fatalf("after it, a benign program: %s %v", out, err)
			}
		})
	}
}

func TestHostileDeepValueEncodedInsideJQEndsOnlyItsRunner(t *testing.T) {
	t.Parallel()
	skipUnderRace(t)
	p := newTestPool(t, Options{Runners: 1, Limits: Limits{Timeout: 10 * time.Second}})
	// tojson recurses in Go once per level: enough levels overflow any stack.
	_, err := p.RunJQ(context.Background(), JQ{Program: `reduce range(3000000) as $i (null; [.]) | tojson | length`, Input: []byte(`null`)})
	if !value.IsLimit(err) {
		t.Fatalf("got %v, want a limit", err)
	}
	out, err := p.RunJQ(context.Background(), JQ{Program: `.a`, Input: []byte(`{"a":true}`)})
	if err != nil || string(out) != `[true]` {
		t.Fatalf("after it: %s %v", out, err)
	}
}

func TestCancelKillsTheRunner(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, Options{Runners: 1, Limits: Limits{Timeout: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.RunJQ(ctx, JQ{Program: `def f: f; f`, Input: []byte(`null`)})
		done <- err
	}()
	// Wait until a runner exists and is busy, then cancel.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.turns.available() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the program never started")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancel did not end the program")
	}
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	if idle != 0 {
		t.Fatalf("the canceled runner went back to the pool")
	}
}

func TestHostileTenProgramsAtOnceLeaveRoomForABenignOne(t *testing.T) {
	t.Parallel()
	skipUnderRace(t)
	p := newTestPool(t, Options{Runners: 4, Limits: Limits{Timeout: time.Second}})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			prog := []string{`def f: f; f`, `("x" * 1000000000)`, `def f: [f]; f`}[i%3]
			if _, err := p.RunJQ(context.Background(), JQ{Program: prog, Input: []byte(`null`)}); !value.IsLimit(err) {
				t.Errorf("%s: %v, want a limit", prog, err)
			}
		})
	}
	out, err := p.RunJQ(context.Background(), JQ{Program: `.n * 2`, Input: []byte(`{"n":21}`)})
	if err != nil || string(out) != `[42]` {
		t.Fatalf("benign program: %s %v", out, err)
	}
	wg.Wait()
}

// skipUnderRace skips a test of hostile programs in a race-detector build: its runners (this binary) run gojq many
// times slower and cannot limit their address space, so a gigabyte allocation is really made. `make test` runs
// these tests again without the race detector.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("hostile programs run in the pass without the race detector")
	}
}
