package queue

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// Fairness defaults (README, "Fairness between organizations").
const (
	// DefaultOrgQueueShare is how many executions a second an organization enqueues at its workflows' priority.
	DefaultOrgQueueShare = 100
	// DefaultOrgMaxRunning is how many executions of one organization may hold a worker at once.
	DefaultOrgMaxRunning = 200
	// DefaultMaxWorkerStops is how many times an execution may stop its worker before it is failed.
	DefaultMaxWorkerStops = 3
	// OverflowPriority is River's last priority: an organization's executions beyond its share wait there, behind
	// every other organization's executions at their own priority.
	OverflowPriority = 4
)

// lanesMaxOrgs bounds the buckets a Lanes keeps; past it, idle (full) buckets are dropped, which forgets nothing
// that matters since a full bucket is what a new one starts as.
const lanesMaxOrgs = 10_000

// Lanes picks the River priority of each new execution so that organizations interleave: River fetches by
// priority, then in order of insertion, so a backlog of thousands from one organization would otherwise be worked
// to its end before a trickle from another one starts. Each organization has a token bucket of Share executions a
// second (bursts up to one second's worth); an execution within it keeps its workflow's priority, one beyond it goes
// to OverflowPriority. A flood thus lands behind everyone else's work instead of in front of it, and still runs
// as fast as the workers can take it when nobody else is waiting. The rate is measured per process (each instance
// that enqueues grants the share), which is enough: the aim is ordering, not a hard limit. A nil *Lanes keeps every
// priority.
type Lanes struct {
	share float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[uuid.UUID]*laneBucket
}

type laneBucket struct {
	tokens float64
	at     time.Time
}

// NewLanes returns lanes granting share executions a second to each organization; share <= 0 turns the overflow
// lane off. now is the clock (time.Now when nil).
func NewLanes(share float64, now func() time.Time) *Lanes {
	if now == nil {
		now = time.Now
	}
	return &Lanes{share: share, now: now, buckets: map[uuid.UUID]*laneBucket{}}
}

// Priority returns the River priority of one new execution of org whose workflow asks for priority.
func (l *Lanes) Priority(org uuid.UUID, priority int) int {
	if l == nil || l.share <= 0 || priority >= OverflowPriority {
		return priority
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[org]
	if !ok {
		if len(l.buckets) >= lanesMaxOrgs {
			l.dropIdle(now)
		}
		b = &laneBucket{tokens: l.share, at: now}
		l.buckets[org] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.share, b.tokens+elapsed.Seconds()*l.share)
		b.at = now
	}
	if b.tokens < 1 {
		return OverflowPriority
	}
	b.tokens--
	return priority
}

func (l *Lanes) dropIdle(now time.Time) {
	for org, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.share >= l.share {
			delete(l.buckets, org)
		}
	}
}
