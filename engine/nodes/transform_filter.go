package nodes

import (
	"context"
	"encoding/json"

	"github.com/concertmaster/concertmaster/engine"
)

// FilterConfig is the config of transform.filter.
type FilterConfig struct {
	// Condition is evaluated once per element, with the element as `item` and its position as `index`.
	Condition string `json:"condition"`
	// Items is an expression picking the array to filter; the input itself by default.
	Items string `json:"items,omitempty"`
}

const filterSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "condition": {"title": "Keep items where", "type": "string", "minLength": 1, "x-expression": "expression",
      "description": "An expression; item is the element tested, index its position."},
    "items": {"title": "Items", "type": "string", "minLength": 1, "x-expression": "expression",
      "description": "An expression giving the array to filter; the input when empty."}
  },
  "required": ["condition"],
  "additionalProperties": false
}`

// FilterTransform keeps the elements of an array for which a condition holds.
func FilterTransform() engine.NodeType {
	return engine.NodeType{
		Name:         "transform.filter",
		Category:     engine.CategoryTransform,
		Title:        "Filter",
		Description:  "Keeps the items of an array for which a condition holds, with item and index bound for each.",
		ConfigSchema: json.RawMessage(filterSchema),
		Example:      json.RawMessage(`{"items": "input.body.orders", "condition": "item.total > 100"}`),
		Compile: func(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
			conf, err := decodeConfig[FilterConfig](cfg)
			if err != nil {
				return nil, err
			}
			cond, condErr := c.Condition("condition", conf.Condition)
			var itemsExpr *engine.Expression
			if conf.Items != "" {
				if itemsExpr, err = c.Expression("items", conf.Items); err != nil {
					return nil, err
				}
			}
			if condErr != nil {
				return nil, condErr
			}
			return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
				vars := in.Vars()
				list, err := items(ctx, itemsExpr, vars)
				if err != nil {
					return engine.Output{}, err
				}
				kept := make([]any, 0, len(list))
				for i, it := range list {
					vars.SetItem(it, i)
					ok, err := cond.Eval(ctx, vars)
					if err != nil {
						return engine.Output{}, err
					}
					if ok {
						kept = append(kept, it)
					}
				}
				return engine.Output{Data: kept}, nil
			}), nil
		},
	}
}
