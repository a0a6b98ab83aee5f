package ratelimit

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func exercise(t *testing.T, l Limiter, key string) {
	t.Helper()
	ctx := context.Background()
	for i := range 3 {
		ok, _, err := l.Allow(ctx, key, 3, time.Minute)
		if err != nil || !ok {
			t.Fatalf("attempt %d refused (%v)", i+1, err)
		}
	}
	ok, retry, err := l.Allow(ctx, key, 3, time.Minute)
	if err != nil || ok {
		t.Fatalf("fourth attempt allowed (%v)", err)
	}
	if retry <= 0 || retry > time.Minute {
		t.Errorf("retryAfter = %v, want within the window", retry)
	}
	if ok, _, _ := l.Allow(ctx, key+"-other", 3, time.Minute); !ok {
		t.Error("another key shares the count")
	}
}

func TestMemoryLimitsPerKeyAndWindow(t *testing.T) {
	t.Parallel()
	m := NewMemory(0)
	exercise(t, m, "k")

	now := time.Now()
	m.now = func() time.Time { return now }
	for range 2 {
		m.Allow(context.Background(), "w", 1, time.Second)
	}
	if ok, _, _ := m.Allow(context.Background(), "w", 1, time.Second); ok {
		t.Fatal("over the limit within the window")
	}
	now = now.Add(time.Second)
	if ok, _, _ := m.Allow(context.Background(), "w", 1, time.Second); !ok {
		t.Fatal("a new window did not start")
	}
}

func TestMemoryStaysBounded(t *testing.T) {
	t.Parallel()
	m := NewMemory(100)
	for i := range 1000 {
		m.Allow(context.Background(), fmt.Sprint("key", i), 5, time.Hour)
	}
	if n := m.Len(); n > 100 {
		t.Fatalf("holds %d windows, bound is 100", n)
	}
}

func TestMemoryEvictsEndedWindowsFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	m := NewMemoryClock(2, func() time.Time { return now })
	m.Allow(ctx, "live", 1, time.Hour)
	m.Allow(ctx, "ended", 1, time.Second) // the most recently used, but its window ends first
	now = now.Add(2 * time.Second)
	m.Allow(ctx, "new", 1, time.Hour)
	if ok, _, _ := m.Allow(ctx, "live", 1, time.Hour); ok {
		t.Error("a live window was evicted while an ended one was held")
	}
	if n := m.Len(); n != 2 {
		t.Errorf("holds %d windows, bound is 2", n)
	}
}

func TestRedisLimitsAcrossClients(t *testing.T) {
	t.Parallel()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with `make test`, which starts a private Redis")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	a, b := redis.NewClient(opts), redis.NewClient(opts)
	t.Cleanup(func() { a.Close(); b.Close() })
	key := fmt.Sprintf("test-%d", time.Now().UnixNano())
	exercise(t, NewRedis(a), key)
	// A second instance sees the same count.
	if ok, retry, err := NewRedis(b).Allow(context.Background(), key, 3, time.Minute); err != nil || ok || retry <= 0 {
		t.Fatalf("second client: ok=%v retry=%v err=%v", ok, retry, err)
	}
	ttl, err := a.PTTL(context.Background(), "concertmaster:ratelimit:"+key).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("key TTL %v (%v): keys must expire with their window", ttl, err)
	}
}

func TestFallbackKeepsLimitingWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { down.Close() })
	exercise(t, Fallback{Primary: NewRedis(down), Secondary: NewMemory(0)}, "k")
}

// refunds checks Refund takes back one counted event, never goes below zero and never creates a key.
func refunds(t *testing.T, l Limiter, key string) {
	t.Helper()
	ctx := context.Background()
	for range 3 {
		if ok, _, err := l.Allow(ctx, key, 3, time.Minute); err != nil || !ok {
			t.Fatalf("allow: ok=%v err=%v", ok, err)
		}
	}
	if err := l.Refund(ctx, key); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := l.Allow(ctx, key, 3, time.Minute); err != nil || !ok {
		t.Fatalf("after a refund the third place is free again: ok=%v err=%v", ok, err)
	}
	if ok, _, _ := l.Allow(ctx, key, 3, time.Minute); ok {
		t.Fatal("over the limit after a refund")
	}
	// Refunds of an unknown key, and more refunds than events, change nothing.
	other := key + "-refunded"
	for range 5 {
		if err := l.Refund(ctx, other); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if ok, _, _ := l.Allow(ctx, other, 3, time.Minute); !ok {
			t.Fatalf("attempt %d refused: refunds before any event gave credit", i+1)
		}
	}
	if ok, _, _ := l.Allow(ctx, other, 3, time.Minute); ok {
		t.Fatal("refunds of an unknown key gave credit")
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		refunds(t, NewMemory(0), "k")
		// A refund after the window ended does not reach into the next one.
		now := time.Now()
		m := NewMemoryClock(0, func() time.Time { return now })
		m.Allow(context.Background(), "w", 1, time.Second)
		now = now.Add(time.Second)
		m.Refund(context.Background(), "w")
		m.Allow(context.Background(), "w", 1, time.Second)
		if ok, _, _ := m.Allow(context.Background(), "w", 1, time.Second); ok {
			t.Fatal("a stale refund credited the next window")
		}
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv("TEST_REDIS_URL")
		if url == "" {
			t.Fatal("TEST_REDIS_URL is not set: run the tests with `make test`, which starts a private Redis")
		}
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opts)
		t.Cleanup(func() { c.Close() })
		key := fmt.Sprintf("refund-%d", time.Now().UnixNano())
		refunds(t, NewRedis(c), key)
		if n, err := c.Exists(context.Background(), "concertmaster:ratelimit:"+key+"-refunded").Result(); err != nil || n != 1 {
			t.Fatalf("exists = %d %v", n, err)
		}
		if ttl, _ := c.PTTL(context.Background(), "concertmaster:ratelimit:"+key).Result(); ttl <= 0 {
			t.Errorf("a refund lost the key's expiry: %v", ttl)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		t.Parallel()
		down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
		t.Cleanup(func() { down.Close() })
		refunds(t, Fallback{Primary: NewRedis(down), Secondary: NewMemory(0)}, "k")
	})
}

func BenchmarkMemoryAllow(b *testing.B) {
	m := NewMemory(0)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Allow(ctx, "k", 1<<30, time.Hour)
		}
	})
}
