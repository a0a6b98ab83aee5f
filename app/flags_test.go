package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// flagged gives the workflows bundle's use cases a feature-flag evaluator in production mode.
func (b *workflowsBundle) flagged(t *testing.T) *flags.Flags {
	t.Helper()
	c, err := flags.NewCatalogue(flags.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := flags.NewProvider(c, flags.Production, b.st, service.NewArchetype(slog.New(slog.DiscardHandler)))
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := flags.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()); cancel(); p.Stop() })
	b.app = app.New(app.Config{Store: b.st, Registry: b.registry, Integrations: b.integrations, WebhookKeys: b.webhookKeys,
		Flags: f})
	return f
}

func typeNames(types []engine.NodeType) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = t.Name
	}
	return out
}

// TestNodeTypeFlaggedOffForOneOrganization: with the error trigger rolled out to the instance and switched off
// for Acme, Acme's palette lacks it and Acme cannot save it (the message names the node and the flag), while
// Globex sees and saves it; a version Globex saved still runs after the flag goes off for Globex too.
func TestNodeTypeFlaggedOffForOneOrganization(t *testing.T) {
	t.Parallel()
	b := setupWorkflows(t)
	f := b.flagged(t)
	ctx := context.Background()
	acme, globex := b.callers["owner"], b.callers["outsider"]
	on, off := json.RawMessage(`true`), json.RawMessage(`false`)
	if _, err := b.st.FeatureFlagSet(ctx, store.SystemActor, store.FeatureFlagSetting{Name: flags.NodeTriggerError,
		Value: on, RolloutBy: flags.SubjectOrganization, Reason: "general availability"}); err != nil {
		t.Fatal(err)
	}
	if err := b.st.FeatureFlagOverrideSet(ctx, store.SystemActor, flags.NodeTriggerError, acme.Principal.OrgID, off, "not yet"); err != nil {
		t.Fatal(err)
	}
	reload := func() {
		if err := f.Provider().Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reload()

	palette := func(c app.Caller) []string {
		types, err := b.app.Workflows.NodeTypes(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return typeNames(types)
	}
	if p := palette(acme); slices.Contains(p, "trigger.error") || !slices.Contains(p, "trigger.webhook") {
		t.Errorf("Acme's palette = %v, want it without trigger.error", p)
	}
	if p := palette(globex); !slices.Contains(p, "trigger.error") {
		t.Errorf("Globex's palette = %v, want trigger.error in it", p)
	}

	def := json.RawMessage(`{"nodes":[{"id":"failure","type":"trigger.error","config":{}}],"edges":[]}`)
	name := "on failure"
	_, err := b.app.Workflows.Create(ctx, acme, app.WorkflowInput{Name: &name, Definition: def})
	var fe *fault.Error
	if fault.CodeOf(err) != fault.Invalid || !errorsAs(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0].NodeID != "failure" ||
		!strings.Contains(fe.Fields[0].Message, "trigger.error") || !strings.Contains(fe.Fields[0].Message, flags.NodeTriggerError) {
		t.Fatalf("Acme saving trigger.error: %v, want Invalid naming node failure and flag %s", err, flags.NodeTriggerError)
	}
	if err := b.app.Workflows.ValidateDefinition(ctx, acme, def); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("Acme validating trigger.error: %v, want Invalid", err)
	}
	saved, err := b.app.Workflows.Create(ctx, globex, app.WorkflowInput{Name: &name, Definition: def})
	if err != nil {
		t.Fatalf("Globex saving trigger.error: %v", err)
	}

	// Switched off for Globex as well: the version it saved still runs (the engine's registry is not gated).
	if err := b.st.FeatureFlagOverrideSet(ctx, store.SystemActor, flags.NodeTriggerError, globex.Principal.OrgID, off, "incident"); err != nil {
		t.Fatal(err)
	}
	reload()
	if slices.Contains(palette(globex), "trigger.error") {
		t.Error("Globex's palette still offers trigger.error after its override")
	}
	v, err := b.app.Workflows.Version(ctx, globex, saved.Workflow.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := engine.ParseDefinition(v.Definition)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Compile(parsed, b.registry); err != nil {
		t.Errorf("the saved version no longer compiles for the workers: %v", err)
	}
	if _, err := b.app.Workflows.Run(ctx, globex, saved.Workflow.ID, nil); err != nil {
		t.Errorf("running the saved version after the flag went off: %v", err)
	}
}

// TestDatabaseActionFlag: action.database is on by default in production and an operator can switch it off for
// one organization.
func TestDatabaseActionFlag(t *testing.T) {
	t.Parallel()
	b := setupWorkflows(t)
	f := b.flagged(t)
	ctx := context.Background()
	acme, globex := b.callers["owner"], b.callers["outsider"]
	for _, c := range []app.Caller{acme, globex} {
		if types, _ := b.app.Workflows.NodeTypes(ctx, c); !slices.Contains(typeNames(types), "action.database") {
			t.Fatal("action.database missing from a palette by default")
		}
	}
	if err := b.st.FeatureFlagOverrideSet(ctx, store.SystemActor, flags.NodeActionDatabase, acme.Principal.OrgID,
		json.RawMessage(`false`), "no database access for Acme"); err != nil {
		t.Fatal(err)
	}
	if err := f.Provider().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if types, _ := b.app.Workflows.NodeTypes(ctx, acme); slices.Contains(typeNames(types), "action.database") {
		t.Error("action.database still in Acme's palette")
	}
	if types, _ := b.app.Workflows.NodeTypes(ctx, globex); !slices.Contains(typeNames(types), "action.database") {
		t.Error("action.database gone from Globex's palette")
	}
	def := json.RawMessage(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"db","type":"action.database","config":{"integration_id":"00000000-0000-0000-0000-000000000001","query":"select 1"}}],
		"edges":[{"from":"hook","to":"db"}]}`)
	err := b.app.Workflows.ValidateDefinition(ctx, acme, def)
	if fault.CodeOf(err) != fault.Invalid || !strings.Contains(err.Error()+fieldsText(err), flags.NodeActionDatabase) {
		t.Errorf("Acme validating action.database: %v, want Invalid naming %s", err, flags.NodeActionDatabase)
	}
}

func errorsAs(err error, target **fault.Error) bool { return errors.As(err, target) }

// fieldsText is the messages of a fault's fields, one string.
func fieldsText(err error) string {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return ""
	}
	var out []string
	for _, f := range fe.Fields {
		out = append(out, f.NodeID+" "+f.Field+" "+f.Message)
	}
	return strings.Join(out, "; ")
}
