package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Workflow is a workflow's head: its settings and the number of its newest version.
type Workflow struct {
	ID               uuid.UUID
	OrganizationID   uuid.UUID
	Name             string
	Description      string
	CreatedBy        *uuid.UUID
	Version          int32
	Active           bool
	Priority         int16
	ConcurrencyLimit *int32
	ArchivedAt       *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// WorkflowVersion is one immutable saved definition.
type WorkflowVersion struct {
	ID         uuid.UUID
	WorkflowID uuid.UUID
	Number     int32
	Definition json.RawMessage
	AuthorID   *uuid.UUID
	AuthorName string
	Message    string
	CreatedAt  time.Time
}

// NewWorkflow is what WorkflowCreate needs. The definition must have been validated by the engine.
type NewWorkflow struct {
	OrganizationID   uuid.UUID
	Name             string
	Description      string
	Definition       json.RawMessage
	AuthorID         *uuid.UUID
	Priority         int16
	ConcurrencyLimit *int32
}

// WorkflowCreate writes a workflow and its first version in one transaction.
func (s *Store) WorkflowCreate(ctx context.Context, by Actor, in NewWorkflow) (Workflow, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Workflow{}, err
	}
	if in.Priority == 0 {
		in.Priority = 2
	}
	var out Workflow
	err = s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.WorkflowCreate(ctx, db.WorkflowCreateParams{ID: id, OrganizationID: in.OrganizationID,
			Name: in.Name, Description: in.Description, CreatedBy: in.AuthorID, Priority: in.Priority,
			ConcurrencyLimit: in.ConcurrencyLimit})
		if err != nil {
			return interpret(err, "workflow")
		}
		if _, err := q.WorkflowVersionCreate(ctx, db.WorkflowVersionCreateParams{OrganizationID: in.OrganizationID,
			WorkflowID: id, Number: 1, Definition: in.Definition, AuthorID: in.AuthorID, Message: "created"}); err != nil {
			return interpret(err, "workflow version")
		}
		out = workflowFromRow(db.WorkflowGetRow(row))
		return audit(ctx, q, by, auditRecord{OrganizationID: &out.OrganizationID, Action: "workflow.create",
			TargetType: "workflow", TargetID: out.ID.String(), After: workflowSummary(out)})
	})
	return out, err
}

// workflowSummary is what the audit log keeps of a workflow: never its definition, which may be large.
func workflowSummary(w Workflow) map[string]any {
	return map[string]any{"name": w.Name, "version": w.Version, "active": w.Active}
}

// WorkflowUpdate is a save of a workflow: a new version from the version the editor started from.
type WorkflowUpdate struct {
	OrganizationID uuid.UUID
	ID             uuid.UUID
	// BaseVersion is the version the edit started from; a newer head makes the save a conflict.
	BaseVersion      int32
	Name             *string
	Description      *string
	Priority         *int16
	ConcurrencyLimit **int32
	Definition       json.RawMessage
	AuthorID         *uuid.UUID
	Message          string
	// NextRun is when the new version's schedule trigger fires next (nil when its trigger is not a schedule); an
	// active workflow is rescheduled with it.
	NextRun *time.Time
}

// WorkflowSave writes a new immutable version. A save against a stale version is a Conflict whose message names
// who saved in between and when.
func (s *Store) WorkflowSave(ctx context.Context, by Actor, in WorkflowUpdate) (Workflow, error) {
	var out Workflow
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		p := db.WorkflowUpdateHeadParams{ID: in.ID, OrganizationID: in.OrganizationID, ExpectedVersion: in.BaseVersion,
			Name: in.Name, Description: in.Description, Priority: in.Priority}
		if in.ConcurrencyLimit != nil {
			p.SetConcurrencyLimit, p.ConcurrencyLimit = true, *in.ConcurrencyLimit
		}
		row, err := q.WorkflowUpdateHead(ctx, p)
		if err == pgx.ErrNoRows {
			return s.saveConflict(ctx, q, in)
		}
		if err != nil {
			return interpret(err, "workflow")
		}
		if _, err := q.WorkflowVersionCreate(ctx, db.WorkflowVersionCreateParams{OrganizationID: in.OrganizationID,
			WorkflowID: in.ID, Number: row.CurrentVersion, Definition: in.Definition, AuthorID: in.AuthorID,
			Message: in.Message}); err != nil {
			return interpret(err, "workflow version")
		}
		out = workflowFromRow(db.WorkflowGetRow(row))
		if err := setSchedule(ctx, q, out, in.NextRun); err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &out.OrganizationID, Action: "workflow.save",
			TargetType: "workflow", TargetID: out.ID.String(), Before: map[string]any{"version": in.BaseVersion},
			After: workflowSummary(out)})
	})
	return out, err
}

// saveConflict explains why a save found no head to move: the workflow is gone, archived, or moved on.
func (s *Store) saveConflict(ctx context.Context, q *db.Queries, in WorkflowUpdate) error {
	head, err := q.WorkflowGet(ctx, db.WorkflowGetParams{ID: in.ID, OrganizationID: in.OrganizationID})
	if err != nil {
		return interpret(err, "workflow")
	}
	if head.ArchivedAt != nil {
		return fault.New(fault.Conflict, "the workflow is archived")
	}
	latest, err := q.WorkflowVersionLatestAuthor(ctx, db.WorkflowVersionLatestAuthorParams{WorkflowID: in.ID,
		OrganizationID: in.OrganizationID})
	if err != nil {
		return interpret(err, "workflow version")
	}
	who := latest.AuthorName
	if who == "" {
		who = "someone"
	}
	return fault.New(fault.Conflict, "version %d was saved by %s at %s after the version %d you edited; reload to see it",
		latest.Number, who, latest.CreatedAt.UTC().Format(time.RFC3339), in.BaseVersion)
}

// WorkflowGet returns a workflow's head.
func (s *Store) WorkflowGet(ctx context.Context, orgID, id uuid.UUID) (Workflow, error) {
	row, err := s.q.WorkflowGet(ctx, db.WorkflowGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return Workflow{}, interpret(err, "workflow")
	}
	return workflowFromRow(db.WorkflowGetRow(row)), nil
}

// WorkflowVersion returns one version of a workflow; number 0 means the newest.
func (s *Store) WorkflowVersion(ctx context.Context, orgID, workflowID uuid.UUID, number int32) (WorkflowVersion, error) {
	if number == 0 {
		head, err := s.WorkflowGet(ctx, orgID, workflowID)
		if err != nil {
			return WorkflowVersion{}, err
		}
		number = head.Version
	}
	row, err := s.q.WorkflowVersionGet(ctx, db.WorkflowVersionGetParams{WorkflowID: workflowID, Number: number,
		OrganizationID: orgID})
	if err != nil {
		return WorkflowVersion{}, interpret(err, "workflow version")
	}
	return versionFromRow(row), nil
}

// WorkflowVersions lists a workflow's versions, newest first, without their definitions.
func (s *Store) WorkflowVersions(ctx context.Context, orgID, workflowID uuid.UUID, limit int) ([]WorkflowVersion, error) {
	rows, err := s.q.WorkflowVersionList(ctx, db.WorkflowVersionListParams{WorkflowID: workflowID,
		OrganizationID: orgID, MaxRows: int32(clampLimit(limit))})
	if err != nil {
		return nil, interpret(err, "workflow versions")
	}
	out := make([]WorkflowVersion, len(rows))
	for i, r := range rows {
		out[i] = WorkflowVersion{ID: r.ID, WorkflowID: workflowID, Number: r.Number, AuthorID: r.AuthorID,
			AuthorName: r.AuthorName, Message: r.Message, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// WorkflowFilter narrows WorkflowList; zero fields do not filter.
type WorkflowFilter struct {
	Query    string
	Active   *bool
	Archived bool
	Before   *Workflow
	Limit    int
}

// WorkflowList pages through an organization's workflows, newest first; with a Query, it is a full-text search on
// name and description instead, best match first, and one page (Before must be nil: a ranking has no keyset).
func (s *Store) WorkflowList(ctx context.Context, orgID uuid.UUID, f WorkflowFilter) ([]Workflow, error) {
	if f.Query != "" {
		return s.workflowSearch(ctx, orgID, f)
	}
	p := db.WorkflowListParams{OrganizationID: orgID, Active: f.Active, Archived: f.Archived,
		MaxRows: int32(clampLimit(f.Limit))}
	if f.Before != nil {
		p.BeforeCreatedAt, p.BeforeID = &f.Before.CreatedAt, &f.Before.ID
	}
	rows, err := s.r.WorkflowList(ctx, p)
	if err != nil {
		return nil, interpret(err, "workflows")
	}
	out := make([]Workflow, len(rows))
	for i, r := range rows {
		out[i] = workflowFromRow(db.WorkflowGetRow(r))
	}
	return out, nil
}

func (s *Store) workflowSearch(ctx context.Context, orgID uuid.UUID, f WorkflowFilter) ([]Workflow, error) {
	terms, err := parseSearch("q", f.Query)
	if err == nil && f.Before != nil {
		err = errSearchHasOnePage
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.r.WorkflowSearch(ctx, db.WorkflowSearchParams{OrganizationID: orgID, Words: terms.Words,
		Prefix: terms.Prefix, Active: f.Active, Archived: f.Archived, MaxRows: int32(clampLimit(f.Limit))})
	if err != nil {
		return nil, interpret(err, "workflows")
	}
	out := make([]Workflow, len(rows))
	for i, r := range rows {
		out[i] = workflowFromRow(db.WorkflowGetRow(r))
	}
	return out, nil
}

// WorkflowSetActive turns a workflow's triggers on or off. nextRun is when its schedule trigger fires next (nil
// when its trigger is not a schedule); activating registers it with the scheduler and deactivating removes it, in
// the same transaction.
func (s *Store) WorkflowSetActive(ctx context.Context, by Actor, orgID, id uuid.UUID, active bool, nextRun *time.Time) (Workflow, error) {
	var out Workflow
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.WorkflowSetActive(ctx, db.WorkflowSetActiveParams{ID: id, OrganizationID: orgID, Active: active})
		if err != nil {
			return interpret(err, "workflow")
		}
		out = workflowFromRow(db.WorkflowGetRow(row))
		if err := setSchedule(ctx, q, out, nextRun); err != nil {
			return err
		}
		action := "workflow.deactivate"
		if active {
			action = "workflow.activate"
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: action, TargetType: "workflow",
			TargetID: id.String(), After: workflowSummary(out)})
	})
	return out, err
}

// WorkflowArchive hides a workflow and deactivates it; its executions stay.
func (s *Store) WorkflowArchive(ctx context.Context, by Actor, orgID, id uuid.UUID) (Workflow, error) {
	var out Workflow
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.WorkflowArchive(ctx, db.WorkflowArchiveParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "workflow")
		}
		out = workflowFromRow(db.WorkflowGetRow(row))
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "workflow.archive", TargetType: "workflow",
			TargetID: id.String(), Before: workflowSummary(out)})
	})
	return out, err
}

// setSchedule keeps a workflow's scheduler row true to its state: present, at nextRun, while it is active with a
// schedule trigger; absent otherwise.
func setSchedule(ctx context.Context, q *db.Queries, w Workflow, nextRun *time.Time) error {
	if w.Active && nextRun != nil {
		return interpret(q.ScheduleUpsert(ctx, db.ScheduleUpsertParams{WorkflowID: w.ID, OrganizationID: w.OrganizationID,
			NextRunAt: *nextRun}), "schedule")
	}
	return interpret(q.ScheduleDelete(ctx, db.ScheduleDeleteParams{WorkflowID: w.ID, OrganizationID: w.OrganizationID}), "schedule")
}

// WorkflowNextRun returns when an active scheduled workflow fires next, nil when it is not scheduled.
func (s *Store) WorkflowNextRun(ctx context.Context, orgID, id uuid.UUID) (*time.Time, error) {
	row, err := s.q.ScheduleGet(ctx, db.ScheduleGetParams{WorkflowID: id, OrganizationID: orgID})
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, interpret(err, "schedule")
	}
	return &row.NextRunAt, nil
}

// WorkflowHead is what starting an execution of a workflow needs.
type WorkflowHead struct {
	WorkflowID     uuid.UUID
	OrganizationID uuid.UUID
	Active         bool
	Priority       int16
	VersionID      uuid.UUID
	Version        int32
}

// WorkflowHeadForRun returns the current version of a workflow that is not archived.
func (s *Store) WorkflowHeadForRun(ctx context.Context, orgID, id uuid.UUID) (WorkflowHead, error) {
	r, err := s.q.WorkflowHeadForTrigger(ctx, db.WorkflowHeadForTriggerParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return WorkflowHead{}, interpret(err, "workflow")
	}
	return WorkflowHead{WorkflowID: r.WorkflowID, OrganizationID: r.OrganizationID, Active: r.Active,
		Priority: r.Priority, VersionID: r.VersionID, Version: r.Number}, nil
}

func workflowFromRow(r db.WorkflowGetRow) Workflow {
	return Workflow{ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, Description: r.Description,
		CreatedBy: r.CreatedBy, Version: r.CurrentVersion, Active: r.Active, Priority: r.Priority,
		ConcurrencyLimit: r.ConcurrencyLimit, ArchivedAt: r.ArchivedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func versionFromRow(r db.WorkflowVersion) WorkflowVersion {
	return WorkflowVersion{ID: r.ID, WorkflowID: r.WorkflowID, Number: r.Number, Definition: r.Definition,
		AuthorID: r.AuthorID, Message: r.Message, CreatedAt: r.CreatedAt}
}

// WorkflowSummary is what the workflow list shows of a workflow beyond its row: its trigger type and its latest
// execution (LastStatus "" and LastRunAt nil when it never ran).
type WorkflowSummary struct {
	TriggerType string
	LastStatus  string
	LastRunAt   *time.Time
}

// WorkflowSummaries returns the summary of each of workflowIDs (all of org), in one query.
func (s *Store) WorkflowSummaries(ctx context.Context, orgID uuid.UUID, workflowIDs []uuid.UUID) (map[uuid.UUID]WorkflowSummary, error) {
	rows, err := s.q.WorkflowListSummaries(ctx, db.WorkflowListSummariesParams{OrganizationID: orgID, Ids: workflowIDs})
	if err != nil {
		return nil, interpret(err, "workflow summaries")
	}
	out := make(map[uuid.UUID]WorkflowSummary, len(rows))
	for _, r := range rows {
		sum := WorkflowSummary{TriggerType: r.TriggerType, LastStatus: r.LastStatus}
		if r.LastStatus != "" {
			sum.LastRunAt = &r.LastRunAt
		}
		out[r.WorkflowID] = sum
	}
	return out, nil
}
