package engine

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// Expressions run in the calling process (jq runs in sandbox runners), so each evaluation carries a guard that
// bounds what expr-lang alone does not: its time, and the bytes it builds.
//
// expr-lang has no recursion and no loop but its predicates (map, filter, reduce … over a collection), and its VM
// already bounds the elements ranges and predicates may produce (exprMemoryBudget). What it leaves open is CPU —
// predicates nested three deep over 1..800 run for half a minute — and bytes: `+` on strings doubles a string per
// step, and builtins such as join or toJSON turn a million references to one large string into a terabyte. So a
// patcher rewrites, at compile time, every predicate body to tick the guard (which checks the deadline and the
// context every few hundred ticks, so cancel and timeout stop the evaluation promptly), every `+` into a call that
// charges the bytes it builds before building them, and every builtin that walks or builds values into a call that
// first measures what it will walk and then charges what it built. The names the patcher inserts begin with two
// underscores, which authors may not use.

// exprGuardVar is the variable through which patched calls reach the evaluation's guard.
const exprGuardVar = "__guard"

// tickCheckEvery is how many predicate steps pass between two looks at the clock and the context.
const tickCheckEvery = 256

// costPerElement is what an array element or object entry counts for against the byte budget: its header.
const costPerElement = 16

// exprGuard bounds one evaluation. It is reset and reused with its VM.
type exprGuard struct {
	ctx      context.Context
	deadline time.Time
	timeout  time.Duration
	ticks    uint32
	budget   int64 // bytes the evaluation may still build
	limit    int64
	err      error
}

func (g *exprGuard) reset(ctx context.Context, timeout time.Duration, budget int64) {
	*g = exprGuard{ctx: ctx, deadline: time.Now().Add(timeout), timeout: timeout, budget: budget, limit: budget}
}

// stop records why the evaluation must end and unwinds the VM, which turns the panic into an error.
func (g *exprGuard) stop(err error) {
	if g.err == nil {
		g.err = err
	}
	panic(g.err)
}

func (g *exprGuard) tick() {
	g.ticks++
	if g.ticks%tickCheckEvery != 0 {
		return
	}
	if err := g.ctx.Err(); err != nil {
		g.stop(err)
	}
	if time.Now().After(g.deadline) {
		g.stop(Permanent(fmt.Errorf("expression ran longer than %s", g.timeout)))
	}
}

// charge takes n bytes from the budget, ending the evaluation when it runs out.
func (g *exprGuard) charge(n int64) {
	g.budget -= n
	if g.budget < 0 {
		g.stop(Permanent(fmt.Errorf("expression built more than %d MiB", g.limit>>20)))
	}
}

// measure walks v as a builtin would (every value it can reach, repeats included) and ends the evaluation if that
// is more than the budget left; it walks no further than that.
func (g *exprGuard) measure(v any) {
	left := g.budget
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		if depth > maxExprWalkDepth {
			return false
		}
		switch x := v.(type) {
		case string:
			left -= int64(len(x))
		case []any:
			left -= int64(len(x)) * costPerElement
			for _, e := range x {
				if left < 0 || !walk(e, depth+1) {
					return false
				}
			}
		case map[string]any:
			left -= int64(len(x)) * costPerElement
			for k, e := range x {
				left -= int64(len(k))
				if left < 0 || !walk(e, depth+1) {
					return false
				}
			}
		default:
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map {
				left -= int64(rv.Len()) * costPerElement
			}
		}
		return left >= 0
	}
	if !walk(v, 0) {
		g.stop(Permanent(fmt.Errorf("expression would build more than %d MiB", g.limit>>20)))
	}
}

// maxExprWalkDepth matches expr-lang's own nesting limit for builtins that recurse (flatten, min, max …).
const maxExprWalkDepth = 10_000

// chargeResult charges what a builtin returned: the bytes of a string, the headers of a collection.
func (g *exprGuard) chargeResult(v any) {
	switch x := v.(type) {
	case string:
		g.charge(int64(len(x)))
	case []any:
		g.charge(int64(len(x)) * costPerElement)
	case map[string]any:
		g.charge(int64(len(x)) * costPerElement)
	default:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map {
			g.charge(int64(rv.Len()) * costPerElement)
		}
	}
}

func guardOf(v any) *exprGuard {
	g, ok := v.(*exprGuard)
	if !ok {
		panic("expression guard missing") // only patched calls pass it, always first
	}
	return g
}

// exprTick is the patched predicate body: `__tick(__guard, body)`.
func exprTick(params ...any) (any, error) {
	guardOf(params[0]).tick()
	return params[1], nil
}

// exprAdd is the patched `a + b`: strings are charged before they are joined; the rest is expr-lang's own +.
func exprAdd(params ...any) (any, error) {
	g := guardOf(params[0])
	a, b := params[1], params[2]
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			g.charge(int64(len(x) + len(y)))
			return x + y, nil
		}
	}
	out := runtime.Add(a, b)
	g.chargeResult(out)
	return out, nil
}

// guardedBuiltins are the builtins that walk or build values in proportion to their arguments. The rest (len,
// abs, hasPrefix, now …) cost the same whatever they are given.
var guardedBuiltins = func() map[string]*builtin.Function {
	m := map[string]*builtin.Function{}
	for _, name := range []string{
		"string", "trim", "trimPrefix", "trimSuffix", "upper", "lower", "split", "splitAfter", "join",
		"max", "min", "mean", "median", "toJSON", "fromJSON", "toBase64", "fromBase64", "take", "keys", "values",
		"toPairs", "fromPairs", "reverse", "uniq", "concat", "flatten", "sort",
	} {
		for _, fn := range builtin.Builtins {
			if fn.Name == name {
				m[name] = fn
			}
		}
		if m[name] == nil {
			panic("expr-lang has no builtin " + name) // the pinned version changed: review the list
		}
	}
	return m
}()

// exprBuiltin is a patched builtin call: `__builtin(__guard, "name", args…)`.
func exprBuiltin(params ...any) (any, error) {
	g := guardOf(params[0])
	fn := guardedBuiltins[params[1].(string)]
	args := params[2:]
	for _, a := range args {
		g.measure(a)
	}
	var out any
	var err error
	switch {
	case fn.Func != nil:
		out, err = fn.Func(args...)
	case fn.Safe != nil:
		out, _, err = fn.Safe(args...)
	case fn.Fast != nil && len(args) == 1:
		out = fn.Fast(args[0])
	default:
		err = fmt.Errorf("%s: wrong number of arguments", fn.Name)
	}
	if err != nil {
		return nil, err
	}
	g.chargeResult(out)
	return out, nil
}

// exprGuardPatcher is the expr-lang visitor that inserts the guard's calls; see the comment at the top of the
// file. A fresh one is used for each compilation.
type exprGuardPatcher struct {
	err error
}

func guardIdent() ast.Node { return &ast.IdentifierNode{Value: exprGuardVar} }

func call(name string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args}
}

// Visit implements ast.Visitor. The walk visits children before their parent, so the nodes it inserts are never
// visited themselves: an identifier with the reserved prefix that it sees was written by the author.
func (p *exprGuardPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if strings.HasPrefix(n.Value, "__") && p.err == nil {
			p.err = fmt.Errorf("names beginning with __ are reserved (%s)", n.Value)
		}
	case *ast.PredicateNode:
		n.Node = call("__tick", guardIdent(), n.Node)
	case *ast.BinaryNode:
		if n.Operator == "+" {
			ast.Patch(node, call("__add", guardIdent(), n.Left, n.Right))
		}
	case *ast.BuiltinNode:
		if _, ok := guardedBuiltins[n.Name]; ok {
			args := append([]ast.Node{guardIdent(), &ast.StringNode{Value: n.Name}}, n.Arguments...)
			ast.Patch(node, call("__builtin", args...))
		}
	}
}

// exprGuardFunctions declare the patched calls to expr-lang.
var exprGuardFunctions = []expr.Option{
	expr.Function("__tick", exprTick, new(func(any, any) any)),
	expr.Function("__add", exprAdd, new(func(any, any, any) any)),
	expr.Function("__builtin", exprBuiltin),
}
