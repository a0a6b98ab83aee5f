package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A tenant with a long line waits its turn with the others: the one request of tenant b is served second, not
// after all of tenant a's.
func TestTurnsGoRoundTheTenants(t *testing.T) {
	t.Parallel()
	tr := newTurns(1)
	ctx := context.Background()
	if err := tr.wait(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	served := make(chan string, 30)
	queued := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			tr.mu.Lock()
			waiting := 0
			for _, line := range tr.lines {
				waiting += len(line)
			}
			tr.mu.Unlock()
			if waiting == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting, want %d", waiting, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 20 {
		go func() {
			if err := tr.wait(ctx, "a"); err == nil {
				served <- "a"
			}
		}()
		queued(i + 1)
	}
	go func() {
		if err := tr.wait(ctx, "b"); err == nil {
			served <- "b"
		}
	}()
	queued(21)
	var order []string
	for range 21 {
		tr.done()
		order = append(order, <-served)
	}
	if order[1] != "b" {
		t.Fatalf("served %v: b waited behind a's line", order)
	}
}

func TestTurnsGivenUpPassOn(t *testing.T) {
	t.Parallel()
	tr := newTurns(1)
	if err := tr.wait(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- tr.wait(ctx, "b") }()
	for {
		tr.mu.Lock()
		n := len(tr.order)
		tr.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	tr.done()
	if tr.available() != 1 {
		t.Fatalf("%d free after everyone left, want 1", tr.available())
	}
}
