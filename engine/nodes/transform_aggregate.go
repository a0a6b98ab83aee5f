package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/concertmaster/concertmaster/engine"
)

// AggregateConfig is the config of transform.aggregate.
type AggregateConfig struct {
	// Items is an expression giving the array to aggregate; the input by default.
	Items string `json:"items,omitempty"`
	// GroupBy lists fields (dotted paths) whose values form a group; empty aggregates everything into one object.
	GroupBy      []string      `json:"group_by,omitempty"`
	Aggregations []Aggregation `json:"aggregations"`
}

// Aggregation is one computed field.
type Aggregation struct {
	// Op is count, sum, avg, min, max, first, last or collect.
	Op string `json:"op"`
	// Field is a dotted path into each item; count without a field counts items.
	Field string `json:"field,omitempty"`
	// As names the result; op_field (or count) by default.
	As string `json:"as,omitempty"`
}

const aggregateSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "path": {"type": "string", "pattern": "^[^.]+(\\.[^.]+)*$", "maxLength": 200}
  },
  "properties": {
    "items": {"title": "Items", "type": "string", "minLength": 1, "x-expression": "expression",
      "description": "An expression giving the array to aggregate; the input when empty."},
    "group_by": {"title": "Group by", "type": "array", "maxItems": 10, "items": {"$ref": "#/$defs/path"}},
    "aggregations": {"title": "Aggregations", "type": "array", "minItems": 1, "maxItems": 50,
      "items": {
        "type": "object",
        "properties": {
          "op": {"enum": ["count", "sum", "avg", "min", "max", "first", "last", "collect"]},
          "field": {"$ref": "#/$defs/path"},
          "as": {"type": "string", "minLength": 1, "maxLength": 100}
        },
        "required": ["op"],
        "additionalProperties": false,
        "if": {"properties": {"op": {"not": {"const": "count"}}}},
        "then": {"required": ["field"]}
      }}
  },
  "required": ["aggregations"],
  "additionalProperties": false
}`

// AggregateTransform summarises an array (totals, averages, counts), optionally per group, like SQL's GROUP BY.
// Groups come out in the order their first item appears, so the output is stable for the same input.
func AggregateTransform() engine.NodeType {
	return engine.NodeType{
		Name:         "transform.aggregate",
		Category:     engine.CategoryTransform,
		Title:        "Aggregate",
		Description:  "Counts, sums, averages or collects fields of an array's items, optionally grouped by fields.",
		ConfigSchema: json.RawMessage(aggregateSchema),
		Example: json.RawMessage(`{"items": "input.body.orders", "group_by": ["customer.id"],
			"aggregations": [{"op": "count", "as": "orders"}, {"op": "sum", "field": "total", "as": "revenue"}]}`),
		Compile: compileAggregate,
	}
}

func compileAggregate(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[AggregateConfig](cfg)
	if err != nil {
		return nil, err
	}
	var itemsExpr *engine.Expression
	if conf.Items != "" {
		if itemsExpr, err = c.Expression("items", conf.Items); err != nil {
			return nil, err
		}
	}
	aggs := make([]Aggregation, len(conf.Aggregations))
	seen := map[string]bool{}
	for _, g := range conf.GroupBy {
		seen[g] = true
	}
	for i, a := range conf.Aggregations {
		if a.As == "" {
			a.As = a.Op
			if a.Field != "" {
				a.As = a.Op + "_" + strings.ReplaceAll(a.Field, ".", "_")
			}
		}
		if seen[a.As] {
			c.Problem(fmt.Sprintf("aggregations.%d.as", i), fmt.Sprintf("%q is already an output field; set a different as", a.As))
		}
		seen[a.As] = true
		aggs[i] = a
	}
	groupBy := conf.GroupBy
	return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
		list, err := items(ctx, itemsExpr, in.Vars())
		if err != nil {
			return engine.Output{}, err
		}
		if len(groupBy) == 0 {
			out, err := aggregate(list, aggs)
			return engine.Output{Data: out}, err
		}
		var order []string
		groups := map[string][]any{}
		keys := map[string][]any{}
		for _, it := range list {
			vals := make([]any, len(groupBy))
			for i, g := range groupBy {
				vals[i] = lookupPath(it, g)
			}
			k, err := json.Marshal(vals)
			if err != nil {
				return engine.Output{}, engine.Permanent(err)
			}
			if _, ok := groups[string(k)]; !ok {
				order = append(order, string(k))
				keys[string(k)] = vals
			}
			groups[string(k)] = append(groups[string(k)], it)
		}
		out := make([]any, 0, len(order))
		for _, k := range order {
			row, err := aggregate(groups[k], aggs)
			if err != nil {
				return engine.Output{}, err
			}
			for i, g := range groupBy {
				row[g] = keys[k][i]
			}
			out = append(out, row)
		}
		return engine.Output{Data: out}, nil
	}), nil
}

// aggregate computes every aggregation over one group.
func aggregate(list []any, aggs []Aggregation) (map[string]any, error) {
	row := make(map[string]any, len(aggs))
	for _, a := range aggs {
		v, err := aggregateOne(list, a)
		if err != nil {
			return nil, engine.Permanent(fmt.Errorf("%s of %s: %w", a.Op, a.Field, err))
		}
		row[a.As] = v
	}
	return row, nil
}

// aggregateOne computes one aggregation. Null and missing values are ignored by every op except a field-less
// count, as in SQL; numeric strings count as numbers because CSV uploads and form fields deliver numbers as text.
func aggregateOne(list []any, a Aggregation) (any, error) {
	if a.Op == "count" && a.Field == "" {
		return len(list), nil
	}
	var vals []any
	for _, it := range list {
		if v := lookupPath(it, a.Field); v != nil {
			vals = append(vals, v)
		}
	}
	switch a.Op {
	case "count":
		return len(vals), nil
	case "collect":
		if vals == nil {
			vals = []any{}
		}
		return vals, nil
	case "first", "last":
		if len(vals) == 0 {
			return nil, nil
		}
		if a.Op == "first" {
			return vals[0], nil
		}
		return vals[len(vals)-1], nil
	case "sum", "avg":
		var sum float64
		for _, v := range vals {
			f, ok := toNumber(v)
			if !ok {
				return nil, fmt.Errorf("%s is not a number", describe(v))
			}
			sum += f
		}
		if a.Op == "sum" {
			return sum, nil
		}
		if len(vals) == 0 {
			return nil, nil
		}
		return sum / float64(len(vals)), nil
	case "min", "max":
		return extreme(vals, a.Op == "max"), nil
	}
	return nil, fmt.Errorf("unknown op %q", a.Op)
}

// extreme returns the smallest or largest value: numerically when every value is a number, as text otherwise.
func extreme(vals []any, largest bool) any {
	if len(vals) == 0 {
		return nil
	}
	numeric := true
	for _, v := range vals {
		if _, ok := toNumber(v); !ok {
			numeric = false
			break
		}
	}
	best := vals[0]
	for _, v := range vals[1:] {
		var less bool
		if numeric {
			a, _ := toNumber(v)
			b, _ := toNumber(best)
			less = a < b
		} else {
			less = engine.FormatValue(v) < engine.FormatValue(best)
		}
		if less != largest && !equalValues(v, best, numeric) {
			best = v
		}
	}
	return best
}

func equalValues(a, b any, numeric bool) bool {
	if numeric {
		x, _ := toNumber(a)
		y, _ := toNumber(b)
		return x == y
	}
	return engine.FormatValue(a) == engine.FormatValue(b)
}

func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// lookupPath reads a dotted path ("customer.id") from a JSON-shaped value; numeric segments index arrays.
func lookupPath(v any, path string) any {
	for path != "" {
		seg, rest, _ := strings.Cut(path, ".")
		path = rest
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
