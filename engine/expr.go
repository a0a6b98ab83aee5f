package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
	"github.com/itchyny/gojq"

	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/engine/value"
)

// Bounds on expressions that do not depend on configuration. The configurable ones (time, memory, depth, output
// size) are sandbox.Limits, handed to the Executor.
const (
	// MaxExpressionBytes bounds the source of one expression, template or jq program.
	MaxExpressionBytes = 64 << 10
	// MaxTemplateBytes bounds a rendered template.
	MaxTemplateBytes = 1 << 20

	// exprMaxNodes bounds the size of a compiled expr-lang program.
	exprMaxNodes = 2_000
	// exprMemoryBudget bounds the elements one expr-lang evaluation may produce in ranges, maps and filters (its
	// unit is roughly one element); the bytes it builds are bounded by the evaluation's guard (exprguard.go).
	exprMemoryBudget = 1_000_000
)

// The names every expression sees. Declared once so that the expr-lang checker reports unknown names (a typo such
// as `inptu.total`) at save time rather than at run time.
var exprVarNames = []string{"trigger", "input", "nodes", "item", "index", "execution"}

// jqVarNames are the same names as jq variables ($trigger …); `.` is the input.
var jqVarNames = []string{"$trigger", "$input", "$nodes", "$item", "$index", "$execution"}

var exprOptions = func() []expr.Option {
	// Declared as any, not nil: a nil declaration would make the checker refuse `input.total` ("type nil has no
	// field total").
	declared := make(types.Map, len(exprVarNames)+1)
	for _, name := range exprVarNames {
		declared[name] = types.Any
	}
	declared[exprGuardVar] = types.Any
	return append([]expr.Option{
		expr.Env(declared),
		// JSON numbers decode as float64 and expr-lang's % takes only integers, so `item.n % 2` would fail on
		// every webhook payload; mod accepts both, as JavaScript's % does for n8n users.
		expr.Function("mod", exprMod, new(func(any, any) any)),
		expr.Operator("%", "mod"),
		expr.MaxNodes(exprMaxNodes),
		// repeat and replace can build a string of any size in one call, past the memory budget's reach: repeat
		// is gone, replace checks the size it would build first.
		expr.DisableBuiltin("repeat"),
		expr.Function("replace", exprReplace, new(func(string, string, string) string)),
	}, exprGuardFunctions...)
}()

// maxExprString bounds a string built by one replace call.
const maxExprString = 16 << 20

// exprReplace is expr-lang's replace(s, old, new), refusing results larger than maxExprString before building them.
// It is called as the author wrote it, without the guard, so it keeps its own bound.
func exprReplace(params ...any) (any, error) {
	s, old, repl := params[0].(string), params[1].(string), params[2].(string)
	n := strings.Count(s, old)
	if n > 0 && len(s)+n*(len(repl)-len(old)) > maxExprString {
		return nil, fmt.Errorf("replace would build a string of more than %d bytes", maxExprString)
	}
	return strings.ReplaceAll(s, old, repl), nil
}

// exprMod is % for JSON numbers: integer remainder for integers, floating-point remainder otherwise.
func exprMod(params ...any) (any, error) {
	if x, ok := params[0].(int); ok {
		if y, ok := params[1].(int); ok && y != 0 {
			return x % y, nil
		}
	}
	a, aInt, okA := exprNumber(params[0])
	b, bInt, okB := exprNumber(params[1])
	if !okA || !okB {
		return nil, fmt.Errorf("cannot take %s %% %s", describe(params[0]), describe(params[1]))
	}
	if b == 0 {
		return nil, errors.New("modulo by zero")
	}
	if aInt && bInt {
		return int(a) % int(b), nil
	}
	return math.Mod(a, b), nil
}

// exprNumber reads a number expr-lang may hand over, saying whether it is a whole one.
func exprNumber(v any) (f float64, whole, ok bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true, true
	case int64:
		return float64(x), true, true
	case float64:
		return x, x == math.Trunc(x) && math.Abs(x) < 1<<53, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53, err == nil
	}
	return 0, false, false
}

// exprMachine is a VM and the guard of the evaluation it runs.
type exprMachine struct {
	vm    vm.VM
	guard exprGuard
}

// vmPool reuses expr-lang VMs: a fresh VM per evaluation allocates its stack every time.
var vmPool = sync.Pool{New: func() any { return &exprMachine{vm: vm.VM{MemoryBudget: exprMemoryBudget}} }}

// Compiler compiles the expressions of one node's config, once per workflow version. It is handed to
// NodeType.Compile; every failure it sees becomes a Problem naming the node and the config field, so that the
// editor can show them all at once.
type Compiler struct {
	nodeID    string
	problems  []Problem
	usesNodes bool
}

// varUse records which costly variables a program reads, so evaluations build only those.
type varUse uint8

const (
	useNodes varUse = 1 << iota
	useExecution
)

// NodeID returns the id of the node being compiled, for error messages.
func (c *Compiler) NodeID() string { return c.nodeID }

// Problem records a config problem that the JSON Schema cannot express (a field that must be one of two, a cron
// string that does not parse). Field is relative to the config.
func (c *Compiler) Problem(field, message string) {
	c.problems = append(c.problems, Problem{NodeID: c.nodeID, Field: configField(field), Message: message})
}

// Expression compiles an expr-lang expression that yields a value (the items of a loop, a field of a mapping).
// field names the config field it came from ("items") for the error.
func (c *Compiler) Expression(field, src string) (*Expression, error) {
	e, err := compileExpression(src)
	if err != nil {
		c.Problem(field, err.Error())
		return nil, err
	}
	c.usesNodes = c.usesNodes || e.uses&useNodes != 0
	return e, nil
}

// Condition compiles an expr-lang expression that must yield true or false, such as `input.total > 100`.
func (c *Compiler) Condition(field, src string) (*Condition, error) {
	e, err := c.Expression(field, src)
	if err != nil {
		return nil, err
	}
	return &Condition{expr: e}, nil
}

// Template compiles a string with `{{ expression }}` parts, such as "Order {{ input.id }} received".
func (c *Compiler) Template(field, src string) (*Template, error) {
	t, err := compileTemplate(src)
	if err != nil {
		c.Problem(field, err.Error())
		return nil, err
	}
	for _, p := range t.parts {
		if p.expr != nil && p.expr.uses&useNodes != 0 {
			c.usesNodes = true
		}
	}
	return t, nil
}

// JQ compiles a jq program whose `.` is the node's input; the other names are variables ($trigger, $nodes …).
func (c *Compiler) JQ(field, src string) (*JQ, error) {
	q, err := compileJQ(src)
	if err != nil {
		c.Problem(field, err.Error())
		return nil, err
	}
	c.usesNodes = c.usesNodes || q.uses&useNodes != 0
	return q, nil
}

// configField turns a config-relative field into the path problems use.
func configField(field string) string {
	if field == "" {
		return "config"
	}
	return "config." + field
}

// Expression is a compiled expr-lang expression. It is immutable and safe to evaluate from many goroutines.
type Expression struct {
	src     string
	program *vm.Program
	uses    varUse
}

// Source returns the expression as written.
func (e *Expression) Source() string { return e.src }

func compileExpression(src string) (*Expression, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("expression is empty")
	}
	if len(src) > MaxExpressionBytes {
		return nil, fmt.Errorf("expression is longer than %d bytes", MaxExpressionBytes)
	}
	patcher := &exprGuardPatcher{}
	program, err := expr.Compile(src, append(exprOptions[:len(exprOptions):len(exprOptions)], expr.Patch(patcher))...)
	if patcher.err != nil {
		return nil, patcher.err
	}
	if err != nil {
		return nil, exprError(err)
	}
	return &Expression{src: src, program: program, uses: referencedVars(program.Node())}, nil
}

// referencedVars reports which costly variables a program reads (`$env` reads them all), so that the map of
// finished nodes and the execution map are built only for evaluations that need them.
func referencedVars(root ast.Node) varUse {
	v := &identFinder{}
	ast.Walk(&root, v)
	return v.uses
}

type identFinder struct{ uses varUse }

// Visit implements ast.Visitor.
func (f *identFinder) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		switch id.Value {
		case "nodes":
			f.uses |= useNodes
		case "execution":
			f.uses |= useExecution
		case "$env":
			f.uses |= useNodes | useExecution
		}
	}
}

// exprError shortens expr-lang's multi-line errors (message, source line, caret) to one line fit for a problem
// list or a node run's error.
func exprError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Line > 0 {
			return fmt.Errorf("%s (line %d, column %d)", fe.Message, fe.Line, fe.Column+1)
		}
		return errors.New(fe.Message)
	}
	return err
}

// Eval evaluates the expression within the limits (time, bytes built) of vars. Errors (a type mismatch, a limit)
// are Permanent: the same data would fail the same way again; only ctx ending is not.
func (e *Expression) Eval(ctx context.Context, vars *Vars) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limits := vars.limits()
	m := vmPool.Get().(*exprMachine)
	m.guard.reset(ctx, limits.Timeout, limits.Memory/exprMemoryShare)
	env := vars.exprEnv(e.uses)
	env[exprGuardVar] = &m.guard
	out, err := m.vm.Run(e.program, env)
	guardErr := m.guard.err
	env[exprGuardVar] = nil
	m.guard.ctx = nil
	vmPool.Put(m)
	switch {
	case guardErr != nil && ctx.Err() != nil:
		return nil, ctx.Err() // the node's deadline or the execution's end: not the expression's fault
	case guardErr != nil:
		return nil, fmt.Errorf("expression %q: %w", clip(e.src), guardErr)
	case err != nil:
		return nil, Permanent(fmt.Errorf("expression %q: %w", clip(e.src), exprError(err)))
	}
	return out, nil
}

// exprMemoryShare is the part of the evaluation memory limit one expression may build: expressions run in the
// calling process, up to several at once per execution, so each gets a quarter of what a jq runner may hold.
const exprMemoryShare = 4

// clip shortens an author's source for an error message.
func clip(src string) string {
	if len(src) > 200 {
		return src[:200] + "…"
	}
	return src
}

// Condition is a compiled expression yielding true or false.
type Condition struct{ expr *Expression }

// Source returns the condition as written.
func (c *Condition) Source() string { return c.expr.src }

// Eval evaluates the condition. null counts as false, so that `input.flag` works when the flag is absent; any
// other non-boolean is an error rather than a guess at truthiness.
func (c *Condition) Eval(ctx context.Context, vars *Vars) (bool, error) {
	v, err := c.expr.Eval(ctx, vars)
	if err != nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil:
		return false, nil
	}
	return false, Permanent(fmt.Errorf("condition %q gave %s, not true or false", c.expr.src, describe(v)))
}

// Template is a compiled `{{ expression }}` string template.
type Template struct {
	src   string
	parts []templatePart
	// single is set when the whole template is one expression, so Value can keep its type.
	single *Expression
}

type templatePart struct {
	literal string
	expr    *Expression
}

// Source returns the template as written.
func (t *Template) Source() string { return t.src }

// IsConstant reports whether the template has no expressions.
func (t *Template) IsConstant() bool {
	for _, p := range t.parts {
		if p.expr != nil {
			return false
		}
	}
	return true
}

func compileTemplate(src string) (*Template, error) {
	if len(src) > MaxExpressionBytes {
		return nil, fmt.Errorf("template is longer than %d bytes", MaxExpressionBytes)
	}
	t := &Template{src: src}
	rest := src
	for rest != "" {
		open := strings.Index(rest, "{{")
		if open < 0 {
			t.parts = append(t.parts, templatePart{literal: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{literal: rest[:open]})
		}
		end := strings.Index(rest[open+2:], "}}")
		if end < 0 {
			return nil, fmt.Errorf("template has a {{ without its closing }} at byte %d", len(src)-len(rest)+open)
		}
		inner := rest[open+2 : open+2+end]
		e, err := compileExpression(inner)
		if err != nil {
			return nil, fmt.Errorf("in {{%s}}: %w", inner, err)
		}
		t.parts = append(t.parts, templatePart{expr: e})
		rest = rest[open+2+end+2:]
	}
	if len(t.parts) == 1 && t.parts[0].expr != nil {
		t.single = t.parts[0].expr
	}
	return t, nil
}

// Render evaluates the template to text; each expression's value is written with FormatValue.
func (t *Template) Render(ctx context.Context, vars *Vars) (string, error) {
	return t.RenderFunc(ctx, vars, func(v any) (string, error) { return FormatValue(v), nil })
}

// RenderFunc evaluates the template, writing literal text as is and each expression's value through format. It
// lets an output format escape values and only values (HTML, JSON), as an html/template does.
func (t *Template) RenderFunc(ctx context.Context, vars *Vars, format func(v any) (string, error)) (string, error) {
	if len(t.parts) == 1 && t.parts[0].expr == nil {
		return t.parts[0].literal, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			b.WriteString(p.literal)
		} else {
			v, err := p.expr.Eval(ctx, vars)
			if err != nil {
				return "", err
			}
			s, err := format(v)
			if err != nil {
				return "", Permanent(fmt.Errorf("{{%s}}: %w", p.expr.src, err))
			}
			b.WriteString(s)
		}
		if b.Len() > MaxTemplateBytes {
			return "", Permanent(fmt.Errorf("rendered template is larger than %d bytes", MaxTemplateBytes))
		}
	}
	return b.String(), nil
}

// Value evaluates the template keeping the value's type when the template is exactly one `{{ expression }}`
// (so a mapping field `{{ input.items }}` stays an array, as in n8n), and renders text otherwise.
func (t *Template) Value(ctx context.Context, vars *Vars) (any, error) {
	if t.single != nil {
		return t.single.Eval(ctx, vars)
	}
	return t.Render(ctx, vars)
}

// FormatValue writes a value the way templates show it: strings as they are, null as nothing, whole numbers
// without a decimal point or exponent, times in RFC 3339, objects and arrays as JSON.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	}
	b, err := value.AppendJSON(nil, v, formatMaxDepth, formatMaxBytes)
	if value.IsLimit(err) {
		return "[" + err.Error() + "]"
	}
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Bounds of FormatValue: values that reach it have been bounded where they were made (node outputs, expression
// results), so these only stop what is still left: many references to one large value.
const (
	formatMaxDepth = 1_000
	formatMaxBytes = 16 << 20
)

// JQ is a compiled jq program. It runs in a sandbox runner process (engine/sandbox): the program is parsed here
// to report its errors at save time, and sent as text to the runner, which keeps its own compiled copy. The one
// exception is a projection (jqlocal.go), which cannot loop or grow, and runs here.
type JQ struct {
	src     string
	uses    varUse
	local   *gojq.Code    // the compiled projection, or nil
	timeout time.Duration // shorter than the pool's, in tests
}

// Source returns the program as written.
func (q *JQ) Source() string { return q.src }

func compileJQ(src string) (*JQ, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("jq program is empty")
	}
	if len(src) > MaxExpressionBytes {
		return nil, fmt.Errorf("jq program is longer than %d bytes", MaxExpressionBytes)
	}
	parsed, err := gojq.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("jq: %w", err)
	}
	// Compiled here to report unknown functions and variables at save time, and kept for a projection.
	code, err := gojq.Compile(parsed, gojq.WithVariables(jqVarNames))
	if err != nil {
		return nil, fmt.Errorf("jq: %w", err)
	}
	var uses varUse
	if strings.Contains(src, "$nodes") {
		uses |= useNodes
	}
	if strings.Contains(src, "$execution") {
		uses |= useExecution
	}
	q := &JQ{src: src, uses: uses}
	if jqProjection(parsed) {
		q.local = code
	}
	return q, nil
}

// Run runs the program on the input of vars and returns every value it emits, within the limits of the sandbox
// pool the execution runs with (time, memory, result count, output size and depth).
func (q *JQ) Run(ctx context.Context, vars *Vars) ([]any, error) {
	pool := vars.sandbox()
	limits := vars.limits()
	if q.local != nil {
		if out, ok, err := q.runLocal(ctx, vars, limits); ok {
			return out, err
		}
	}
	if pool == nil {
		return nil, Permanent(errors.New("jq: this program needs a sandbox runner, and it was evaluated outside an executor"))
	}
	run := sandbox.JQ{Program: q.src, VarNames: jqVarNames, Timeout: q.timeout, Tenant: vars.tenant()}
	var err error
	if run.Input, err = vars.inputJSON(limits); err != nil {
		return nil, Permanent(fmt.Errorf("jq input: %w", err))
	}
	if run.Vars, err = vars.jqJSON(q.uses, limits); err != nil {
		return nil, Permanent(fmt.Errorf("jq variables: %w", err))
	}
	out, err := pool.RunJQ(ctx, run)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // the node's deadline or the execution's end: not the program's fault
		}
		if errors.Is(err, sandbox.ErrClosed) {
			return nil, err // shutting down: the execution resumes elsewhere
		}
		if value.IsLimit(err) {
			return nil, Permanent(err)
		}
		return nil, Permanent(fmt.Errorf("jq: %w", err))
	}
	// The runner checked the values' depth; one more level is the array around them.
	decoded, err := value.Decode(out, limits.MaxDepth+1)
	if err != nil {
		return nil, Permanent(fmt.Errorf("jq output: %w", err))
	}
	return decoded.([]any), nil
}

// First runs the program and returns its single result as a node output usually wants it: null when it emits
// nothing, the value when it emits one, and an array of them when it emits several.
func (q *JQ) First(ctx context.Context, vars *Vars) (any, error) {
	out, err := q.Run(ctx, vars)
	if err != nil {
		return nil, err
	}
	switch len(out) {
	case 0:
		return nil, nil
	case 1:
		return out[0], nil
	}
	return out, nil
}

// Vars is what expressions of one node run see. It is built once per Run (Input.Vars) and not safe for
// concurrent use; the maps it hands to expr-lang are built on first use and reused.
type Vars struct {
	env       *Env
	input     any
	raw       json.RawMessage // input encoded, when the caller has it
	item      any
	index     any
	exprVars  map[string]any
	nodes     map[string]any
	execution map[string]any
}

func newVars(env *Env, input any) *Vars {
	v := &Vars{env: env, input: input}
	if env != nil && env.ItemIndex != nil {
		v.item = env.Item
		v.index = *env.ItemIndex
	}
	return v
}

// SetItem binds `item` and `index` for one element, as transform.filter does for each element it tests.
func (v *Vars) SetItem(item any, index int) {
	v.item, v.index = item, index
	if v.exprVars != nil {
		v.exprVars["item"] = item
		v.exprVars["index"] = index
	}
}

// Input returns the input the variables were built with.
func (v *Vars) Input() any { return v.input }

// sandbox returns the executor's pool jq programs run in; nil outside an executor, where only the programs jq
// evaluates in-process (jqlocal.go) can run.
func (v *Vars) sandbox() *sandbox.Pool {
	if v.env == nil {
		return nil
	}
	return v.env.sandbox
}

// tenant names whose turn a jq program waits for in the sandbox: its organization, else its workflow.
func (v *Vars) tenant() string {
	if v.env == nil {
		return ""
	}
	if v.env.Execution.OrganizationID != "" {
		return v.env.Execution.OrganizationID
	}
	return v.env.Execution.WorkflowID
}

// limits returns the evaluation limits of the execution.
func (v *Vars) limits() sandbox.Limits {
	if pool := v.sandbox(); pool != nil {
		return pool.Limits()
	}
	return sandbox.Limits{}.Defaults()
}

func (v *Vars) nodesMap() map[string]any {
	if v.nodes == nil {
		if v.env != nil && v.env.scope != nil {
			v.nodes = v.env.scope.nodesView()
		} else {
			v.nodes = map[string]any{}
		}
	}
	return v.nodes
}

func (v *Vars) trigger() any {
	if v.env == nil {
		return nil
	}
	return v.env.Trigger
}

func (v *Vars) executionMap() map[string]any {
	if v.execution == nil {
		var info ExecutionInfo
		if v.env != nil {
			info = v.env.Execution
		}
		v.execution = executionMap(info)
	}
	return v.execution
}

func executionMap(e ExecutionInfo) map[string]any {
	// int, not int64: gojq reads only int, float64 and big numbers.
	return map[string]any{"id": e.ID, "workflow_id": e.WorkflowID, "version": int(e.Version)}
}

// exprEnv returns the variables for expr-lang. nodes and execution are added only once a program reads them; a
// name missing from the map reads as null, which no program that does not mention it can tell.
func (v *Vars) exprEnv(uses varUse) map[string]any {
	if v.exprVars == nil {
		v.exprVars = make(map[string]any, len(exprVarNames)+1)
		v.exprVars["trigger"] = v.trigger()
		v.exprVars["input"] = v.input
		v.exprVars["item"] = v.item
		v.exprVars["index"] = v.index
	}
	if uses&useNodes != 0 && v.exprVars["nodes"] == nil {
		v.exprVars["nodes"] = v.nodesMap()
	}
	if uses&useExecution != 0 && v.exprVars["execution"] == nil {
		v.exprVars["execution"] = v.executionMap()
	}
	return v.exprVars
}

// maxJQVarBytes bounds one encoded jq variable in multiples of the output limit: $nodes holds every output so far.
const maxJQVarBytes = 4

// inputJSON returns the input encoded, reusing the encoding the caller had.
func (v *Vars) inputJSON(limits sandbox.Limits) ([]byte, error) {
	if v.raw != nil {
		return v.raw, nil
	}
	return value.AppendJSON(nil, v.input, limits.MaxDepth, maxJQVarBytes*limits.MaxBytes)
}

// jqJSON returns the values of jqVarNames encoded, in that order; nodes and execution only when the program
// reads them.
func (v *Vars) jqJSON(uses varUse, limits sandbox.Limits) ([][]byte, error) {
	encode := func(x any, extraDepth int) ([]byte, error) {
		return value.AppendJSON(nil, x, limits.MaxDepth+extraDepth, maxJQVarBytes*limits.MaxBytes)
	}
	null := []byte("null")
	out := [][]byte{null, nil, null, null, null, null}
	var err error
	if v.env != nil && v.env.TriggerJSON != nil {
		out[0] = v.env.TriggerJSON
	} else if out[0], err = encode(v.trigger(), 0); err != nil {
		return nil, err
	}
	if out[1], err = v.inputJSON(limits); err != nil {
		return nil, err
	}
	if uses&useNodes != 0 {
		if out[2], err = encode(v.nodesMap(), 2); err != nil { // {"id": {"output": …}}
			return nil, err
		}
	}
	if out[3], err = encode(v.item, 0); err != nil {
		return nil, err
	}
	if out[4], err = encode(v.index, 0); err != nil {
		return nil, err
	}
	if uses&useExecution != 0 {
		if out[5], err = encode(v.executionMap(), 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// describe names a value's JSON type for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case int, int64, float64, json.Number:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
