package queue

import (
	"fmt"
	"sync"
	"testing"
)

// TestLabelCap: the first keys keep their own value up to the cap, every later one shares the overflow value, and
// a key once admitted keeps its value; concurrent callers never admit more than the cap.
func TestLabelCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limit int
		keys  []string
		want  []string
	}{
		{0, []string{"a", "b"}, []string{"all", "all"}},
		{2, []string{"a", "b", "c", "a", "d", "b"}, []string{"a", "b", "all", "a", "all", "b"}},
	} {
		c := NewLabelCap(tc.limit, "all")
		for i, k := range tc.keys {
			if got := c.Value(k); got != tc.want[i] {
				t.Errorf("cap %d: Value(%q) = %q, want %q", tc.limit, k, got, tc.want[i])
			}
		}
	}
	c := NewLabelCap(10, "other")
	var wg sync.WaitGroup
	var mu sync.Mutex
	distinct := map[string]bool{}
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := c.Value(fmt.Sprint(i))
			mu.Lock()
			distinct[v] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(distinct) != 11 {
		t.Errorf("%d distinct values from a cap of 10, want 10 plus the overflow", len(distinct))
	}
}
