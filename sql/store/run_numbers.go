package store

import (
	"bytes"
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/sql/db"
)

// runOwner is the workflow (and its organization) a new execution takes a run number from.
type runOwner struct {
	WorkflowID     uuid.UUID
	OrganizationID uuid.UUID
}

// reserveRunNumbers takes a run number for each of owners, in their order, with one statement whatever their
// number (RunNumbersReserve): the i-th execution of a workflow among owners gets that workflow's i-th new number.
// The counters stay locked until the caller's transaction ends; they are locked in workflow id order, the same in
// every caller, so that two writers never wait for each other in a cycle.
func reserveRunNumbers(ctx context.Context, q *db.Queries, owners []runOwner) ([]int64, error) {
	counts := map[uuid.UUID]int64{}
	orgs := map[uuid.UUID]uuid.UUID{}
	for _, o := range owners {
		counts[o.WorkflowID]++
		orgs[o.WorkflowID] = o.OrganizationID
	}
	p := db.RunNumbersReserveParams{WorkflowIds: make([]uuid.UUID, 0, len(counts))}
	for id := range counts {
		p.WorkflowIds = append(p.WorkflowIds, id)
	}
	slices.SortFunc(p.WorkflowIds, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range p.WorkflowIds {
		p.OrganizationIds = append(p.OrganizationIds, orgs[id])
		p.Counts = append(p.Counts, counts[id])
	}
	rows, err := q.RunNumbersReserve(ctx, p)
	if err != nil {
		return nil, interpret(err, "run numbers")
	}
	next := make(map[uuid.UUID]int64, len(rows))
	for _, r := range rows {
		next[r.WorkflowID] = r.LastNumber - counts[r.WorkflowID] + 1
	}
	out := make([]int64, len(owners))
	for i, o := range owners {
		out[i] = next[o.WorkflowID]
		next[o.WorkflowID]++
	}
	return out, nil
}
