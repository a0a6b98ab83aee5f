package nodes

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/concertmaster/concertmaster/engine"
)

// DataConfig is the config of transform.data: a jq program, or a mapping of output keys to templates.
type DataConfig struct {
	JQ      string            `json:"jq,omitempty"`
	Mapping map[string]string `json:"mapping,omitempty"`
}

const dataSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "jq": {"title": "jq program", "type": "string", "minLength": 1, "x-expression": "jq",
      "description": "Its input (.) is the node's input; $trigger, $nodes, $item, $index and $execution are set."},
    "mapping": {"title": "Fields", "type": "object", "minProperties": 1, "maxProperties": 500,
      "additionalProperties": {"type": "string", "x-expression": "template"},
      "description": "Output key → template. A template that is exactly one {{ expression }} keeps the value's type."}
  },
  "oneOf": [{"required": ["jq"]}, {"required": ["mapping"]}],
  "additionalProperties": false
}`

// DataTransform reshapes data, with jq for anything structural or a field mapping for the common "build an object
// from a few values" case.
func DataTransform() engine.NodeType {
	return engine.NodeType{
		Name:         "transform.data",
		Category:     engine.CategoryTransform,
		Title:        "Transform data",
		Description:  "Reshapes the input with a jq program, or builds an object from a mapping of fields to {{ templates }}.",
		ConfigSchema: json.RawMessage(dataSchema),
		Example:      json.RawMessage(`{"jq": "{id: .body.order_id, total: (.body.lines | map(.price * .qty) | add)}"}`),
		Compile:      compileData,
	}
}

func compileData(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[DataConfig](cfg)
	if err != nil {
		return nil, err
	}
	if conf.JQ != "" {
		q, err := c.JQ("jq", conf.JQ)
		if err != nil {
			return nil, err
		}
		return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
			v, err := q.First(ctx, in.Vars())
			return engine.Output{Data: v}, err
		}), nil
	}

	// Keys are sorted so that errors and evaluation order do not depend on map iteration.
	keys := make([]string, 0, len(conf.Mapping))
	for k := range conf.Mapping {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	templates := make([]*engine.Template, len(keys))
	var firstErr error
	for i, k := range keys {
		t, err := c.Template("mapping."+k, conf.Mapping[k])
		if err != nil && firstErr == nil {
			firstErr = err
		}
		templates[i] = t
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
		vars := in.Vars()
		out := make(map[string]any, len(keys))
		for i, k := range keys {
			v, err := templates[i].Value(ctx, vars)
			if err != nil {
				return engine.Output{}, err
			}
			out[k] = v
		}
		return engine.Output{Data: out}, nil
	}), nil
}
