package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

func TestIdempotencyKeyOnCreatingPosts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	body := `{"name":"Once","definition":` + apiFlow + `}`
	key := http.Header{"Idempotency-Key": {"create-once-1"}}

	first := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: body, Header: key})
	again := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: body, Header: key})
	var a, b any
	_ = json.Unmarshal([]byte(first.body), &a)
	_ = json.Unmarshal([]byte(again.body), &b)
	// The same answer (as JSON: the stored copy's key order is PostgreSQL's).
	if first.StatusCode != http.StatusCreated || again.StatusCode != http.StatusCreated || !reflect.DeepEqual(a, b) {
		t.Fatalf("first %d %s, again %d %s", first.StatusCode, first.body, again.StatusCode, again.body)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the repeat was not marked as a replay")
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM workflows WHERE name = 'Once'").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d workflows created (%v), want 1", n, err)
	}
	// A failed first request frees its key: the corrected retry runs.
	bad := http.Header{"Idempotency-Key": {"create-once-2"}}
	if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: `{"name":"Twice"}`, Header: bad}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid first: %d", resp.StatusCode)
	}
	if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: `{"name":"Twice","definition":` + apiFlow + `}`, Header: bad}); resp.StatusCode != http.StatusCreated {
		t.Errorf("corrected retry: %d %s", resp.StatusCode, resp.body)
	}
	// Another user's same key is their own.
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: admin, JSON: body, Header: key}); resp.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("a key was shared across users")
	}
}
