package engine

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
)

// DefinitionSource reads the definition of a stored workflow version. Versions never change, so what it returns
// for an id may be cached for as long as the process lives.
type DefinitionSource interface {
	WorkflowDefinition(ctx context.Context, versionID uuid.UUID) (json.RawMessage, error)
}

// PlanLoader gives the compiled plan of a stored version: read, parsed and compiled once per process, then
// served from its cache. The workers that run executions and the HTTP side (retry from the failed node, webhook
// answers, the execution graph) load plans through the same loader, so a version compiles the same way everywhere.
type PlanLoader struct {
	cache    *PlanCache
	registry *Registry
	source   DefinitionSource
}

// NewPlanLoader returns a loader that compiles with registry what source reads, caching plans in cache.
func NewPlanLoader(cache *PlanCache, registry *Registry, source DefinitionSource) *PlanLoader {
	return &PlanLoader{cache: cache, registry: registry, source: source}
}

// Load returns the plan of the stored version versionID. Concurrent first loads of one version share one compile;
// a failure is not cached.
func (l *PlanLoader) Load(ctx context.Context, versionID uuid.UUID) (*Plan, error) {
	return l.cache.GetOrCompile(versionID.String(), func() (*Plan, error) {
		raw, err := l.source.WorkflowDefinition(ctx, versionID)
		if err != nil {
			return nil, err
		}
		def, err := ParseDefinition(raw)
		if err != nil {
			return nil, err
		}
		return Compile(def, l.registry)
	})
}
