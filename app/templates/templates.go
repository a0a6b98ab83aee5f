// Package templates holds the workflow templates shipped inside the binary (the *.json files beside this one): the
// "start from a trigger" choices of the New workflow page (category "start") and a gallery of ready-made workflows.
//
// A template never holds an id of the organization using it. What differs between organizations (the SMTP server,
// the database, the form) is a placeholder: the person creating the workflow picks one of their integrations of
// the named kind, or one of their forms, and Fill writes the pick into the nodes' config before the definition is
// validated and saved like any other. The package is pure: app checks that the picks are the caller's to use.
package templates

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/concertmaster/concertmaster/platform/fault"
)

//go:embed *.json
var files embed.FS

// Trigger kinds a template starts with; "manual" is a webhook trigger left unused, run from the editor or the API.
const (
	TriggerWebhook    = "webhook"
	TriggerForm       = "form"
	TriggerSchedule   = "schedule"
	TriggerFileUpload = "file_upload"
	TriggerManual     = "manual"
)

// CategoryStart marks the templates that are a lone trigger: the New workflow page's trigger choice.
const CategoryStart = "start"

// Placeholder kinds: what the person creating the workflow picks.
const (
	PlaceholderIntegration = "integration"
	PlaceholderForm        = "form"
)

// Placeholder is something a template needs that only its user can name: an integration of a kind, or a form.
type Placeholder struct {
	Key  string `json:"key"`
	Kind string `json:"kind" validate:"oneof=integration form"` // the tag documents
	// IntegrationKind is the kind an integration placeholder takes (smtp, http, postgres).
	IntegrationKind string `json:"integration_kind,omitempty"`
	Label           string `json:"label"`
	Help            string `json:"help,omitempty"`
	// Nodes are the ids of the nodes whose config.integration_id (or config.form_id) receives the pick.
	Nodes []string `json:"nodes"`
}

// Template is one workflow template.
type Template struct {
	// Key is the file name without .json, the template's stable name in the API.
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	Trigger     string `json:"trigger" validate:"oneof=webhook form schedule file_upload manual"` // the tag documents
	// Placeholders are what Fill needs picked; empty when the template works as it is.
	Placeholders []Placeholder `json:"placeholders"`
	// Sample is trigger data the template's test runs with, when it has no side effects.
	Sample     json.RawMessage `json:"sample,omitempty"`
	Definition json.RawMessage `json:"definition"`
}

var load = sync.OnceValues(func() ([]Template, error) {
	names, err := files.ReadDir(".")
	if err != nil {
		return nil, err
	}
	out := make([]Template, 0, len(names))
	for _, e := range names {
		raw, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		var t Template
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, fmt.Errorf("template %s: %w", e.Name(), err)
		}
		t.Key = strings.TrimSuffix(path.Base(e.Name()), ".json")
		if t.Placeholders == nil {
			t.Placeholders = []Placeholder{}
		}
		out = append(out, t)
	}
	// The trigger choices first, then the gallery by category and name.
	slices.SortStableFunc(out, func(a, b Template) int {
		if (a.Category == CategoryStart) != (b.Category == CategoryStart) {
			if a.Category == CategoryStart {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.Category, b.Category); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
})

// All returns every template: the trigger choices first, then the gallery by category and name. The files are
// embedded and checked by this package's tests, so an error here is a build defect.
func All() []Template {
	all, err := load()
	if err != nil {
		panic(err)
	}
	return all
}

// Get returns the template named key.
func Get(key string) (Template, error) {
	for _, t := range All() {
		if t.Key == key {
			return t, nil
		}
	}
	return Template{}, fault.Fields("no such template", fault.FieldError{Field: "template",
		Message: "is not a template's key (see GET /api/v1/workflow-templates)"})
}

// Fill returns the template's definition with each placeholder's pick (picks[placeholder.Key], an integration's
// or a form's id) written into its nodes' config. A placeholder without a pick is an Invalid fault naming
// "placeholders.<key>"; so is a pick for no placeholder.
func (t Template) Fill(picks map[string]string) (json.RawMessage, error) {
	var fields []fault.FieldError
	known := map[string]bool{}
	for _, p := range t.Placeholders {
		known[p.Key] = true
		if strings.TrimSpace(picks[p.Key]) == "" {
			what := "an integration of kind " + p.IntegrationKind
			if p.Kind == PlaceholderForm {
				what = "a form"
			}
			fields = append(fields, fault.FieldError{Field: "placeholders." + p.Key, Message: "choose " + what})
		}
	}
	for k := range picks {
		if !known[k] {
			fields = append(fields, fault.FieldError{Field: "placeholders." + k, Message: "is not a placeholder of this template"})
		}
	}
	if len(fields) > 0 {
		slices.SortFunc(fields, func(a, b fault.FieldError) int { return strings.Compare(a.Field, b.Field) })
		return nil, fault.Fields("the template needs choices", fields...)
	}
	var def struct {
		Nodes []map[string]json.RawMessage `json:"nodes"`
		Edges json.RawMessage              `json:"edges"`
	}
	if err := json.Unmarshal(t.Definition, &def); err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Key, err)
	}
	for _, p := range t.Placeholders {
		field := "integration_id"
		if p.Kind == PlaceholderForm {
			field = "form_id"
		}
		for _, id := range p.Nodes {
			if err := setConfig(def.Nodes, id, field, strings.TrimSpace(picks[p.Key])); err != nil {
				return nil, fmt.Errorf("template %s: %w", t.Key, err)
			}
		}
	}
	return json.Marshal(def)
}

func setConfig(nodes []map[string]json.RawMessage, id, field, value string) error {
	for _, n := range nodes {
		var nodeID string
		if json.Unmarshal(n["id"], &nodeID) != nil || nodeID != id {
			continue
		}
		cfg := map[string]json.RawMessage{}
		if raw, ok := n["config"]; ok {
			if err := json.Unmarshal(raw, &cfg); err != nil {
				return fmt.Errorf("node %s: config: %w", id, err)
			}
		}
		cfg[field], _ = json.Marshal(value)
		n["config"], _ = json.Marshal(cfg)
		return nil
	}
	return fmt.Errorf("placeholder names node %s, which the definition does not have", id)
}
