package flags

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Source is the storage the provider reads its snapshot from and records exposures in (*store.Store).
type Source interface {
	FeatureFlagSnapshot(ctx context.Context) ([]store.FeatureFlagSetting, []store.FeatureFlagOverride, error)
	FeatureFlagExposureRecord(ctx context.Context, flag, subjectKind string, subjectID uuid.UUID, variant string) (bool, error)
}

// The evaluation context's attributes the provider reads; the targeting key is the organization's id.
const (
	AttrOrganization = "organization_id"
	AttrUser         = "user_id"
)

// The subjects a rollout hashes and an exposure names.
const (
	SubjectOrganization = "organization"
	SubjectUser         = "user"
)

// rolloutBuckets is the resolution of a rollout: a percent is 100 buckets of 10,000.
const rolloutBuckets = 10_000

// maxSeenExposures bounds the in-process memory of exposures already recorded; past it the memory starts afresh
// (the database keeps only the first sighting anyway, so forgetting costs a redundant insert, not a wrong count).
const maxSeenExposures = 100_000

// Provider is ConcertMaster's OpenFeature provider. It caches every flag setting and override in one snapshot,
// reloaded whenever any process publishes a change on store.FeatureFlagsChannel (and after its listening
// connection comes back, since changes may have been missed meanwhile). A flag's value for a subject is, first
// match wins:
//  1. the organization's override;
//  2. the rollout: a stable hash of the flag's name and the organization's (or user's) id picks one of 10,000
//     buckets, and the rollout's shares, in order, claim the buckets from 0 up;
//  3. the instance-wide value;
//  4. the code's default for the mode.
//
// A Variant flag's evaluation for a subject records an exposure, once per subject and variant.
type Provider struct {
	catalogue *Catalogue
	mode      Mode
	source    Source
	logger    *slog.Logger
	clock     clockwork.Clock
	listener  *store.NotifyListener

	snap atomic.Pointer[snapshot]
	// reloads counts snapshot loads, so a test can wait for a change to arrive.
	reloads atomic.Int64

	seenMu sync.Mutex
	seen   map[exposure]struct{}
}

type snapshot struct {
	settings  map[string]store.FeatureFlagSetting
	overrides map[string]map[uuid.UUID]json.RawMessage
}

type exposure struct {
	flag, kind, variant string
	subject             uuid.UUID
}

// NewProvider returns a provider of catalogue's flags in mode, reading st; Start loads it and keeps it fresh.
func NewProvider(catalogue *Catalogue, mode Mode, st *store.Store, arch *service.Archetype) *Provider {
	p := &Provider{catalogue: catalogue, mode: mode, source: st, logger: arch.Logger, clock: arch.Clock,
		seen: map[exposure]struct{}{}}
	p.snap.Store(&snapshot{})
	p.listener = store.NewNotifyListener(st.Pool(), arch, func(string, string) { p.reload() }, p.reload,
		store.FeatureFlagsChannel)
	return p
}

// Start listens for changes, then loads the snapshot: listening first, so no change falls between the two. It
// waits at most 10 s for the listening connection (after which the reconnect's reload covers the gap).
func (p *Provider) Start(ctx context.Context) error {
	if err := p.listener.Start(ctx); err != nil {
		return err
	}
	select {
	case <-p.listener.Listening():
	case <-ctx.Done():
		return ctx.Err()
	case <-p.clock.After(10 * time.Second):
		p.logger.Warn("feature flags: not listening for changes yet; loading anyway")
	}
	return p.Reload(ctx)
}

// Stop stops listening.
func (p *Provider) Stop() { p.listener.Stop() }

// Reload reads the snapshot anew.
func (p *Provider) Reload(ctx context.Context) error {
	settings, overrides, err := p.source.FeatureFlagSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("feature flags: load: %w", err)
	}
	s := &snapshot{settings: map[string]store.FeatureFlagSetting{}, overrides: map[string]map[uuid.UUID]json.RawMessage{}}
	for _, fs := range settings {
		s.settings[fs.Name] = fs
	}
	for _, o := range overrides {
		if s.overrides[o.Flag] == nil {
			s.overrides[o.Flag] = map[uuid.UUID]json.RawMessage{}
		}
		s.overrides[o.Flag][o.OrganizationID] = o.Value
	}
	p.snap.Store(s)
	p.reloads.Add(1)
	return nil
}

func (p *Provider) reload() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Reload(ctx); err != nil {
		p.logger.Error("feature flags: reload failed; keeping the previous snapshot", "error", err)
	}
}

// Reloads is how many times the snapshot was loaded.
func (p *Provider) Reloads() int64 { return p.reloads.Load() }

// Metadata names the provider.
func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: "concertmaster-postgres"}
}

// Hooks are none.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// resolution is a flag's value for one subject, and why.
type resolution struct {
	value  any
	reason openfeature.Reason
	err    *openfeature.ResolutionError
}

// resolve evaluates a flag for the subjects in flat.
func (p *Provider) resolve(name string, flat openfeature.FlattenedContext) (Flag, resolution) {
	f, ok := p.catalogue.Lookup(name)
	if !ok {
		e := openfeature.NewFlagNotFoundResolutionError("no flag " + name)
		return f, resolution{err: &e, reason: openfeature.ErrorReason}
	}
	s := p.snap.Load()
	org, user := subjectID(flat, AttrOrganization), subjectID(flat, AttrUser)
	if v, ok := s.overrides[name][org]; ok && org != uuid.Nil {
		if val, ok := p.decode(f, v); ok {
			return f, resolution{value: val, reason: openfeature.TargetingMatchReason}
		}
	}
	setting, ok := s.settings[name]
	if ok && len(setting.Rollout) > 0 {
		id := org
		if setting.RolloutBy == SubjectUser {
			id = user
		}
		if id != uuid.Nil {
			bucket := Bucket(name, id)
			edge := 0
			for _, b := range setting.Rollout {
				edge += b.Percent * (rolloutBuckets / 100)
				if bucket < edge {
					if val, ok := p.decode(f, b.Value); ok {
						return f, resolution{value: val, reason: openfeature.SplitReason}
					}
					break
				}
			}
		}
	}
	if ok && setting.Value != nil {
		if val, ok := p.decode(f, setting.Value); ok {
			return f, resolution{value: val, reason: openfeature.StaticReason}
		}
	}
	return f, resolution{value: f.DefaultFor(p.mode), reason: openfeature.DefaultReason}
}

// decode reads a stored value, skipping (logged) one that the flag does not take: a flag's type may have changed
// in code since it was set.
func (p *Provider) decode(f Flag, raw json.RawMessage) (any, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil || !f.Valid(v) {
		p.logger.Warn("feature flags: stored value does not fit the flag; ignored", "flag", f.Name, "value", string(raw))
		return nil, false
	}
	return v, true
}

// Bucket is the stable bucket, 0 to 9,999, of a subject in a flag's rollout: the flag's name is hashed in, so
// that the same organizations are not always the first to get every new thing.
func Bucket(flag string, id uuid.UUID) int {
	h := sha256.New()
	h.Write([]byte(flag))
	h.Write([]byte{0})
	h.Write(id[:])
	return int(binary.BigEndian.Uint64(h.Sum(nil)[:8]) % rolloutBuckets)
}

func subjectID(flat openfeature.FlattenedContext, key string) uuid.UUID {
	if s, ok := flat[key].(string); ok {
		if id, err := uuid.Parse(s); err == nil {
			return id
		}
	}
	return uuid.Nil
}

// BooleanEvaluation resolves a Boolean flag.
func (p *Provider) BooleanEvaluation(_ context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	f, r := p.resolve(flag, flat)
	if r.err == nil && f.Type != Boolean {
		e := openfeature.NewTypeMismatchResolutionError(flag + " is not a boolean flag")
		r.err = &e
	}
	if r.err != nil {
		return openfeature.BoolResolutionDetail{Value: def, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
			ResolutionError: *r.err, Reason: openfeature.ErrorReason}}
	}
	v := r.value.(bool)
	return openfeature.BoolResolutionDetail{Value: v, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
		Reason: r.reason, Variant: fmt.Sprint(v)}}
}

// StringEvaluation resolves a Variant flag and records the subject's exposure to the variant.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	f, r := p.resolve(flag, flat)
	if r.err == nil && f.Type != Variant {
		e := openfeature.NewTypeMismatchResolutionError(flag + " is not a variant flag")
		r.err = &e
	}
	if r.err != nil {
		return openfeature.StringResolutionDetail{Value: def, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
			ResolutionError: *r.err, Reason: openfeature.ErrorReason}}
	}
	v := r.value.(string)
	p.expose(ctx, f.Name, flat, v)
	return openfeature.StringResolutionDetail{Value: v, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
		Reason: r.reason, Variant: v}}
}

// expose records that the flag's rollout subject (or, lacking it, the organization) saw variant, once per subject
// and variant: the database keeps the first sighting, and this process remembers what it already wrote.
func (p *Provider) expose(ctx context.Context, flag string, flat openfeature.FlattenedContext, variant string) {
	kind, id := SubjectOrganization, subjectID(flat, AttrOrganization)
	if s := p.snap.Load().settings[flag]; s.RolloutBy == SubjectUser && subjectID(flat, AttrUser) != uuid.Nil {
		kind, id = SubjectUser, subjectID(flat, AttrUser)
	}
	if id == uuid.Nil {
		return
	}
	key := exposure{flag: flag, kind: kind, variant: variant, subject: id}
	p.seenMu.Lock()
	_, seen := p.seen[key]
	p.seenMu.Unlock()
	if seen {
		return
	}
	if _, err := p.source.FeatureFlagExposureRecord(ctx, flag, kind, id, variant); err != nil {
		p.logger.Warn("feature flags: exposure not recorded", "flag", flag, "error", err)
		return
	}
	p.seenMu.Lock()
	if len(p.seen) >= maxSeenExposures {
		p.seen = map[exposure]struct{}{}
	}
	p.seen[key] = struct{}{}
	p.seenMu.Unlock()
}

// FloatEvaluation: no flag is a number.
func (p *Provider) FloatEvaluation(_ context.Context, flag string, def float64, _ openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	return openfeature.FloatResolutionDetail{Value: def, ProviderResolutionDetail: mismatch(flag)}
}

// IntEvaluation: no flag is a number.
func (p *Provider) IntEvaluation(_ context.Context, flag string, def int64, _ openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	return openfeature.IntResolutionDetail{Value: def, ProviderResolutionDetail: mismatch(flag)}
}

// ObjectEvaluation: no flag is an object.
func (p *Provider) ObjectEvaluation(_ context.Context, flag string, def any, _ openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	return openfeature.InterfaceResolutionDetail{Value: def, ProviderResolutionDetail: mismatch(flag)}
}

func mismatch(flag string) openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{ResolutionError: openfeature.NewTypeMismatchResolutionError(flag +
		" is a boolean or variant flag"), Reason: openfeature.ErrorReason}
}
