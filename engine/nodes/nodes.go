// Package nodes holds the built-in node types: triggers, transforms and conditions. Actions (e-mail, HTTP,
// database, file export) live in their own package because they need Services; they register into the same
// engine.Registry.
//
// Each type is one file with its config struct, its JSON Schema (which the editor renders as the config form), its
// palette text and an example config. Configs are checked against the schema before Compile sees them, so Compile
// only decodes and compiles expressions.
package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/concertmaster/concertmaster/engine"
)

// Types returns every built-in node type.
func Types() []engine.NodeType {
	return []engine.NodeType{
		WebhookTrigger(),
		FormTrigger(),
		ScheduleTrigger(),
		FileUploadTrigger(),
		ErrorTrigger(),
		DataTransform(),
		FilterTransform(),
		AggregateTransform(),
		FormatTransform(),
		ParseTransform(),
		IfCondition(),
		SwitchCondition(),
		LoopCondition(),
		DelayCondition(),
	}
}

// Register adds every built-in node type to reg.
func Register(reg *engine.Registry) error {
	for _, t := range Types() {
		if err := reg.Register(t); err != nil {
			return err
		}
	}
	return nil
}

// NewRegistry returns a registry holding the built-in types, for tests and tools that need no actions.
func NewRegistry() *engine.Registry {
	reg := engine.NewRegistry()
	if err := Register(reg); err != nil {
		panic(err) // the built-ins are checked by this package's tests
	}
	return reg
}

// decodeConfig reads a schema-checked config into its struct. Unknown fields are refused again here so a schema
// that forgot additionalProperties cannot hide a typo.
func decodeConfig[T any](cfg json.RawMessage) (T, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(cfg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("config: %w", err)
	}
	return v, nil
}

// passThrough returns the node's input as its output on port, encoded bytes included, as conditions and delays do.
func passThrough(in engine.Input, port string) engine.Output {
	return engine.Output{Data: in.Data, JSON: in.JSON, Port: port}
}

// triggerRun is the Run of every trigger: the trigger data the caller accepted (webhook request, form submission,
// schedule tick, upload) is the trigger node's output. Checking that data (auth, form fields, file types) is the
// caller's job, before the execution exists.
var triggerRun = engine.RunnableFunc(func(_ context.Context, in engine.Input) (engine.Output, error) {
	return engine.Output{Data: in.Env.Trigger, JSON: in.Env.TriggerJSON}, nil
})

// items reads the array a node works on: the items expression's value when set, else the input.
func items(ctx context.Context, expr *engine.Expression, vars *engine.Vars) ([]any, error) {
	v := vars.Input()
	if expr != nil {
		var err error
		if v, err = expr.Eval(ctx, vars); err != nil {
			return nil, err
		}
	}
	return toItems(v, expr)
}

// toItems reads v, what items gave (or the input when expr is nil), as an array.
func toItems(v any, expr *engine.Expression) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case nil:
		return nil, nil
	}
	// Expressions give typed slices too: []int from a range such as 1..10, []string from split.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8 {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, nil
	}
	if expr != nil {
		return nil, engine.Permanent(fmt.Errorf("items %q gave %s, not an array", expr.Source(), describe(v)))
	}
	return nil, engine.Permanent(fmt.Errorf("input is %s, not an array; set items to pick the array", describe(v)))
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64, int, json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
