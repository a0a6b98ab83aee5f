package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/sql/db"
)

// NodePin is a node output pinned in the editor: the draft's data a test run that asks for pins feeds downstream
// instead of running the node, leaving on Port ("" the default port; a branch of a condition).
type NodePin struct {
	NodeID    string
	Port      string
	Data      json.RawMessage
	UpdatedBy *uuid.UUID
	UpdatedAt time.Time
}

// NodePinList returns a workflow's pins, by node id.
func (s *Store) NodePinList(ctx context.Context, orgID, workflowID uuid.UUID) ([]NodePin, error) {
	rows, err := s.q.WorkflowNodePinList(ctx, db.WorkflowNodePinListParams{OrganizationID: orgID, WorkflowID: workflowID})
	if err != nil {
		return nil, interpret(err, "pinned data")
	}
	out := make([]NodePin, len(rows))
	for i, r := range rows {
		out[i] = NodePin{NodeID: r.NodeID, Port: r.Port, Data: r.Data, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

// NodePinSet pins data to a node of a workflow, leaving on port, replacing what was pinned.
func (s *Store) NodePinSet(ctx context.Context, orgID, workflowID uuid.UUID, nodeID, port string, data json.RawMessage, by *uuid.UUID) (NodePin, error) {
	r, err := s.q.WorkflowNodePinSet(ctx, db.WorkflowNodePinSetParams{OrganizationID: orgID, WorkflowID: workflowID,
		NodeID: nodeID, Port: port, Data: data, UpdatedBy: by})
	if err != nil {
		return NodePin{}, interpret(err, "pinned data")
	}
	return NodePin{NodeID: r.NodeID, Port: r.Port, Data: r.Data, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt}, nil
}

// NodePinDelete unpins a node; NotFound when it had no pin.
func (s *Store) NodePinDelete(ctx context.Context, orgID, workflowID uuid.UUID, nodeID string) error {
	n, err := s.q.WorkflowNodePinDelete(ctx, db.WorkflowNodePinDeleteParams{OrganizationID: orgID,
		WorkflowID: workflowID, NodeID: nodeID})
	if err != nil {
		return interpret(err, "pinned data")
	}
	if n == 0 {
		return interpret(pgx.ErrNoRows, "pinned data")
	}
	return nil
}

// WorkflowLastTestRun returns the id of a workflow's newest manual run; NotFound when it has none.
func (s *Store) WorkflowLastTestRun(ctx context.Context, orgID, workflowID uuid.UUID) (uuid.UUID, error) {
	id, err := s.q.WorkflowLastTestRunID(ctx, db.WorkflowLastTestRunIDParams{OrganizationID: orgID, WorkflowID: workflowID})
	if err != nil {
		return uuid.Nil, interpret(err, "test run")
	}
	return id, nil
}
