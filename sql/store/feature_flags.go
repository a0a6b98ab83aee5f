package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// FeatureFlagsChannel is the NOTIFY channel a change of a feature flag is published on, the flag's name as payload:
// every process's provider reloads its snapshot when it hears one.
const FeatureFlagsChannel = "concertmaster_feature_flags"

// FeatureFlagSetting is what an instance administrator set for one flag (the flags themselves are defined in code).
type FeatureFlagSetting struct {
	Name string
	// Value is the instance-wide value; nil leaves the code's default for the mode.
	Value json.RawMessage
	// Rollout assigns shares of the subjects, by a stable hash of their id, to values; subjects outside every
	// bucket fall through to Value or the default.
	Rollout []RolloutBucket
	// RolloutBy is whose id the rollout hashes: "organization" or "user".
	RolloutBy string
	UpdatedAt time.Time
	UpdatedBy *uuid.UUID
	// Reason is why it was last changed, as its author wrote it.
	Reason string
}

// RolloutBucket is a share of the subjects, in percent, given one value.
type RolloutBucket struct {
	Value   json.RawMessage `json:"value"`
	Percent int             `json:"percent"`
}

// FeatureFlagOverride is one organization's own value of a flag.
type FeatureFlagOverride struct {
	Flag             string
	OrganizationID   uuid.UUID
	OrganizationName string
	Value            json.RawMessage
	UpdatedAt        time.Time
	UpdatedBy        *uuid.UUID
	Reason           string
}

// FeatureFlagExposureCount is how many subjects saw one variant of a flag, and since when.
type FeatureFlagExposureCount struct {
	Flag        string
	Variant     string
	Subjects    int64
	FirstSeenAt time.Time
}

// FeatureFlagSnapshot reads every flag setting and every override: what a provider caches.
func (s *Store) FeatureFlagSnapshot(ctx context.Context) ([]FeatureFlagSetting, []FeatureFlagOverride, error) {
	rows, err := s.q.FeatureFlagList(ctx)
	if err != nil {
		return nil, nil, interpret(err, "feature flags")
	}
	settings := make([]FeatureFlagSetting, 0, len(rows))
	for _, r := range rows {
		fs, err := featureFlagFromRow(r)
		if err != nil {
			return nil, nil, err
		}
		settings = append(settings, fs)
	}
	orows, err := s.q.FeatureFlagOverrideList(ctx)
	if err != nil {
		return nil, nil, interpret(err, "feature flag overrides")
	}
	overrides := make([]FeatureFlagOverride, len(orows))
	for i, r := range orows {
		overrides[i] = FeatureFlagOverride{Flag: r.Flag, OrganizationID: r.OrganizationID, OrganizationName: r.OrganizationName,
			Value: r.Value, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy, Reason: r.Reason}
	}
	return settings, overrides, nil
}

func featureFlagFromRow(r db.FeatureFlag) (FeatureFlagSetting, error) {
	fs := FeatureFlagSetting{Name: r.Name, Value: r.Value, RolloutBy: r.RolloutBy, UpdatedAt: r.UpdatedAt,
		UpdatedBy: r.UpdatedBy, Reason: r.Reason}
	if len(fs.Value) == 0 || string(fs.Value) == "null" {
		fs.Value = nil
	}
	if err := json.Unmarshal(r.Rollout, &fs.Rollout); err != nil {
		return FeatureFlagSetting{}, fmt.Errorf("feature flag %s: rollout: %w", r.Name, err)
	}
	return fs, nil
}

// FeatureFlagSet writes a flag's instance value and rollout, audited with in.Reason, and tells every process.
func (s *Store) FeatureFlagSet(ctx context.Context, by Actor, in FeatureFlagSetting) (FeatureFlagSetting, error) {
	rollout, err := json.Marshal(in.Rollout)
	if err != nil {
		return FeatureFlagSetting{}, err
	}
	if in.Rollout == nil {
		rollout = []byte("[]")
	}
	var out FeatureFlagSetting
	err = s.inTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		var before any
		if prev, err := q.FeatureFlagGet(ctx, in.Name); err == nil {
			before = map[string]any{"value": prev.Value, "rollout": prev.Rollout, "rollout_by": prev.RolloutBy}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return interpret(err, "feature flag")
		}
		row, err := q.FeatureFlagUpsert(ctx, db.FeatureFlagUpsertParams{Name: in.Name, Value: in.Value, Rollout: rollout,
			RolloutBy: in.RolloutBy, UpdatedBy: by.UserID, Reason: in.Reason})
		if err != nil {
			return interpret(err, "feature flag")
		}
		if out, err = featureFlagFromRow(row); err != nil {
			return err
		}
		if err := q.FeatureFlagsNotify(ctx, in.Name); err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{Action: "feature_flag.set", TargetType: "feature_flag", TargetID: in.Name,
			Before: before, After: map[string]any{"value": in.Value, "rollout": json.RawMessage(rollout),
				"rollout_by": in.RolloutBy, "reason": in.Reason}})
	})
	return out, err
}

// FeatureFlagOverrideSet gives one organization its own value of a flag (value nil removes it), audited with
// reason, and tells every process. An unknown organization is NotFound.
func (s *Store) FeatureFlagOverrideSet(ctx context.Context, by Actor, flag string, orgID uuid.UUID, value json.RawMessage,
	reason string) error {
	return s.inTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		var before any
		if prev, err := q.FeatureFlagOverrideGet(ctx, db.FeatureFlagOverrideGetParams{Flag: flag, OrganizationID: orgID}); err == nil {
			before = map[string]any{"value": prev.Value}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return interpret(err, "feature flag override")
		}
		action, after := "feature_flag.override_removed", any(map[string]any{"reason": reason})
		if value == nil {
			if _, err := q.FeatureFlagOverrideDelete(ctx, db.FeatureFlagOverrideDeleteParams{Flag: flag, OrganizationID: orgID}); err != nil {
				return interpret(err, "feature flag override")
			}
		} else {
			err := q.FeatureFlagOverrideUpsert(ctx, db.FeatureFlagOverrideUpsertParams{Flag: flag, OrganizationID: orgID,
				Value: value, UpdatedBy: by.UserID, Reason: reason})
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return fault.New(fault.NotFound, "organization not found")
			}
			if err != nil {
				return interpret(err, "feature flag override")
			}
			action, after = "feature_flag.override_set", map[string]any{"value": value, "reason": reason}
		}
		if err := q.FeatureFlagsNotify(ctx, flag); err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: action, TargetType: "feature_flag",
			TargetID: flag, Before: before, After: after})
	})
}

// FeatureFlagExposureRecord notes that a subject ("organization" or "user") saw a variant of a flag; it reports
// whether this was the first sighting.
func (s *Store) FeatureFlagExposureRecord(ctx context.Context, flag, subjectKind string, subjectID uuid.UUID, variant string) (bool, error) {
	n, err := s.q.FeatureFlagExposureRecord(ctx, db.FeatureFlagExposureRecordParams{Flag: flag, SubjectKind: subjectKind,
		SubjectID: subjectID, Variant: variant})
	if err != nil {
		return false, interpret(err, "feature flag exposure")
	}
	return n == 1, nil
}

// FeatureFlagExposureCounts counts the subjects that saw each variant of each flag.
func (s *Store) FeatureFlagExposureCounts(ctx context.Context) ([]FeatureFlagExposureCount, error) {
	rows, err := s.q.FeatureFlagExposureCounts(ctx)
	if err != nil {
		return nil, interpret(err, "feature flag exposures")
	}
	out := make([]FeatureFlagExposureCount, len(rows))
	for i, r := range rows {
		out[i] = FeatureFlagExposureCount(r)
	}
	return out, nil
}
