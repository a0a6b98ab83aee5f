package nodes

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/concertmaster/concertmaster/engine"
)

// SwitchDefaultPort is taken when no case matches.
const SwitchDefaultPort = "default"

// SwitchConfig is the config of condition.switch.
type SwitchConfig struct {
	Cases []SwitchCase `json:"cases"`
}

// SwitchCase sends the input to Port when Condition holds.
type SwitchCase struct {
	Port      string `json:"port"`
	Condition string `json:"condition"`
}

const switchSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "cases": {"title": "Cases", "type": "array", "minItems": 1, "maxItems": 50,
      "items": {
        "type": "object",
        "properties": {
          "port": {"title": "Output", "type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$", "not": {"enum": ["default", "error"]}},
          "condition": {"title": "When", "type": "string", "minLength": 1, "x-expression": "expression"}
        },
        "required": ["port", "condition"],
        "additionalProperties": false
      }}
  },
  "required": ["cases"],
  "additionalProperties": false
}`

// SwitchCondition routes its input to the port of the first case whose condition holds, or to "default". Only one
// port is taken, as in a switch statement, so a workflow never runs two branches by accident.
func SwitchCondition() engine.NodeType {
	return engine.NodeType{
		Name:         "condition.switch",
		Category:     engine.CategoryCondition,
		Title:        "Switch",
		Description:  "Sends its input to the output of the first case whose condition holds, or to default.",
		ConfigSchema: json.RawMessage(switchSchema),
		Ports:        []string{SwitchDefaultPort},
		PortsFor:     switchPorts,
		Example:      json.RawMessage(`{"cases": [{"port": "eu", "condition": "input.region == 'eu'"}, {"port": "us", "condition": "input.region == 'us'"}]}`),
		Compile:      compileSwitch,
	}
}

// switchPorts lists a config's case ports, in order, then default.
func switchPorts(cfg json.RawMessage) []string {
	conf, err := decodeConfig[SwitchConfig](cfg)
	if err != nil {
		return []string{SwitchDefaultPort}
	}
	ports := make([]string, 0, len(conf.Cases)+1)
	for _, c := range conf.Cases {
		ports = append(ports, c.Port)
	}
	return append(ports, SwitchDefaultPort)
}

func compileSwitch(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[SwitchConfig](cfg)
	if err != nil {
		return nil, err
	}
	conds := make([]*engine.Condition, len(conf.Cases))
	seen := map[string]bool{}
	var firstErr error
	for i, cs := range conf.Cases {
		if seen[cs.Port] {
			c.Problem(fmt.Sprintf("cases.%d.port", i), fmt.Sprintf("output %q is used by an earlier case", cs.Port))
			firstErr = fmt.Errorf("duplicate port %q", cs.Port)
		}
		seen[cs.Port] = true
		cond, err := c.Condition(fmt.Sprintf("cases.%d.condition", i), cs.Condition)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		conds[i] = cond
	}
	if firstErr != nil {
		return nil, firstErr
	}
	cases := conf.Cases
	return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
		vars := in.Vars()
		for i, cond := range conds {
			ok, err := cond.Eval(ctx, vars)
			if err != nil {
				return engine.Output{}, err
			}
			if ok {
				return passThrough(in, cases[i].Port), nil
			}
		}
		return passThrough(in, SwitchDefaultPort), nil
	}), nil
}
