package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/itchyny/gojq"

	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/engine/value"
)

// Most jq programs in workflows only reshape their input: {id: .body.order_id, email: .body.email}. A sandbox
// runner costs such a program a round trip to another process, about a sixth of the end-to-end throughput, for
// nothing: a projection cannot loop, recurse or build anything but references to what it is given. So projections
// run in this process; every other program runs in a runner.

// jqProjection reports whether a parsed program is a projection: paths into its input and variables (.a.b,
// .["k"], .[0], with ?), literals, and objects and arrays of those, joined by |, //, comparisons, and, or. Such a
// program emits at most one value, in time proportional to its own length whatever its input; what it builds
// holds references to its input, bounded when encoded. Arithmetic is left out (+ on strings and arrays grows, and
// a pipe of them grows exponentially), and so are ",", iteration, functions and interpolation.
func jqProjection(q *gojq.Query) bool {
	if q == nil {
		return true
	}
	if q.Meta != nil || len(q.Imports) > 0 || len(q.FuncDefs) > 0 || len(q.Patterns) > 0 {
		return false
	}
	if q.Term != nil {
		return q.Op == 0 && q.Left == nil && q.Right == nil && jqProjectionTerm(q.Term)
	}
	switch q.Op {
	case gojq.OpPipe, gojq.OpAlt, gojq.OpEq, gojq.OpNe, gojq.OpGt, gojq.OpLt, gojq.OpGe, gojq.OpLe, gojq.OpAnd,
		gojq.OpOr:
		return q.Left != nil && q.Right != nil && jqProjection(q.Left) && jqProjection(q.Right)
	}
	return false
}

func jqProjectionTerm(t *gojq.Term) bool {
	for _, s := range t.SuffixList {
		if s.Iter || (s.Index != nil && !jqProjectionIndex(s.Index)) {
			return false
		}
	}
	switch t.Type {
	case gojq.TermTypeIdentity, gojq.TermTypeNull, gojq.TermTypeTrue, gojq.TermTypeFalse, gojq.TermTypeNumber:
		return true
	case gojq.TermTypeString:
		return t.Str != nil && t.Str.Queries == nil && t.Format == ""
	case gojq.TermTypeIndex:
		return t.Index != nil && jqProjectionIndex(t.Index)
	case gojq.TermTypeFunc:
		return t.Func != nil && len(t.Func.Args) == 0 && slices.Contains(jqVarNames, t.Func.Name)
	case gojq.TermTypeObject:
		if t.Object == nil {
			return false
		}
		for _, kv := range t.Object.KeyVals {
			switch {
			case kv.KeyQuery != nil, kv.KeyString != nil && kv.KeyString.Queries != nil:
				return false
			case kv.Key != "" && strings.HasPrefix(kv.Key, "$") && !slices.Contains(jqVarNames, kv.Key):
				return false
			case strings.HasPrefix(kv.Key, "@"):
				return false
			}
			if kv.Val != nil && !jqProjection(kv.Val) {
				return false
			}
		}
		return true
	case gojq.TermTypeArray:
		return t.Array != nil && jqProjection(t.Array.Query)
	case gojq.TermTypeQuery:
		return jqProjection(t.Query)
	}
	return false
}

// jqProjectionIndex accepts .name, ."key" and .[literal]; not slices, and not computed indexes.
func jqProjectionIndex(ix *gojq.Index) bool {
	if ix.IsSlice || ix.End != nil {
		return false
	}
	if ix.Str != nil {
		return ix.Str.Queries == nil
	}
	if ix.Start != nil {
		t := ix.Start.Term
		return ix.Start.Op == 0 && t != nil && len(t.SuffixList) == 0 &&
			(t.Type == gojq.TermTypeNumber || t.Type == gojq.TermTypeString && t.Str != nil && t.Str.Queries == nil)
	}
	return ix.Name != ""
}

// runLocal runs a projection in this process. ok is false when it could not (a value of a Go type gojq does not
// take, which JSON would have turned into one it does): the caller runs the program in a runner instead. The
// results go through the same encoding, limits and decoding as a runner's, so both paths give the same values.
func (q *JQ) runLocal(ctx context.Context, vars *Vars, limits sandbox.Limits) (out []any, ok bool, err error) {
	defer func() {
		if recover() != nil {
			out, ok, err = nil, false, nil
		}
	}()
	values := []any{vars.trigger(), vars.input, nil, vars.item, vars.index, nil}
	if q.uses&useNodes != 0 {
		values[2] = vars.nodesMap()
	}
	if q.uses&useExecution != 0 {
		values[5] = vars.executionMap()
	}
	var results []any
	iter := q.local.RunWithContext(ctx, vars.input, values...)
	for {
		v, more := iter.Next()
		if !more {
			break
		}
		if e, isErr := v.(error); isErr {
			if h, halted := e.(*gojq.HaltError); halted && h.Value() == nil {
				break
			}
			return nil, false, nil // the runner gives the error its canonical text
		}
		results = append(results, v)
	}
	encoded, err := value.AppendJSON(nil, results, limits.MaxDepth+1, limits.MaxBytes)
	if err != nil {
		return nil, true, Permanent(sandbox.OutputLimit(err, limits.MaxDepth, limits.MaxBytes))
	}
	decoded, err := value.Decode(encoded, limits.MaxDepth+1)
	if err != nil {
		return nil, true, Permanent(fmt.Errorf("jq output: %w", err))
	}
	if decoded == nil {
		return []any{}, true, nil
	}
	return decoded.([]any), true, nil
}
