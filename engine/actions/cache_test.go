package actions_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine/actions"
)

func TestMemoryResponseCacheExpiresEntries(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	c := actions.NewMemoryResponseCacheClock(0, clock)
	ctx := context.Background()
	c.Set(ctx, "short", []byte("s"), time.Minute)
	c.Set(ctx, "long", []byte("l"), time.Hour)
	c.Set(ctx, "none", []byte("n"), 0)
	if _, ok := c.Get(ctx, "none"); ok {
		t.Error("an entry without a TTL was kept")
	}
	clock.Advance(time.Minute - time.Second)
	if v, ok := c.Get(ctx, "short"); !ok || string(v) != "s" {
		t.Error("an entry expired early")
	}
	clock.Advance(time.Second)
	if _, ok := c.Get(ctx, "short"); ok {
		t.Error("an entry outlived its TTL")
	}
	if v, ok := c.Get(ctx, "long"); !ok || string(v) != "l" || c.Len() != 1 {
		t.Errorf("the longer entry: %q %v, %d entries", v, ok, c.Len())
	}
	// A replaced entry gives its bytes back: replacing one again and again never evicts its neighbour.
	small := actions.NewMemoryResponseCacheClock(4000, clock)
	small.Set(ctx, "neighbour", make([]byte, 100), time.Hour)
	for range 100 {
		small.Set(ctx, "replaced", make([]byte, 900), time.Hour)
	}
	if _, ok := small.Get(ctx, "neighbour"); !ok || small.Len() != 2 {
		t.Errorf("replacing one entry evicted another (%d entries)", small.Len())
	}
}

// BenchmarkMemoryResponseCacheHit reads one entry from many goroutines, as workers serving a cached GET do.
func BenchmarkMemoryResponseCacheHit(b *testing.B) {
	c := actions.NewMemoryResponseCache(0)
	ctx := context.Background()
	c.Set(ctx, "k", make([]byte, 1024), time.Hour)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := c.Get(ctx, "k"); !ok {
				b.Error("miss")
			}
		}
	})
}

// BenchmarkMemoryResponseCacheChurn stores 1 KiB responses in a cache of 256 KiB, so most stores evict.
func BenchmarkMemoryResponseCacheChurn(b *testing.B) {
	c := actions.NewMemoryResponseCache(256 << 10)
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	value := make([]byte, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i = (i + 7) % len(keys)
		if _, ok := c.Get(ctx, keys[i]); !ok {
			c.Set(ctx, keys[i], value, time.Hour)
		}
	}
}
