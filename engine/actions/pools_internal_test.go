package actions

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/sql/dbtest"
)

func TestPoolCacheReusesAndClosesPools(t *testing.T) {
	t.Parallel()
	_, dbURL := dbtest.NewDatabase(t)
	u, _ := url.Parse(dbURL)
	port, _ := strconv.Atoi(u.Port())
	settings := PostgresSettings{Host: u.Hostname(), Port: port, Database: strings.TrimPrefix(u.Path, "/"),
		User: u.User.Username(), SSLMode: "disable", MaxConnections: 2}
	g, _ := NewGuard([]string{u.Hostname()})
	c := newPoolCache(g)
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()
	// The test database's user is a superuser; the pool's role check has tests of its own (database_test.go).
	privileged := engine.Integration{AllowPrivilegedRole: true}

	p1, done1, err := c.acquire(ctx, "org/a", privileged, settings)
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := p1.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("query: %v", err)
	}
	p2, done2, _ := c.acquire(ctx, "org/a", privileged, settings)
	if p1 != p2 || c.size() != 1 {
		t.Fatal("the same integration got a second pool")
	}
	done1()
	done2()

	// Changed settings get a fresh pool and retire the old one.
	changed := settings
	changed.MaxConnections = 3
	p3, done3, _ := c.acquire(ctx, "org/a", privileged, changed)
	if p3 == p1 || c.size() != 1 {
		t.Fatalf("changed settings: same pool %v, %d pools", p3 == p1, c.size())
	}
	done3()

	// A pool idle past poolIdle is closed when another is acquired; a pool in use never is.
	_, doneB, _ := c.acquire(ctx, "org/b", privileged, settings)
	now = now.Add(poolIdle + time.Second)
	_, doneC, _ := c.acquire(ctx, "org/c", privileged, settings)
	if c.size() != 2 {
		t.Errorf("%d pools after the idle one should have gone", c.size())
	}
	doneB()
	doneC()

	c.close()
	if _, _, err := c.acquire(ctx, "org/a", privileged, settings); err == nil {
		t.Error("acquire after close succeeded")
	}
}
