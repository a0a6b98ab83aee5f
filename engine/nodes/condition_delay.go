package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/concertmaster/concertmaster/engine"
)

// MaxDelay bounds a delay; a workflow waiting longer is better started by a schedule.
const MaxDelay = 366 * 24 * time.Hour

// DelayConfig is the config of condition.delay: wait for a duration, or until a time.
type DelayConfig struct {
	Duration engine.Duration `json:"duration,omitempty"`
	// Until is an RFC 3339 time or an expression giving one (a time, an RFC 3339 string or Unix seconds).
	Until string `json:"until,omitempty"`
}

const delaySchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "duration": {"title": "Wait for", "type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
      "description": "Such as 30s, 15m or 48h."},
    "until": {"title": "Wait until", "type": "string", "minLength": 1, "x-expression": "expression",
      "description": "An RFC 3339 time (2025-01-31T09:00:00Z) or an expression giving one."}
  },
  "oneOf": [{"required": ["duration"]}, {"required": ["until"]}],
  "additionalProperties": false
}`

// DelayCondition parks the execution for a while and then passes its input on. While parked no worker is held: the
// execution is waiting and continues from a job scheduled at the resume time. A time already past does not wait.
func DelayCondition() engine.NodeType {
	return engine.NodeType{
		Name:         "condition.delay",
		Category:     engine.CategoryCondition,
		Title:        "Delay",
		Description:  "Waits for a duration or until a time, then passes its input on.",
		ConfigSchema: json.RawMessage(delaySchema),
		Waits:        true,
		Example:      json.RawMessage(`{"duration": "1h"}`),
		Compile:      compileDelay,
	}
}

func compileDelay(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[DelayConfig](cfg)
	if err != nil {
		return nil, err
	}
	if conf.Until == "" {
		d := conf.Duration.Std()
		if d <= 0 || d > MaxDelay {
			return nil, engine.ConfigError("duration", fmt.Sprintf("must be between 1ns and %s", MaxDelay))
		}
		return engine.RunnableFunc(func(_ context.Context, in engine.Input) (engine.Output, error) {
			out := passThrough(in, engine.PortDefault)
			out.ParkUntil = in.Env.Now().Add(d)
			return out, nil
		}), nil
	}
	if t, err := time.Parse(time.RFC3339, conf.Until); err == nil {
		return engine.RunnableFunc(func(_ context.Context, in engine.Input) (engine.Output, error) {
			out := passThrough(in, engine.PortDefault)
			out.ParkUntil = t
			return out, nil
		}), nil
	}
	until, err := c.Expression("until", conf.Until)
	if err != nil {
		return nil, err
	}
	return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
		v, err := until.Eval(ctx, in.Vars())
		if err != nil {
			return engine.Output{}, err
		}
		t, err := asTime(v)
		if err != nil {
			return engine.Output{}, engine.Permanent(fmt.Errorf("until %q: %w", until.Source(), err))
		}
		if t.Sub(in.Env.Now()) > MaxDelay {
			return engine.Output{}, engine.Permanent(fmt.Errorf("until %s is more than %s away", t.Format(time.RFC3339), MaxDelay))
		}
		out := passThrough(in, engine.PortDefault)
		out.ParkUntil = t
		return out, nil
	}), nil
}

// asTime reads what an until expression gave.
func asTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		t, err := time.Parse(time.RFC3339, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", x)
		}
		return t, nil
	case float64:
		return time.Unix(0, int64(x*float64(time.Second))), nil
	case int:
		return time.Unix(int64(x), 0), nil
	}
	return time.Time{}, fmt.Errorf("gave %s, not a time", describe(v))
}
