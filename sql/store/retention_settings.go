package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/sql/db"
)

// MaxRetentionDays is the longest retention an organization may set (organization_retention's CHECK).
const MaxRetentionDays = 3650

// OrganizationRetention is an organization's own execution retention; a nil duration keeps the instance default.
type OrganizationRetention struct {
	OrganizationID uuid.UUID
	// Succeeded is how long succeeded executions are kept.
	Succeeded *time.Duration
	// Failed is how long failed and canceled executions are kept.
	Failed *time.Duration
}

func retentionFromRow(r db.OrganizationRetention) OrganizationRetention {
	return OrganizationRetention{OrganizationID: r.OrganizationID, Succeeded: daysDuration(r.SucceededDays),
		Failed: daysDuration(r.FailedDays)}
}

func daysDuration(days *int32) *time.Duration {
	if days == nil {
		return nil
	}
	d := time.Duration(*days) * 24 * time.Hour
	return &d
}

func durationDays(d *time.Duration) *int32 {
	if d == nil {
		return nil
	}
	days := int32(*d / (24 * time.Hour))
	return &days
}

// OrganizationRetentionGet reads an organization's own retention; one that never set any gets nil durations.
func (s *Store) OrganizationRetentionGet(ctx context.Context, orgID uuid.UUID) (OrganizationRetention, error) {
	row, err := s.q.OrganizationRetentionGet(ctx, orgID)
	if errors.Is(err, pgx.ErrNoRows) {
		return OrganizationRetention{OrganizationID: orgID}, nil
	}
	if err != nil {
		return OrganizationRetention{}, interpret(err, "retention")
	}
	return retentionFromRow(row), nil
}

// OrganizationRetentionSet sets an organization's own retention, in whole days (1 to MaxRetentionDays, checked by
// the caller and the table), and audits the change as organization.retention_changed.
func (s *Store) OrganizationRetentionSet(ctx context.Context, by Actor, r OrganizationRetention) (OrganizationRetention, error) {
	var out OrganizationRetention
	err := s.inTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		before, err := q.OrganizationRetentionGet(ctx, r.OrganizationID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		row, err := q.OrganizationRetentionSet(ctx, db.OrganizationRetentionSetParams{OrganizationID: r.OrganizationID,
			SucceededDays: durationDays(r.Succeeded), FailedDays: durationDays(r.Failed)})
		if err != nil {
			return err
		}
		out = retentionFromRow(row)
		return audit(ctx, q, by, auditRecord{OrganizationID: &r.OrganizationID, Action: "organization.retention_changed",
			TargetType: "organization", TargetID: r.OrganizationID.String(),
			Before: retentionAudit{before.SucceededDays, before.FailedDays},
			After:  retentionAudit{row.SucceededDays, row.FailedDays}})
	})
	if err != nil {
		return OrganizationRetention{}, interpret(err, "retention")
	}
	return out, nil
}

// retentionAudit is a retention in the audit log: days, null for the instance default.
type retentionAudit struct {
	SucceededDays *int32 `json:"succeeded_days"`
	FailedDays    *int32 `json:"failed_days"`
}

// organizationRetentions lists every organization's own retention, for the pruner.
func (s *Store) organizationRetentions(ctx context.Context) ([]OrganizationRetention, error) {
	rows, err := s.q.OrganizationRetentionList(ctx)
	if err != nil {
		return nil, interpret(err, "retention")
	}
	out := make([]OrganizationRetention, len(rows))
	for i, r := range rows {
		out[i] = retentionFromRow(r)
	}
	return out, nil
}
