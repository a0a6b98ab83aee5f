package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// FeatureFlags are the instance administrators' use cases of feature flags: see every flag with its defaults,
// setting, overrides and exposures, and change them. Every change is audited with who, when and the reason given,
// and reaches every process through the provider's NOTIFY channel (this process's at once).
type FeatureFlags struct {
	store *store.Store
	flags *flags.Flags
}

// FlagView is one flag as the admin page and API show it.
type FlagView struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Type        flags.Type     `json:"type"`
	Variants    []string       `json:"variants,omitempty"`
	Owner       string         `json:"owner"`
	Expires     string         `json:"expires"`
	Defaults    map[string]any `json:"defaults"`
	// Default is the default in the running mode.
	Default any `json:"default"`
	// Value is the instance-wide value an administrator set; null leaves the default.
	Value     json.RawMessage       `json:"value"`
	Rollout   []store.RolloutBucket `json:"rollout"`
	RolloutBy string                `json:"rollout_by"`
	UpdatedAt *time.Time            `json:"updated_at,omitempty"`
	Reason    string                `json:"reason,omitempty"`
	Overrides []FlagOverrideView    `json:"overrides"`
	Exposures []FlagExposureView    `json:"exposures"`
}

// FlagOverrideView is one organization's own value of a flag.
type FlagOverrideView struct {
	OrganizationID   uuid.UUID       `json:"organization_id"`
	OrganizationName string          `json:"organization_name"`
	Value            json.RawMessage `json:"value"`
	UpdatedAt        time.Time       `json:"updated_at"`
	Reason           string          `json:"reason"`
}

// FlagExposureView counts the subjects that saw one variant.
type FlagExposureView struct {
	Variant     string    `json:"variant"`
	Subjects    int64     `json:"subjects"`
	FirstSeenAt time.Time `json:"first_seen_at"`
}

// FlagInput is a change of a flag's instance value and rollout (PUT /api/v1/admin/flags/{name}).
type FlagInput struct {
	// Value is the instance-wide value; null or absent returns to the default.
	Value json.RawMessage `json:"value,omitempty"`
	// Rollout gives shares of the subjects (percent, summing to at most 100) values; empty: no rollout.
	Rollout []store.RolloutBucket `json:"rollout"`
	// RolloutBy is whose id the rollout hashes: organization (default) or user.
	RolloutBy string `json:"rollout_by,omitempty"`
	// Reason says why, for the audit log: required.
	Reason string `json:"reason"`
}

// FlagOverrideInput sets (or, with a null value, removes) one organization's override.
type FlagOverrideInput struct {
	Value  json.RawMessage `json:"value"`
	Reason string          `json:"reason"`
}

const maxFlagReason = 500

// Mode is the mode the defaults are taken in (production when no flags are configured).
func (f *FeatureFlags) Mode() flags.Mode {
	if f.flags == nil {
		return flags.Production
	}
	return f.flags.Mode()
}

func (f *FeatureFlags) ready(c Caller) error {
	if err := authz.Authorize(c.Principal, authz.FlagsAdmin, authz.Instance); err != nil {
		return err
	}
	if f.flags == nil {
		return fault.New(fault.Unavailable, "feature flags are not configured in this process")
	}
	return nil
}

// List shows every flag the code defines, with what is set for it and its exposures.
func (f *FeatureFlags) List(ctx context.Context, c Caller) ([]FlagView, error) {
	if err := f.ready(c); err != nil {
		return nil, err
	}
	settings, overrides, err := f.store.FeatureFlagSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	exposures, err := f.store.FeatureFlagExposureCounts(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.FeatureFlagSetting{}
	for _, s := range settings {
		byName[s.Name] = s
	}
	out := []FlagView{}
	for _, fl := range f.flags.Catalogue().All() {
		v := FlagView{Name: fl.Name, Description: fl.Description, Type: fl.Type, Variants: fl.Variants, Owner: fl.Owner,
			Expires: fl.Expires.Format(time.DateOnly), Default: fl.DefaultFor(f.flags.Mode()),
			Defaults: map[string]any{string(flags.Development): fl.DefaultFor(flags.Development),
				string(flags.Production): fl.DefaultFor(flags.Production)},
			Rollout: []store.RolloutBucket{}, RolloutBy: flags.SubjectOrganization,
			Overrides: []FlagOverrideView{}, Exposures: []FlagExposureView{}}
		if s, ok := byName[fl.Name]; ok {
			v.Value, v.RolloutBy, v.Reason, v.UpdatedAt = s.Value, s.RolloutBy, s.Reason, &s.UpdatedAt
			if s.Rollout != nil {
				v.Rollout = s.Rollout
			}
		}
		for _, o := range overrides {
			if o.Flag == fl.Name {
				v.Overrides = append(v.Overrides, FlagOverrideView{OrganizationID: o.OrganizationID,
					OrganizationName: o.OrganizationName, Value: o.Value, UpdatedAt: o.UpdatedAt, Reason: o.Reason})
			}
		}
		for _, e := range exposures {
			if e.Flag == fl.Name {
				v.Exposures = append(v.Exposures, FlagExposureView{Variant: e.Variant, Subjects: e.Subjects, FirstSeenAt: e.FirstSeenAt})
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// lookup finds a flag by name: NotFound when the code defines none.
func (f *FeatureFlags) lookup(name string) (flags.Flag, error) {
	fl, ok := f.flags.Catalogue().Lookup(name)
	if !ok {
		return fl, fault.New(fault.NotFound, "no feature flag is named %s", name)
	}
	return fl, nil
}

// checkValue checks that raw is a value fl takes, naming field.
func checkValue(fl flags.Flag, field string, raw json.RawMessage) *fault.FieldError {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil || !fl.Valid(v) {
		want := "true or false"
		if fl.Type == flags.Variant {
			want = "one of " + strings.Join(fl.Variants, ", ")
		}
		return &fault.FieldError{Field: field, Message: "must be " + want}
	}
	return nil
}

func checkReason(reason string) *fault.FieldError {
	if strings.TrimSpace(reason) == "" {
		return &fault.FieldError{Field: "reason", Message: "is required: say why, for the audit log"}
	}
	if utf8.RuneCountInString(reason) > maxFlagReason || !utf8.ValidString(reason) || strings.ContainsRune(reason, 0) {
		return &fault.FieldError{Field: "reason", Message: fmt.Sprintf("must be valid text of at most %d characters", maxFlagReason)}
	}
	return nil
}

// Set changes a flag's instance value and rollout.
func (f *FeatureFlags) Set(ctx context.Context, c Caller, name string, in FlagInput) (FlagView, error) {
	if err := f.ready(c); err != nil {
		return FlagView{}, err
	}
	fl, err := f.lookup(name)
	if err != nil {
		return FlagView{}, err
	}
	if string(in.Value) == "null" {
		in.Value = nil
	}
	if in.RolloutBy == "" {
		in.RolloutBy = flags.SubjectOrganization
	}
	var problems []fault.FieldError
	if in.Value != nil {
		if p := checkValue(fl, "value", in.Value); p != nil {
			problems = append(problems, *p)
		}
	}
	if in.RolloutBy != flags.SubjectOrganization && in.RolloutBy != flags.SubjectUser {
		problems = append(problems, fault.FieldError{Field: "rollout_by", Message: "must be organization or user"})
	}
	total := 0
	for i, b := range in.Rollout {
		if b.Percent < 0 || b.Percent > 100 {
			problems = append(problems, fault.FieldError{Field: fmt.Sprintf("rollout[%d].percent", i), Message: "must be from 0 to 100"})
		}
		total += b.Percent
		if p := checkValue(fl, fmt.Sprintf("rollout[%d].value", i), b.Value); p != nil {
			problems = append(problems, *p)
		}
	}
	if total > 100 || len(in.Rollout) > 20 {
		problems = append(problems, fault.FieldError{Field: "rollout", Message: "shares must sum to at most 100 percent, in at most 20 buckets"})
	}
	if p := checkReason(in.Reason); p != nil {
		problems = append(problems, *p)
	}
	if len(problems) > 0 {
		return FlagView{}, fault.Fields("the flag's setting is not valid", problems...)
	}
	if _, err := f.store.FeatureFlagSet(ctx, c.Actor, store.FeatureFlagSetting{Name: name, Value: in.Value,
		Rollout: in.Rollout, RolloutBy: in.RolloutBy, Reason: in.Reason}); err != nil {
		return FlagView{}, err
	}
	return f.afterChange(ctx, c, name)
}

// SetOverride sets, or with a null value removes, one organization's own value of a flag.
func (f *FeatureFlags) SetOverride(ctx context.Context, c Caller, name string, orgID uuid.UUID, in FlagOverrideInput) (FlagView, error) {
	if err := f.ready(c); err != nil {
		return FlagView{}, err
	}
	fl, err := f.lookup(name)
	if err != nil {
		return FlagView{}, err
	}
	if len(in.Value) == 0 || string(in.Value) == "null" {
		in.Value = nil
	}
	var problems []fault.FieldError
	if in.Value != nil {
		if p := checkValue(fl, "value", in.Value); p != nil {
			problems = append(problems, *p)
		}
	}
	if p := checkReason(in.Reason); p != nil {
		problems = append(problems, *p)
	}
	if len(problems) > 0 {
		return FlagView{}, fault.Fields("the override is not valid", problems...)
	}
	if err := f.store.FeatureFlagOverrideSet(ctx, c.Actor, name, orgID, in.Value, in.Reason); err != nil {
		return FlagView{}, err
	}
	return f.afterChange(ctx, c, name)
}

// afterChange reloads this process's provider at once (the others hear the NOTIFY) and answers the flag anew.
func (f *FeatureFlags) afterChange(ctx context.Context, c Caller, name string) (FlagView, error) {
	if err := f.flags.Provider().Reload(ctx); err != nil {
		return FlagView{}, err
	}
	all, err := f.List(ctx, c)
	if err != nil {
		return FlagView{}, err
	}
	for _, v := range all {
		if v.Name == name {
			return v, nil
		}
	}
	return FlagView{}, fault.New(fault.NotFound, "no feature flag is named %s", name)
}
