// Package flags defines ConcertMaster's feature flags in code and evaluates them through the OpenFeature Go SDK
// with the platform's own provider (Provider), backed by PostgreSQL and cached per process.
//
// A flag is declared once in Builtin with its type (boolean, or a variant string for A/B tests), its default in
// each mode (APP_ENV), its owner and an expiry date after which TestNoFlagPastItsExpiry fails naming it, so that
// stale flags are removed. What an instance administrator changes (an instance-wide value, per-organization
// overrides, a percentage rollout) lives in the database; see Provider for the order in which they apply.
//
// Nothing here is package-level mutable state: the catalogue is a fresh value per call, and Flags holds its own
// OpenFeature API instance (openfeature/isolated) and client rather than the SDK's global singleton, so two
// evaluators (two processes in one test) never share a provider.
package flags

import (
	"fmt"
	"slices"
	"time"
)

// Type is what values a flag takes.
type Type string

// The types of flags.
const (
	// Boolean flags are on or off.
	Boolean Type = "boolean"
	// Variant flags take one of their Variants: an A/B test, whose exposures are recorded per subject.
	Variant Type = "variant"
)

// Mode is the mode a process runs in (APP_ENV).
type Mode string

// The modes.
const (
	Development Mode = "development"
	Production  Mode = "production"
)

// ParseMode reads APP_ENV's value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Development, Production:
		return m, nil
	}
	return "", fmt.Errorf("want development or production, got %q", s)
}

// Flag is one feature flag as the code defines it.
type Flag struct {
	// Name is dotted, area first: node.<node type> gates that node type.
	Name        string
	Description string
	Type        Type
	// Variants are a Variant flag's values; the first is the control.
	Variants []string
	// Default is the value in each mode when nothing is set: a bool for Boolean flags, one of Variants otherwise.
	Default map[Mode]any
	// Owner is who answers for the flag and removes it.
	Owner string
	// Expires is the date after which the flag must be gone (a test fails naming it).
	Expires time.Time
}

// DefaultFor is the flag's value in mode when nothing is set.
func (f Flag) DefaultFor(mode Mode) any {
	if v, ok := f.Default[mode]; ok {
		return v
	}
	return f.Default[Production]
}

// Valid reports whether v is a value this flag takes (a bool, or one of its variants).
func (f Flag) Valid(v any) bool {
	switch f.Type {
	case Boolean:
		_, ok := v.(bool)
		return ok
	case Variant:
		s, ok := v.(string)
		return ok && slices.Contains(f.Variants, s)
	}
	return false
}

// NodeTypePrefix starts the name of a flag gating a node type: "node.trigger.error" gates trigger.error.
const NodeTypePrefix = "node."

// CanvasPrefix starts the name of a flag that gates a capability of the canvas island: the workflow page passes
// every such flag, evaluated for the organization and user, to the island (data-flags), which reads nothing else.
const CanvasPrefix = "editor."

// The flags the code reads by name.
const (
	// NodeTriggerError gates the error trigger (trigger.error): on everywhere, so an operator can switch it off for
	// one organization whose error workflows misbehave.
	NodeTriggerError = NodeTypePrefix + "trigger.error"
	// NodeActionDatabase gates the database action (action.database), which connects to databases of the
	// operator's network: an operator may switch it off for an organization without a redeploy.
	NodeActionDatabase = NodeTypePrefix + "action.database"
	// NodeTransformParse gates the file parser (transform.parse), in beta: on in both modes, since it only reads
	// the organization's own files within size and row limits; an operator can switch it off for an organization
	// whose large files strain the workers.
	NodeTransformParse = NodeTypePrefix + "transform.parse"
	// EngineExecutionPath chooses how an organization's executions of pure workflows run: queued for a worker
	// like every other, or on the express path, in the request that accepts them (engine/queue.Express).
	EngineExecutionPath = "engine.execution_path"
	// EditorTidyUp gates the canvas's Tidy up (a layered layout of the whole graph): in beta, on in development
	// and off in production until an operator rolls it out.
	EditorTidyUp = CanvasPrefix + "tidy_up"
)

// The variants of EngineExecutionPath.
const (
	ExecutionPathQueue   = "queue"
	ExecutionPathExpress = "express"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// Builtin is the catalogue of the platform's flags, a fresh slice on every call.
func Builtin() []Flag {
	return []Flag{
		{
			Name: NodeTriggerError, Type: Boolean, Owner: "engine",
			Description: "The error trigger (trigger.error) in the palette and at save: on by default; switch it off for an organization whose error workflows misbehave.",
			Default:     map[Mode]any{Development: true, Production: true},
			Expires:     date(2027, time.June, 30),
		},
		{
			Name: NodeActionDatabase, Type: Boolean, Owner: "integrations",
			Description: "The database action (action.database): switch it off for an organization that must not reach the operator's databases.",
			Default:     map[Mode]any{Development: true, Production: true},
			Expires:     date(2027, time.December, 31),
		},
		{
			Name: NodeTransformParse, Type: Boolean, Owner: "engine",
			Description: "The file parser (transform.parse, beta) in the palette and at save: on by default; switch it off for an organization whose large files strain the workers.",
			Default:     map[Mode]any{Development: true, Production: true},
			Expires:     date(2027, time.September, 30),
		},
		{
			Name: EngineExecutionPath, Type: Variant, Variants: []string{ExecutionPathQueue, ExecutionPathExpress}, Owner: "engine",
			Description: "How executions of pure workflows (transforms and conditions only) run: queued for a worker, or on the express path, finished in the request that accepts them. An A/B test of throughput and latency; the exposures say which organizations ran which.",
			Default:     map[Mode]any{Development: ExecutionPathExpress, Production: ExecutionPathExpress},
			Expires:     date(2027, time.June, 30),
		},
		{
			Name: EditorTidyUp, Type: Boolean, Owner: "editor",
			Description: "Beta: the canvas's Tidy up button and shortcut, which lay the whole workflow out in layers (dagre). Off in production until rolled out.",
			Default:     map[Mode]any{Development: true, Production: false},
			Expires:     date(2027, time.September, 30),
		},
	}
}

// Catalogue is a set of flags by name.
type Catalogue struct {
	flags []Flag
	index map[string]int
}

// NewCatalogue checks the flags (unique names, a type, valid defaults in both modes, an owner and an expiry) and
// indexes them.
func NewCatalogue(flags []Flag) (*Catalogue, error) {
	c := &Catalogue{flags: slices.Clone(flags), index: map[string]int{}}
	for i, f := range c.flags {
		if _, dup := c.index[f.Name]; dup || f.Name == "" {
			return nil, fmt.Errorf("flag %q: name empty or repeated", f.Name)
		}
		if f.Type == Variant && len(f.Variants) < 2 {
			return nil, fmt.Errorf("flag %q: a variant flag needs at least two variants", f.Name)
		}
		for _, m := range []Mode{Development, Production} {
			if !f.Valid(f.DefaultFor(m)) {
				return nil, fmt.Errorf("flag %q: default for %s is not a %s value", f.Name, m, f.Type)
			}
		}
		if f.Owner == "" || f.Description == "" || f.Expires.IsZero() {
			return nil, fmt.Errorf("flag %q: owner, description and expiry are required", f.Name)
		}
		c.index[f.Name] = i
	}
	return c, nil
}

// Lookup finds a flag by name.
func (c *Catalogue) Lookup(name string) (Flag, bool) {
	i, ok := c.index[name]
	if !ok {
		return Flag{}, false
	}
	return c.flags[i], true
}

// All lists the flags in their declared order.
func (c *Catalogue) All() []Flag { return slices.Clone(c.flags) }

// Expired lists the flags whose expiry date is before now.
func (c *Catalogue) Expired(now time.Time) []Flag {
	var out []Flag
	for _, f := range c.flags {
		if now.After(f.Expires) {
			out = append(out, f)
		}
	}
	return out
}
