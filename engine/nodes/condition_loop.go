package nodes

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/concertmaster/concertmaster/engine"
)

// Loop bounds.
const (
	DefaultLoopIterations = 1_000
	MaxLoopIterations     = 100_000
	MaxLoopConcurrency    = 32
)

// LoopConfig is the config of condition.loop.
type LoopConfig struct {
	// Items is an expression giving the array to iterate over.
	Items string `json:"items"`
	// Concurrency is how many items run at once (1, the default, runs them in order).
	Concurrency int `json:"concurrency,omitempty"`
	// MaxIterations fails the node when there are more items, rather than quietly running a runaway loop.
	MaxIterations int `json:"max_iterations,omitempty"`
}

const loopSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "items": {"title": "Items", "type": "string", "minLength": 1, "x-expression": "expression", "description": "An expression giving the array to loop over, or the output of a Parse file node with a batch size (input), to loop over its batches."},
    "concurrency": {"title": "Items at once", "type": "integer", "minimum": 1, "maximum": 32, "default": 1},
    "max_iterations": {"title": "Maximum items", "type": "integer", "minimum": 1, "maximum": 100000, "default": 1000, "description": "Items (or batches) beyond this fail the node."}
  },
  "required": ["items"],
  "additionalProperties": false
}`

// LoopCondition runs the nodes behind its body port once per item (with item and index set), then sends the
// collected results, in item order, out of its done port. Given the output of a transform.parse with batch_size,
// it runs the body once per batch instead, reading each batch only when its turn comes (engine.Batches). The body is every node reachable from the body port; each
// item's result is the output of the body's last node (or an object keyed by node id when the body ends in several),
// and items whose body ends on an untaken branch are left out, so a loop can filter.
func LoopCondition() engine.NodeType {
	return engine.NodeType{
		Name:         "condition.loop",
		Category:     engine.CategoryCondition,
		Title:        "Loop",
		Description:  "Runs the body branch once for each item of an array, then the done branch with the collected results.",
		ConfigSchema: json.RawMessage(loopSchema),
		Ports:        []string{engine.PortBody, engine.PortDone},
		Loop:         true,
		Example:      json.RawMessage(`{"items": "input.body.orders", "concurrency": 4, "max_iterations": 500}`),
		Compile: func(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
			conf, err := decodeConfig[LoopConfig](cfg)
			if err != nil {
				return nil, err
			}
			itemsExpr, err := c.Expression("items", conf.Items)
			if err != nil {
				return nil, err
			}
			limit := conf.MaxIterations
			if limit == 0 {
				limit = DefaultLoopIterations
			}
			concurrency := max(conf.Concurrency, 1)
			return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
				v, err := itemsExpr.Eval(ctx, in.Vars())
				if err != nil {
					return engine.Output{}, err
				}
				if fb, ok, err := batchesOf(v); err != nil {
					return engine.Output{}, err
				} else if ok {
					if fb.Batches() > limit {
						return engine.Output{}, engine.Permanent(fmt.Errorf("%d batches, more than max_iterations (%d)", fb.Batches(), limit))
					}
					loop, err := fb.loop(in.Services, concurrency)
					return engine.Output{Loop: loop}, err
				}
				list, err := toItems(v, itemsExpr)
				if err != nil {
					return engine.Output{}, err
				}
				if len(list) > limit {
					return engine.Output{}, engine.Permanent(fmt.Errorf("%d items, more than max_iterations (%d)", len(list), limit))
				}
				return engine.Output{Loop: &engine.Loop{Items: list, Concurrency: concurrency}}, nil
			}), nil
		},
	}
}
