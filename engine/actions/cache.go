package actions

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/engine"
)

// RedisResponseCache is the engine.ResponseCache used when REDIS_URL is set, shared by every worker. Redis errors read
// as misses: a cache that is down costs requests, not failures.
type RedisResponseCache struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisResponseCache returns a cache keeping entries under "concertmaster:http-cache:".
func NewRedisResponseCache(client redis.UniversalClient) *RedisResponseCache {
	return &RedisResponseCache{client: client, prefix: "concertmaster:http-cache:"}
}

// Get implements engine.ResponseCache.
func (c *RedisResponseCache) Get(ctx context.Context, key string) ([]byte, bool) {
	b, err := c.client.Get(ctx, c.prefix+key).Bytes()
	if err != nil {
		return nil, false
	}
	return b, true
}

// Set implements engine.ResponseCache.
func (c *RedisResponseCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	_ = c.client.Set(ctx, c.prefix+key, value, ttl).Err()
}

// MemoryResponseCache is the in-process engine.ResponseCache: least recently used entries go first once it holds
// maxBytes, so a burst of large responses cannot grow the worker's memory.
type MemoryResponseCache struct {
	mu       sync.Mutex
	entries  map[string]*list.Element
	order    *list.List // front: most recently used
	bytes    int
	maxBytes int
	now      func() time.Time
}

type cacheEntry struct {
	key     string
	value   []byte
	expires time.Time
}

// DefaultMemoryCacheBytes bounds the in-process response cache.
const DefaultMemoryCacheBytes = 32 << 20

// NewMemoryResponseCache returns a cache holding at most maxBytes of responses (DefaultMemoryCacheBytes when
// maxBytes <= 0).
func NewMemoryResponseCache(maxBytes int) *MemoryResponseCache {
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryCacheBytes
	}
	return &MemoryResponseCache{entries: map[string]*list.Element{}, order: list.New(), maxBytes: maxBytes, now: time.Now}
}

// Get implements engine.ResponseCache.
func (c *MemoryResponseCache) Get(_ context.Context, key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// Set implements engine.ResponseCache. A value larger than a quarter of the cache is not kept: it would evict too much.
func (c *MemoryResponseCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) {
	size := len(key) + len(value)
	if ttl <= 0 || size > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	for c.bytes+size > c.maxBytes {
		c.remove(c.order.Back())
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, value: value, expires: c.now().Add(ttl)})
	c.bytes += size
}

func (c *MemoryResponseCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.order.Remove(el)
	delete(c.entries, e.key)
	c.bytes -= len(e.key) + len(e.value)
}

// Len is the number of entries held, for tests of the bound.
func (c *MemoryResponseCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// orgCache is a response cache seen by one organization: its keys are prefixed with the organization's id, so
// tenants never share entries whatever key a node chooses.
type orgCache struct {
	cache engine.ResponseCache
	org   string
}

func (c orgCache) Get(ctx context.Context, key string) ([]byte, bool) {
	return c.cache.Get(ctx, c.org+"/"+key)
}

func (c orgCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	c.cache.Set(ctx, c.org+"/"+key, value, ttl)
}
