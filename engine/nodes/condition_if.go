package nodes

import (
	"context"
	"encoding/json"

	"github.com/concertmaster/concertmaster/engine"
)

// IfConfig is the config of condition.if.
type IfConfig struct {
	Condition string `json:"condition"`
}

const ifSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "condition": {"title": "Condition", "type": "string", "minLength": 1, "x-expression": "expression",
      "description": "An expression such as input.total > 100; null counts as false."}
  },
  "required": ["condition"],
  "additionalProperties": false
}`

// IfCondition routes its input to the true or the false port; the branch not taken is skipped.
func IfCondition() engine.NodeType {
	return engine.NodeType{
		Name:         "condition.if",
		Category:     engine.CategoryCondition,
		Title:        "If",
		Description:  "Sends its input on to the true or the false branch depending on a condition.",
		ConfigSchema: json.RawMessage(ifSchema),
		Ports:        []string{"true", "false"},
		Example:      json.RawMessage(`{"condition": "input.total > 100"}`),
		Compile: func(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
			conf, err := decodeConfig[IfConfig](cfg)
			if err != nil {
				return nil, err
			}
			cond, err := c.Condition("condition", conf.Condition)
			if err != nil {
				return nil, err
			}
			return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
				ok, err := cond.Eval(ctx, in.Vars())
				if err != nil {
					return engine.Output{}, err
				}
				port := "false"
				if ok {
					port = "true"
				}
				return passThrough(in, port), nil
			}), nil
		},
	}
}
