package sandbox

import (
	"context"
	"sync"
)

// turns hands out a fixed number of places round-robin between tenants: when all are taken, each tenant waits in
// its own line, and a freed place goes to the next tenant in rotation rather than to whoever asked first.
type turns struct {
	mu    sync.Mutex
	free  int
	lines map[string][]chan struct{}
	order []string // tenants with someone waiting, next first
}

func newTurns(n int) *turns { return &turns{free: n, lines: map[string][]chan struct{}{}} }

// wait returns when the caller holds a place, or with ctx's error.
func (t *turns) wait(ctx context.Context, tenant string) error {
	t.mu.Lock()
	if t.free > 0 && len(t.order) == 0 {
		t.free--
		t.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	if len(t.lines[tenant]) == 0 {
		t.order = append(t.order, tenant)
	}
	t.lines[tenant] = append(t.lines[tenant], ready)
	t.mu.Unlock()

	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	line := t.lines[tenant]
	for i, c := range line {
		if c == ready {
			t.lines[tenant] = append(line[:i:i], line[i+1:]...)
			if len(t.lines[tenant]) == 0 {
				delete(t.lines, tenant)
				t.removeFromOrder(tenant)
			}
			return ctx.Err()
		}
	}
	// The place was granted as ctx ended: hand it on.
	t.handOn()
	return ctx.Err()
}

// done gives a place back.
func (t *turns) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handOn()
}

// handOn gives a freed place to the next tenant in rotation, or keeps it free. The caller holds mu.
func (t *turns) handOn() {
	if len(t.order) == 0 {
		t.free++
		return
	}
	tenant := t.order[0]
	t.order = t.order[1:]
	line := t.lines[tenant]
	close(line[0])
	if rest := line[1:]; len(rest) > 0 {
		t.lines[tenant] = rest
		t.order = append(t.order, tenant)
	} else {
		delete(t.lines, tenant)
	}
}

func (t *turns) removeFromOrder(tenant string) {
	for i, x := range t.order {
		if x == tenant {
			t.order = append(t.order[:i], t.order[i+1:]...)
			return
		}
	}
}

// available reports how many places are free.
func (t *turns) available() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.free
}
