package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/fault"
)

// definitions is a DefinitionSource over a map, counting reads.
type definitions struct {
	mu    sync.Mutex
	defs  map[uuid.UUID]string
	reads map[uuid.UUID]int
}

func (d *definitions) WorkflowDefinition(_ context.Context, id uuid.UUID) (json.RawMessage, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads[id]++
	raw, ok := d.defs[id]
	if !ok {
		return nil, fault.New(fault.NotFound, "no such version")
	}
	return json.RawMessage(raw), nil
}

func TestPlanLoaderReadsAndCompilesAVersionOnce(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	good, broken, missing := uuid.New(), uuid.New(), uuid.New()
	src := &definitions{reads: map[uuid.UUID]int{}, defs: map[uuid.UUID]string{
		good:   `{"nodes":[{"id":"hook","type":"trigger.webhook"}],"edges":[]}`,
		broken: `{"nodes":[{"id":"start","type":"no.such.type"}],"edges":[]}`,
	}}
	loader := engine.NewPlanLoader(engine.NewPlanCache(8), reg, src)

	var wg sync.WaitGroup
	plans := make([]*engine.Plan, 8)
	for i := range plans {
		wg.Go(func() {
			p, err := loader.Load(t.Context(), good)
			if err != nil {
				t.Error(err)
			}
			plans[i] = p
		})
	}
	wg.Wait()
	for _, p := range plans {
		if p == nil || p != plans[0] {
			t.Fatal("loads of one version returned different plans")
		}
	}
	if n := src.reads[good]; n != 1 {
		t.Errorf("the definition was read %d times, want once", n)
	}

	// Failures are reported as they are and not cached: the next load reads again.
	for range 2 {
		if _, err := loader.Load(t.Context(), broken); fault.CodeOf(err) != fault.Invalid {
			t.Errorf("broken version: %v, want an Invalid fault", err)
		}
		if _, err := loader.Load(t.Context(), missing); !errors.Is(err, fault.As(err)) || fault.CodeOf(err) != fault.NotFound {
			t.Errorf("missing version: %v, want NotFound", err)
		}
	}
	if src.reads[broken] != 2 || src.reads[missing] != 2 {
		t.Errorf("failures were cached: reads %v", src.reads)
	}
}
