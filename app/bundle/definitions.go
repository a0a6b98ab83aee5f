package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// maxVersions bounds the versions one imported workflow brings.
const maxVersions = 1000

func (p *plan) planWorkflows(ctx context.Context, c app.Caller, workflows *app.Workflows) {
	for i, in := range p.b.Workflows {
		path := fmt.Sprintf("workflows[%d]", i)
		id, ok := p.workflows[in.ID]
		if !ok {
			continue
		}
		name := strings.TrimSpace(in.Name)
		if name == "" {
			p.problem(path+".name", "is required")
		}
		input := app.WorkflowInput{Name: &name, Description: &in.Description, ConcurrencyLimit: in.ConcurrencyLimit}
		if in.Priority != 0 {
			input.Priority = &in.Priority
		}
		if err := validate.Struct(input); err != nil {
			p.faultProblems(path, err)
		}
		if len(in.Versions) == 0 || len(in.Versions) > maxVersions {
			p.problem(path+".versions", fmt.Sprintf("must hold between 1 and %d versions", maxVersions))
		}
		wf := store.BundleWorkflow{Workflow: store.Workflow{ID: id, Name: name, Description: in.Description,
			Priority: in.Priority, ConcurrencyLimit: in.ConcurrencyLimit}}
		if wf.Workflow.Priority == 0 {
			wf.Workflow.Priority = 2
		}
		if in.Archived { // a mark: the store archives it at the import's own time
			archived := time.Now().UTC()
			wf.Workflow.ArchivedAt = &archived
		}
		for j, v := range in.Versions {
			vpath := fmt.Sprintf("%s.versions[%d]", path, j)
			def := p.remapDefinition(vpath+".definition", v.Definition)
			if def == nil {
				continue
			}
			if _, err := workflows.CheckDefinition(ctx, c, def); err != nil {
				p.faultProblems(vpath+".definition", err)
			}
			wf.Versions = append(wf.Versions, store.BundleVersion{Definition: def, Message: truncate(v.Message, 500)})
		}
		p.out.Workflows = append(p.out.Workflows, wf)
	}
}

// definitionNode is a node of a definition as far as the remapping reads it; the rest of the node is kept as given.
type definitionNode struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// remapDefinition rewrites the references of a definition to the new ids: every node's integration_id, a
// trigger.form's form_id (a bundle form's id or address) and a trigger.error's watched workflow_id. Nodes and
// their configs are rewritten key by key, so every other value stays as the bundle wrote it. It returns nil after
// a problem that leaves nothing to validate.
func (p *plan) remapDefinition(path string, raw json.RawMessage) json.RawMessage {
	var def map[string]json.RawMessage
	if err := json.Unmarshal(raw, &def); err != nil || def == nil {
		p.problem(path, "must be a workflow definition object")
		return nil
	}
	var nodeList []map[string]json.RawMessage
	if err := json.Unmarshal(def["nodes"], &nodeList); err != nil {
		p.problem(path+".nodes", "must be a list of nodes")
		return nil
	}
	for k, node := range nodeList {
		var head definitionNode
		_ = json.Unmarshal(mustJSON(node), &head) // a malformed node is the registry's to name
		var cfg map[string]json.RawMessage
		if json.Unmarshal(node["config"], &cfg) != nil || cfg == nil {
			continue
		}
		npath := fmt.Sprintf("%s.nodes[%d].config", path, k)
		p.remapKey(cfg, "integration_id", func(v string) string { return p.ref(npath+".integration_id", v, p.integrations, "integration") })
		if head.Type == "trigger.form" {
			p.remapKey(cfg, "form_id", func(v string) string {
				if bundleID, ok := p.formSlugs[v]; ok {
					v = bundleID
				}
				return p.ref(npath+".form_id", v, p.forms, "form")
			})
		}
		if head.Type == nodes.ErrorTriggerType {
			p.remapKey(cfg, "workflow_id", func(v string) string { return p.ref(npath+".workflow_id", v, p.workflows, "workflow") })
		}
		node["config"] = mustJSON(cfg)
	}
	def["nodes"] = mustJSON(nodeList)
	return mustJSON(def)
}

// remapKey replaces cfg[key], when it is a non-empty string, with remap of it.
func (p *plan) remapKey(cfg map[string]json.RawMessage, key string, remap func(string) string) {
	var v string
	if raw, ok := cfg[key]; !ok || json.Unmarshal(raw, &v) != nil || v == "" {
		return
	}
	cfg[key] = mustJSON(remap(v))
}

// mustJSON marshals what was just unmarshaled from JSON, which cannot fail.
func mustJSON(v any) json.RawMessage {
	out, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bundle: remarshal: %v", err))
	}
	return out
}
