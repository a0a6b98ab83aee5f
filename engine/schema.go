package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// durationPattern matches what Duration accepts and Validate keeps: a Go duration string that is not negative, or
// "" for the default. Upper bounds (MaxNodeTimeout, MaxRetryInterval) are left to Validate: a pattern cannot say
// them.
const durationPattern = `^(|\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+))$`

// DefinitionSchema returns a JSON Schema (draft 2020-12) of a workflow definition as ParseDefinition and Validate
// read it, with each node's config checked against its registered type's ConfigSchema, so that editors can
// validate and autocomplete a definition without asking the server. Every definition Validate accepts matches it;
// what a schema cannot say (one trigger, edges between existing nodes and ports, no cycles, upper bounds on
// durations, MaxDefinitionBytes) is still only checked by Validate.
//
// It is built once per registry and rebuilt only after a type is registered.
func (r *Registry) DefinitionSchema() (json.RawMessage, error) {
	r.mu.RLock()
	cached := r.definitionSchema
	r.mu.RUnlock()
	if cached != nil {
		return cached, nil
	}
	b, err := buildDefinitionSchema(r.Types(), r.lookup)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.definitionSchema == nil {
		r.definitionSchema = b
	}
	return r.definitionSchema, nil
}

func buildDefinitionSchema(types []NodeType, lookup func(string) *registeredType) (json.RawMessage, error) {
	defs := definitionSchemaDefs()
	names, branches, err := nodeTypeBranches(types, lookup, defs)
	if err != nil {
		return nil, err
	}
	defs["node"] = map[string]any{
		"description": "One node on the canvas; its config is checked against its type's schema.",
		"type":        "object", "additionalProperties": false, "required": []string{"id", "type"},
		"properties": map[string]any{
			"id":       map[string]any{"description": "Unique in the workflow: 1 to 64 letters, digits, '_' or '-'.", "type": "string", "pattern": nodeIDPattern.String()},
			"type":     map[string]any{"description": "A registered node type; GET /api/v1/node-types lists them.", "type": "string", "enum": names},
			"name":     map[string]any{"type": nullable("string")},
			"position": map[string]any{"$ref": "#/$defs/position"},
			"config":   map[string]any{"description": "The node's settings, as its type's schema says."},
			"retry":    map[string]any{"$ref": "#/$defs/retry"},
			"timeout": map[string]any{"$ref": "#/$defs/duration",
				"description": fmt.Sprintf("Bounds each attempt (at most %s); empty for the default.", MaxNodeTimeout)},
			"on_error": map[string]any{"description": "What the node does when its last attempt fails; empty means stop.",
				"type": nullable("string"), "enum": []any{OnErrorStop, OnErrorContinue, OnErrorRoute, "", nil}},
		},
		"allOf": branches,
	}
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       "ConcertMaster workflow definition",
		"description": "A workflow as drawn on the canvas: its nodes (exactly one trigger) and the edges between them.",
		"type":        "object", "additionalProperties": false, "required": []string{"nodes"},
		"properties": map[string]any{
			"nodes": map[string]any{"type": "array", "minItems": 1, "maxItems": MaxNodes, "items": map[string]any{"$ref": "#/$defs/node"}},
			"edges": map[string]any{"type": nullable("array"), "maxItems": MaxEdges, "items": map[string]any{"$ref": "#/$defs/edge"}},
			"notes": map[string]any{"type": nullable("array"), "maxItems": MaxNotes, "items": map[string]any{"$ref": "#/$defs/note"}},
		},
		"$defs": defs,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	if err := checkSchemaCompiles(b); err != nil {
		return nil, err
	}
	return b, nil
}

// nullable is a JSON Schema "type" that also admits null.
func nullable(typ string) []string { return []string{typ, "null"} }

// definitionSchemaDefs returns the $defs every node shares: durations, positions, retries and edges.
func definitionSchemaDefs() map[string]any {
	idSchema := map[string]any{"type": "string", "pattern": nodeIDPattern.String()}
	return map[string]any{
		"duration": map[string]any{
			"description": `A Go duration such as "30s", "5m" or "1h30m"; empty or null for the default.`,
			"type":        nullable("string"), "pattern": durationPattern,
		},
		"position": map[string]any{
			"description": "Where the editor draws the node; the engine ignores it.",
			"type":        nullable("object"), "additionalProperties": false,
			"properties": map[string]any{"x": map[string]any{"type": "number"}, "y": map[string]any{"type": "number"}},
		},
		"retry": map[string]any{
			"description": "How often and how patiently a failing node is tried again.",
			"type":        nullable("object"), "additionalProperties": false, "required": []string{"max_attempts"},
			"properties": map[string]any{
				"max_attempts": map[string]any{"description": "Attempts in all, the first one included.",
					"type": "integer", "minimum": 1, "maximum": MaxRetryAttempts},
				"backoff": map[string]any{"type": nullable("string"),
					"enum": []any{BackoffExponential, BackoffFixed, "", nil}},
				"initial_interval": map[string]any{"$ref": "#/$defs/duration",
					"description": "The wait before the first retry (default 1s)."},
				"max_interval": map[string]any{"$ref": "#/$defs/duration",
					"description": fmt.Sprintf("The longest wait between attempts (default 1m, at most %s).", MaxRetryInterval)},
			},
		},
		"note": map[string]any{
			"description": "A sticky note on the canvas: plain text, never run.",
			"type":        "object", "additionalProperties": false, "required": []string{"id", "text", "position", "size"},
			"properties": map[string]any{
				"id":       idSchema,
				"text":     map[string]any{"type": "string", "maxLength": MaxNoteText},
				"position": map[string]any{"$ref": "#/$defs/position"},
				"size": map[string]any{"type": "object", "additionalProperties": false, "required": []string{"width", "height"},
					"properties": map[string]any{
						"width":  map[string]any{"type": "number", "minimum": MinNoteSize, "maximum": MaxNoteSize},
						"height": map[string]any{"type": "number", "minimum": MinNoteSize, "maximum": MaxNoteSize},
					}},
				"color": map[string]any{"type": nullable("string"), "enum": append(anyStrings(NoteColors), "", nil)},
			},
		},
		"edge": map[string]any{
			"description": "Connects an output port of one node to another node.",
			"type":        "object", "additionalProperties": false, "required": []string{"from", "to"},
			"properties": map[string]any{
				"from": idSchema,
				"port": map[string]any{"description": `The output port; "" or absent for the default one.`,
					"type": nullable("string")},
				"to": idSchema,
			},
		},
	}
}

// nodeTypeBranches adds each type's config schema to defs and returns the type names and, per type, the if/then
// branch that checks a node of that type's config against it.
func nodeTypeBranches(types []NodeType, lookup func(string) *registeredType, defs map[string]any) ([]string, []any, error) {
	names := make([]string, len(types))
	var branches []any
	for i, t := range types {
		names[i] = t.Name
		config, err := embeddableSchema(t.ConfigSchema, "#/$defs/"+configDef(t.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("node type %q: config schema: %w", t.Name, err)
		}
		defs[configDef(t.Name)] = config
		// Validate reads an absent or null config as {}: the schema must refuse those exactly when the type
		// refuses {}.
		then := map[string]any{"properties": map[string]any{"config": map[string]any{"$ref": "#/$defs/" + configDef(t.Name)}}}
		if rt := lookup(t.Name); rt != nil && rt.schema.Validate(map[string]any{}) != nil {
			then["required"] = []string{"config"}
		} else {
			then["properties"] = map[string]any{"config": map[string]any{"anyOf": []any{
				map[string]any{"type": "null"}, map[string]any{"$ref": "#/$defs/" + configDef(t.Name)}}}}
		}
		branches = append(branches, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"const": t.Name}}, "required": []string{"type"}},
			"then": then,
		})
	}
	return names, branches, nil
}

// checkSchemaCompiles compiles the schema: one that does not would fail every editor that loads it, so find out
// here instead.
func checkSchemaCompiles(schema []byte) error {
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const url = "urn:concertmaster:workflow-definition"
	if err := c.AddResource(url, parsed); err != nil {
		return err
	}
	if _, err := c.Compile(url); err != nil {
		return fmt.Errorf("workflow definition schema: %w", err)
	}
	return nil
}

// configDef names a type's config schema among the definition schema's $defs.
func configDef(typeName string) string { return "config." + typeName }

// embeddableSchema prepares a config schema for a place inside another document: its own "$schema" goes (only a
// document's root may carry one) and its local references ("#/$defs/x") are rebased onto where it now sits.
func embeddableSchema(raw json.RawMessage, at string) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, x := range v {
				switch {
				case k == "$schema" || k == "$id":
				case (k == "$ref" || k == "$dynamicRef") && isLocalRef(x):
					out[k] = at + strings.TrimPrefix(x.(string), "#")
				default:
					out[k] = walk(x)
				}
			}
			return out
		case []any:
			out := make([]any, len(v))
			for i, x := range v {
				out[i] = walk(x)
			}
			return out
		}
		return v
	}
	return walk(v), nil
}

func isLocalRef(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "#")
}

// anyStrings turns a list of strings into a JSON Schema enum's values.
func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
