package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// TriggerKindError is the trigger kind of an execution a trigger.error workflow runs because another failed.
const TriggerKindError = "error"

// ErrorWorkflowOptions is how the store starts error workflows (see SetErrorWorkflowOptions).
type ErrorWorkflowOptions struct {
	// BaseURL prefixes the failed execution's page in the trigger data (BASE_URL); without it the link is a path.
	BaseURL *url.URL
	// Logger hears of error workflows that could not be started (a bug, never a passing database error: those
	// fail the completion, which is retried). Discarded when nil.
	Logger *slog.Logger
}

// SetErrorWorkflowOptions sets how error workflows are started. Call it once, before the store is used.
func (s *Store) SetErrorWorkflowOptions(o ErrorWorkflowOptions) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s.errorWorkflows = o
}

// executionLink is the page of an execution, under BASE_URL when the store knows it.
func (s *Store) executionLink(id uuid.UUID) string {
	return s.baseLink("/executions/" + id.String())
}

// baseLink is path on BASE_URL (path alone when it is not known).
func (s *Store) baseLink(path string) string {
	if s.errorWorkflows.BaseURL == nil {
		return path
	}
	return strings.TrimSuffix(s.errorWorkflows.BaseURL.String(), "/") + path
}

// failedIDs returns the executions of a group of completions that a commit ends as failed: changed says which
// completions changed their execution's status (nil: all of them).
func failedIDs(group []queue.Completion, changed map[uuid.UUID]bool) []uuid.UUID {
	var ids []uuid.UUID
	for _, c := range group {
		if c.Status == engine.ExecutionFailed && (changed == nil || changed[c.Execution.ID]) {
			ids = append(ids, c.Execution.ID)
		}
	}
	return ids
}

// startErrorWorkflowsTx starts, in tx, the error workflows of executions that tx records as failed: their
// executions and jobs commit with the failure, or not at all. Only the failure path calls it; a success costs
// nothing. It runs under a savepoint: when starting them fails for a reason other than the database going away
// (a bug, a row the database refuses), the failure is still recorded and the problem logged, rather than the
// execution left unfinished by a completion that can never commit.
func (s *Store) startErrorWorkflowsTx(ctx context.Context, tx pgx.Tx, failed []uuid.UUID) error {
	if len(failed) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		return s.startErrorWorkflows(ctx, sp, s.q.WithTx(sp), failed)
	})
	if err == nil || transient(err) {
		return err
	}
	s.errorWorkflows.logger().Error("starting error workflows failed; the failures are recorded without them",
		"executions", len(failed), "error", err)
	return nil
}

func (s *Store) startErrorWorkflows(ctx context.Context, tx pgx.Tx, q *db.Queries, failed []uuid.UUID) error {
	targets, err := q.ErrorWorkflowTargets(ctx, failed)
	if err != nil {
		return interpret(err, "error workflows")
	}
	// In workflow id order, the order every writer takes run numbers in (reserveRunNumbers).
	slices.SortStableFunc(targets, func(a, b db.ErrorWorkflowTargetsRow) int { return bytes.Compare(a.WorkflowID[:], b.WorkflowID[:]) })
	for _, t := range targets {
		cfg, err := nodes.ParseErrorConfig(t.TriggerConfig)
		if err != nil {
			// Saving validates the config; a version saved before a change of the schema is skipped, alone.
			s.errorWorkflows.logger().Error("an error workflow's trigger config is not valid; it was not started",
				"workflow_id", t.WorkflowID, "failed_execution_id", t.FailedID, "error", err)
			continue
		}
		trigger, stored := s.errorTrigger(ctx, t.OrganizationID, t.FailedID, t.FailedTriggerData, cfg.MaxTriggerBytes)
		data, err := nodes.ErrorTriggerData(nodes.FailedExecution{ID: t.FailedID.String(),
			WorkflowID: t.FailedWorkflowID.String(), WorkflowName: t.FailedWorkflowName, Version: t.FailedVersion,
			TriggerKind: t.FailedTriggerKind, TriggerData: trigger, TriggerStored: stored, Error: deref(t.FailedError),
			FailedNodeID: deref(t.FailedNodeID), FailedNodeName: t.FailedNodeName, FailedNodeType: t.FailedNodeType,
			StartedAt: t.FailedStartedAt, FinishedAt: t.FailedFinishedAt, Link: s.executionLink(t.FailedID)},
			cfg.MaxTriggerBytes)
		if err != nil {
			return err
		}
		if _, err := s.executionCreateTx(ctx, tx, q, NewExecution{OrganizationID: t.OrganizationID,
			WorkflowID: t.WorkflowID, WorkflowVersionID: t.VersionID, Version: t.Version,
			TriggerKind: TriggerKindError, TriggerData: data, Priority: t.Priority}, nil); err != nil {
			return fmt.Errorf("start error workflow %s for execution %s: %w", t.WorkflowID, t.FailedID, err)
		}
	}
	return nil
}

// errorTrigger gives an error workflow the failed execution's trigger data as it was received, never the file
// storage's reference to it: read back when it fits the error trigger's max_trigger_bytes (the error workflow is
// of the same organization, and the claim is checked), else described by its size, preview and API address, as
// inline data that does not fit is. A read that fails (storage down) falls back to the description: the failure
// must be recorded all the same.
func (s *Store) errorTrigger(ctx context.Context, org, failedID uuid.UUID, data json.RawMessage, maxBytes int) (json.RawMessage, *nodes.StoredTrigger) {
	ref := ParsePayloadRef(data)
	if ref == nil {
		return data, nil
	}
	if ref.Size <= int64(maxBytes) {
		full, err := s.resolve(ctx, org, data)
		if err == nil {
			return full, nil
		}
		s.errorWorkflows.logger().Warn("an error workflow gets a failed execution's stored trigger data by its preview: it could not be read",
			"failed_execution_id", failedID, "error", err)
	}
	return nil, &nodes.StoredTrigger{Size: ref.Size, Preview: ref.Preview,
		URL: s.baseLink("/api/v1/executions/" + failedID.String() + "/payloads/" + ref.Key)}
}

// transient reports whether err may pass on another try: the database went away or was busy (deadlock,
// serialization, resources), or the caller gave up. The completion then fails, and its retry starts the error
// workflows; any other error would fail every retry the same way.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		fault.CodeOf(err) == fault.Unavailable || unreachable(err) != nil {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "40", "53", "57":
			return true
		}
	}
	return false
}

func (o ErrorWorkflowOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}
