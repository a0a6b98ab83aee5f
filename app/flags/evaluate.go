package flags

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
)

// Subject is whom a flag is evaluated for.
type Subject struct {
	OrgID  uuid.UUID
	UserID uuid.UUID
}

// Flags evaluates flags through an OpenFeature client of its own API instance (not the SDK's global one), bound to
// one Provider. The code asks it by flag name; an unknown name is a programming error, answered with false.
type Flags struct {
	catalogue *Catalogue
	mode      Mode
	api       *openfeature.EvaluationAPI
	client    *openfeature.Client
	provider  *Provider
	logger    *slog.Logger
}

// New binds an evaluator to p, which should be started (or at least Reloaded) first.
func New(ctx context.Context, p *Provider) (*Flags, error) {
	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(ctx, p); err != nil {
		return nil, fmt.Errorf("feature flags: %w", err)
	}
	return &Flags{catalogue: p.catalogue, mode: p.mode, api: api, client: api.NewClient(), provider: p, logger: p.logger}, nil
}

// Close releases the OpenFeature API instance (not the provider, which its owner stops).
func (f *Flags) Close(ctx context.Context) error { return f.api.Shutdown(ctx) }

// Catalogue is the flags this evaluator knows.
func (f *Flags) Catalogue() *Catalogue { return f.catalogue }

// Mode is the mode the flags' defaults are taken in.
func (f *Flags) Mode() Mode { return f.mode }

// Provider is the provider the evaluator reads.
func (f *Flags) Provider() *Provider { return f.provider }

func evalContext(s Subject) openfeature.EvaluationContext {
	attrs := map[string]any{}
	if s.OrgID != uuid.Nil {
		attrs[AttrOrganization] = s.OrgID.String()
	}
	if s.UserID != uuid.Nil {
		attrs[AttrUser] = s.UserID.String()
	}
	key := s.OrgID.String()
	if s.OrgID == uuid.Nil {
		key = s.UserID.String()
	}
	return openfeature.NewEvaluationContext(key, attrs)
}

// Enabled evaluates a Boolean flag for s.
func (f *Flags) Enabled(ctx context.Context, name string, s Subject) bool {
	flag, ok := f.catalogue.Lookup(name)
	if !ok || flag.Type != Boolean {
		f.logger.Error("feature flags: no boolean flag by this name", "flag", name)
		return false
	}
	def, _ := flag.DefaultFor(f.mode).(bool)
	v, err := f.client.BooleanValue(ctx, name, def, evalContext(s))
	if err != nil {
		f.logger.Warn("feature flags: evaluation failed; default used", "flag", name, "error", err)
	}
	return v
}

// Variant evaluates a Variant flag for s, recording the exposure.
func (f *Flags) Variant(ctx context.Context, name string, s Subject) string {
	flag, ok := f.catalogue.Lookup(name)
	if !ok || flag.Type != Variant {
		f.logger.Error("feature flags: no variant flag by this name", "flag", name)
		return ""
	}
	def, _ := flag.DefaultFor(f.mode).(string)
	v, err := f.client.StringValue(ctx, name, def, evalContext(s))
	if err != nil {
		f.logger.Warn("feature flags: evaluation failed; default used", "flag", name, "error", err)
	}
	return v
}

// NodeTypeEnabled reports whether a node type is available to s: true unless a flag "node.<type>" gates it and is
// off for s.
func (f *Flags) NodeTypeEnabled(ctx context.Context, nodeType string, s Subject) (flag string, enabled bool) {
	flag = NodeTypePrefix + nodeType
	if _, gated := f.catalogue.Lookup(flag); !gated {
		return "", true
	}
	return flag, f.Enabled(ctx, flag, s)
}

// Canvas evaluates every Boolean flag of the canvas island (named CanvasPrefix…) for s, by full name.
func (f *Flags) Canvas(ctx context.Context, s Subject) map[string]bool {
	out := map[string]bool{}
	for _, flag := range f.catalogue.All() {
		if flag.Type == Boolean && strings.HasPrefix(flag.Name, CanvasPrefix) {
			out[flag.Name] = f.Enabled(ctx, flag.Name, s)
		}
	}
	return out
}
