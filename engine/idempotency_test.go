package engine_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
)

// TestIdempotencyKeyNamesOneRun: the key is a UUID, the same for the same (execution, node, item) and different
// when any of them differs; no item (outside a loop) is not item 0.
func TestIdempotencyKeyNamesOneRun(t *testing.T) {
	t.Parallel()
	key := func(execution, node string, item *int) string {
		return engine.Input{NodeID: node, Env: &engine.Env{Execution: engine.ExecutionInfo{ID: execution}, ItemIndex: item}}.IdempotencyKey()
	}
	zero, one := 0, 1
	base := key("e1", "call", nil)
	if _, err := uuid.Parse(base); err != nil {
		t.Fatalf("key %q is not a UUID: %v", base, err)
	}
	if again := key("e1", "call", nil); again != base {
		t.Errorf("the same run got %q and %q", base, again)
	}
	seen := map[string]string{base: "e1/call"}
	for name, k := range map[string]string{
		"another execution": key("e2", "call", nil), "another node": key("e1", "mail", nil),
		"item 0": key("e1", "call", &zero), "item 1": key("e1", "call", &one),
	} {
		if prev, dup := seen[k]; dup {
			t.Errorf("%s has the key of %s", name, prev)
		}
		seen[k] = name
	}
	if key("e1", "call", &zero) != key("e1", "call", &zero) {
		t.Error("one loop item's key changes")
	}
}
