package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Registry holds the node types a process knows. It is built once at start-up (nodes.Register for the built-ins,
// the actions package for actions) and then only read, by validation, compilation and the node catalogue.
type Registry struct {
	mu    sync.RWMutex
	types map[string]*registeredType
	// definitionSchema caches DefinitionSchema; Register clears it.
	definitionSchema json.RawMessage
}

// registeredType is a NodeType with its schema compiled once.
type registeredType struct {
	NodeType
	schema *jsonschema.Schema
	// alternatives lists the fields of a top-level "oneOf" of required fields (cron | every), so that its errors
	// can name them instead of saying "oneOf failed".
	alternatives []string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{types: make(map[string]*registeredType)}
}

var typeNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// Register adds a node type. It refuses a type that is incomplete or inconsistent (a schema that does not compile,
// an example its own schema rejects) so that such mistakes fail at start-up, not in a user's editor.
func (r *Registry) Register(t NodeType) error {
	if !typeNamePattern.MatchString(t.Name) {
		return fmt.Errorf("node type %q: name must look like \"category.name\"", t.Name)
	}
	if t.Category.rank() > 3 {
		return fmt.Errorf("node type %q: unknown category %q", t.Name, t.Category)
	}
	if !strings.HasPrefix(t.Name, string(t.Category)+".") {
		return fmt.Errorf("node type %q: name must start with its category %q", t.Name, t.Category)
	}
	if t.Compile == nil {
		return fmt.Errorf("node type %q: Compile is missing", t.Name)
	}
	if t.Title == "" || t.Description == "" {
		return fmt.Errorf("node type %q: Title and Description are shown in the palette and must be set", t.Name)
	}
	if t.Loop && !slices.Equal(t.Ports, []string{PortBody, PortDone}) {
		return fmt.Errorf("node type %q: a looping type must have exactly the ports %q and %q", t.Name, PortBody, PortDone)
	}
	if t.Category == CategoryTrigger && (t.Loop || t.Waits) {
		return fmt.Errorf("node type %q: a trigger cannot loop or wait", t.Name)
	}
	for _, p := range t.Ports {
		if p == PortError {
			return fmt.Errorf("node type %q: port %q is reserved for on_error", t.Name, PortError)
		}
	}
	if t.DefaultRetry != nil {
		var bad error
		resolveRetry(t.DefaultRetry, func(field, msg string) { bad = fmt.Errorf("node type %q: DefaultRetry: %s %s", t.Name, field, msg) })
		if bad != nil {
			return bad
		}
	}
	if len(t.ConfigSchema) == 0 {
		t.ConfigSchema = json.RawMessage(`{"type":"object"}`)
	}
	if len(t.Example) == 0 {
		t.Example = json.RawMessage(`{}`)
	}
	schema, err := compileSchema(t.Name, t.ConfigSchema)
	if err != nil {
		return fmt.Errorf("node type %q: config schema: %w", t.Name, err)
	}
	rt := &registeredType{NodeType: t, schema: schema, alternatives: oneOfFields(t.ConfigSchema)}
	if probs := rt.checkConfig("", t.Example); len(probs) > 0 {
		return fmt.Errorf("node type %q: example config is invalid: %s %s", t.Name, probs[0].Field, probs[0].Message)
	}
	if _, probs := rt.compileNode(Node{ID: "example", Type: t.Name, Config: t.Example}); len(probs) > 0 {
		return fmt.Errorf("node type %q: example config does not compile: %s %s", t.Name, probs[0].Field, probs[0].Message)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.types[t.Name]; dup {
		return fmt.Errorf("node type %q is already registered", t.Name)
	}
	r.types[t.Name] = rt
	r.definitionSchema = nil
	return nil
}

// MustRegister is Register for start-up code, where a bad built-in type is a bug.
func (r *Registry) MustRegister(t NodeType) {
	if err := r.Register(t); err != nil {
		panic(err)
	}
}

// Lookup returns the type with the given name.
func (r *Registry) Lookup(name string) (NodeType, bool) {
	t := r.lookup(name)
	if t == nil {
		return NodeType{}, false
	}
	return t.NodeType, true
}

// NodePorts returns the output ports of a node of a definition: its type's for its config, and PortError when its
// on_error routes failures there; nil for an unknown type. It is for what stands in for a node's run, such as the
// editor's pinned data, which must leave on one of them. The config must have passed validation (a saved version's
// has).
func (r *Registry) NodePorts(n Node) []string {
	t := r.lookup(n.Type)
	if t == nil {
		return nil
	}
	cfg := n.Config
	if len(cfg) == 0 || string(cfg) == "null" {
		cfg = json.RawMessage(`{}`)
	}
	ports := slices.Clone(t.portsOf(cfg))
	if n.OnError == OnErrorRoute {
		ports = append(ports, PortError)
	}
	return ports
}

func (r *Registry) lookup(name string) *registeredType {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.types[name]
}

// Types returns every type in palette order: by category (trigger, transform, condition, action), then by name.
func (r *Registry) Types() []NodeType {
	r.mu.RLock()
	out := make([]NodeType, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t.NodeType)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if ri, rj := out[i].Category.rank(), out[j].Category.rank(); ri != rj {
			return ri < rj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Validate returns every problem in def; see the package function Validate.
func (r *Registry) Validate(def *Definition) []Problem {
	return Validate(def, r)
}

// ExpressionKeyword is a custom JSON Schema keyword in config schemas that tells the canvas editor how the engine
// evaluates a string field, so that it can offer the right hints. It is an annotation only: validation ignores it
// (draft 2020-12 ignores unknown keywords), and the type's Compile is what actually evaluates the field. It sits on
// the schema of the string itself (inside items, additionalProperties or a oneOf branch where the string lives); on
// a schema that admits any JSON value (action.http's body) it applies to every string inside the value. Its value
// is one of the ExpressionKind constants.
const ExpressionKeyword = "x-expression"

// Values of ExpressionKeyword.
const (
	// ExpressionKindExpression: the whole string is an expression (`input.total > 100`, `input.orders`).
	ExpressionKindExpression = "expression"
	// ExpressionKindTemplate: text in which `{{ expression }}` parts are evaluated.
	ExpressionKindTemplate = "template"
	// ExpressionKindJQ: a jq program whose `.` is the node's input.
	ExpressionKindJQ = "jq"
)

func compileSchema(name string, raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	url := "urn:concertmaster:node-type:" + name
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// schemaMessages prints schema errors in English; the editor shows them as they are.
var schemaMessages = message.NewPrinter(language.English)

// checkConfig validates one node's config against the type's schema and returns a problem per failing field.
func (t *registeredType) checkConfig(nodeID string, cfg json.RawMessage) []Problem {
	if len(cfg) == 0 || string(cfg) == "null" {
		cfg = json.RawMessage(`{}`)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(cfg))
	if err != nil {
		return []Problem{{NodeID: nodeID, Field: "config", Message: "config is not valid JSON"}}
	}
	err = t.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{NodeID: nodeID, Field: "config", Message: err.Error()}}
	}
	var probs []Problem
	seen := map[Problem]bool{}
	add := func(p Problem) {
		if !seen[p] {
			seen[p] = true
			probs = append(probs, p)
		}
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		base := append([]string{"config"}, e.InstanceLocation...)
		if _, ok := e.ErrorKind.(*kind.OneOf); ok && len(e.InstanceLocation) == 0 && len(t.alternatives) > 0 {
			msg := "set one of: " + strings.Join(t.alternatives, ", ")
			if len(e.Causes) == 0 { // several alternatives matched
				msg = "set only one of: " + strings.Join(t.alternatives, ", ")
			}
			add(Problem{NodeID: nodeID, Field: "config", Message: msg})
			return
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				add(Problem{NodeID: nodeID, Field: strings.Join(append(base, m), "."), Message: "is required"})
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				add(Problem{NodeID: nodeID, Field: strings.Join(append(base, p), "."), Message: "is not a known setting"})
			}
		default:
			add(Problem{NodeID: nodeID, Field: strings.Join(base, "."), Message: e.ErrorKind.LocalizedString(schemaMessages)})
		}
	}
	walk(ve)
	return probs
}

// oneOfFields returns the required fields of a schema's top-level oneOf alternatives.
func oneOfFields(schema json.RawMessage) []string {
	var s struct {
		OneOf []struct {
			Required []string `json:"required"`
		} `json:"oneOf"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return nil
	}
	var fields []string
	for _, alt := range s.OneOf {
		fields = append(fields, alt.Required...)
	}
	return fields
}
