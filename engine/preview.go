package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/engine/value"
)

// PreviewKind says how Preview reads its source: as a node config field of that kind would be read.
type PreviewKind string

// The kinds of author-written source the editor previews.
const (
	PreviewExpression PreviewKind = "expression" // an expr-lang expression (conditions, items)
	PreviewTemplate   PreviewKind = "template"   // text with {{ expression }} parts (most string fields)
	PreviewJQ         PreviewKind = "jq"         // a jq program whose . is the input
)

// PreviewRequest is one evaluation for the editor's live preview. Input and Trigger are JSON as the editor holds
// them (the last test run's data, or pinned data).
type PreviewRequest struct {
	Kind    PreviewKind
	Source  string
	Input   json.RawMessage
	Trigger json.RawMessage
	// Tenant is the organization whose turn a jq program waits for in the sandbox, so one organization's previews
	// queue behind each other rather than behind everyone's.
	Tenant string
}

// Preview evaluates author-written source against sample data exactly as a node run would: the same compilers and
// the same sandbox limits (time, memory, output size, depth), jq in the pool's runner processes. It exists so the
// editor can show what an expression yields before the workflow runs; the source is a stranger's, so nothing here
// is trusted more than in a run. `nodes` is empty and `execution` is a placeholder: a preview has no execution.
// Errors are Permanent and say what the author must fix; a limit reads as the run's would.
func Preview(ctx context.Context, pool *sandbox.Pool, req PreviewRequest) (any, error) {
	if pool == nil {
		return nil, errors.New("preview needs a sandbox pool")
	}
	limits := pool.Limits()
	decode := func(field string, raw json.RawMessage) (any, error) {
		if len(raw) == 0 {
			return nil, nil
		}
		v, err := value.Decode(raw, limits.MaxDepth)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return v, nil
	}
	input, err := decode("input", req.Input)
	if err != nil {
		return nil, err
	}
	trigger, err := decode("trigger", req.Trigger)
	if err != nil {
		return nil, err
	}
	env := &Env{Trigger: trigger, TriggerJSON: req.Trigger, sandbox: pool,
		Execution: ExecutionInfo{OrganizationID: req.Tenant}}
	if len(env.TriggerJSON) == 0 {
		env.TriggerJSON = jsonNull
	}
	vars := newVars(env, input)
	if len(req.Input) > 0 {
		vars.raw = req.Input
	}
	switch req.Kind {
	case PreviewExpression:
		e, err := compileExpression(req.Source)
		if err != nil {
			return nil, Permanent(err)
		}
		return e.Eval(ctx, vars)
	case PreviewTemplate:
		t, err := compileTemplate(req.Source)
		if err != nil {
			return nil, Permanent(err)
		}
		return t.Value(ctx, vars)
	case PreviewJQ:
		q, err := compileJQ(req.Source)
		if err != nil {
			return nil, Permanent(err)
		}
		return q.First(ctx, vars)
	}
	return nil, Permanent(fmt.Errorf("kind %q is not one of expression, template, jq", req.Kind))
}
