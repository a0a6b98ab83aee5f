package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/store"
)

const (
	hookDefinition     = `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}}],"edges":[]}`
	scheduleDefinition = `{"nodes":[{"id":"tick","type":"trigger.schedule","config":{"every":"1h"}}],"edges":[]}`
)

// workflowsBundle is a database with organization Acme (one caller per role, and a viewer granted edit on
// workflows as they are made) and organization Globex, whose owner is the outsider.
type workflowsBundle struct {
	app          *app.App
	st           *store.Store
	integrations *store.IntegrationStore
	registry     *engine.Registry
	webhookKeys  *secrets.Keyring
	callers      map[string]app.Caller
}

func setupWorkflows(t *testing.T) *workflowsBundle {
	t.Helper()
	ctx := context.Background()
	st, _ := newStore(t)
	reg := nodes.NewRegistry()
	if err := actions.Register(reg); err != nil {
		t.Fatal(err)
	}
	keyring := func(purpose string) *secrets.Keyring {
		k, err := secrets.NewKeyring(purpose, "app-test-secret-key-0123456789abcdef", "")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	b := &workflowsBundle{st: st, integrations: store.NewIntegrationStore(st, keyring("integrations")),
		registry: reg, webhookKeys: keyring("webhook-secrets"), callers: map[string]app.Caller{}}
	b.app = app.New(app.Config{Store: st, Registry: reg, Integrations: b.integrations, WebhookKeys: b.webhookKeys})
	for _, u := range []struct {
		name, org string
		role      store.Role
	}{{"owner", "Acme", store.RoleOwner}, {"admin", "Acme", store.RoleAdmin}, {"member", "Acme", store.RoleMember},
		{"other member", "Acme", store.RoleMember}, {"viewer", "Acme", store.RoleViewer},
		{"granted viewer", "Acme", store.RoleViewer}, {"outsider", "Globex", store.RoleOwner}} {
		user, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: strings.ReplaceAll(u.name, " ", ".") + "@example.com",
			Name: u.name, PasswordHash: "x", OrganizationName: u.org, Role: u.role})
		if err != nil {
			t.Fatal(err)
		}
		b.callers[u.name] = app.Caller{Principal: authz.Principal{UserID: user.ID, OrgID: org.ID, Role: authz.Role(u.role)},
			Actor: store.Actor{UserID: &user.ID}, UserName: user.Name, OrgName: org.Name}
	}
	return b
}

// create makes a workflow as the member, and grants the granted viewer edit on it.
func (b *workflowsBundle) create(t *testing.T, name, definition string) store.Workflow {
	t.Helper()
	wf, err := b.app.Workflows.Create(context.Background(), b.callers["member"],
		app.WorkflowInput{Name: &name, Definition: json.RawMessage(definition)})
	if err != nil {
		t.Fatal(err)
	}
	granted := b.callers["granted viewer"].Principal
	if err := b.st.WorkflowGrantSet(context.Background(), granted.OrgID, wf.Workflow.ID, granted.UserID,
		store.PermissionEdit, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	return wf.Workflow
}

// TestWorkflowsAuthorization calls every workflow use case as every caller: who may, who is refused (Forbidden),
// and that another organization's workflow does not exist for the outsider (NotFound).
func TestWorkflowsAuthorization(t *testing.T) {
	t.Parallel()
	b := setupWorkflows(t)
	ctx := context.Background()
	type useCase func(c app.Caller, wf store.Workflow) error
	useCases := map[string]useCase{
		"get": func(c app.Caller, wf store.Workflow) error { _, err := b.app.Workflows.Get(ctx, c, wf.ID); return err },
		"overview": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.Overview(ctx, c, wf.ID)
			return err
		},
		"versions": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.Versions(ctx, c, wf.ID, 10)
			return err
		},
		"version": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.Version(ctx, c, wf.ID, 1)
			return err
		},
		"deliveries": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.WebhookDeliveries(ctx, c, wf.ID, 10)
			return err
		},
		"duplicate": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.Duplicate(ctx, c, wf.ID, nil)
			return err
		},
		"update": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.Update(ctx, c, wf.ID, app.WorkflowInput{Version: &wf.Version,
				Definition: json.RawMessage(hookDefinition)})
			return err
		},
		"activate": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.SetActive(ctx, c, wf.ID, true)
			return err
		},
		"restore": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.RestoreVersion(ctx, c, wf.ID, 1)
			return err
		},
		"webhook": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.Webhook(ctx, c, wf.ID)
			return err
		},
		"rotate": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.RotateWebhookSecret(ctx, c, wf.ID)
			return err
		},
		"run": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.Run(ctx, c, wf.ID, json.RawMessage(`{"n":1}`))
			return err
		},
		"archive": func(c app.Caller, wf store.Workflow) error {
			_, err := b.app.Workflows.Archive(ctx, c, wf.ID)
			return err
		},
	}
	const ok, forbidden, notFound = fault.Code(""), fault.Forbidden, fault.NotFound
	// The member created the workflow; the granted viewer holds edit on it.
	want := map[string]map[string]fault.Code{
		"get":        {"viewer": ok, "other member": ok, "outsider": notFound},
		"overview":   {"viewer": ok, "other member": ok, "outsider": notFound},
		"versions":   {"viewer": ok, "outsider": notFound},
		"version":    {"viewer": ok, "outsider": notFound},
		"deliveries": {"viewer": ok, "outsider": notFound},
		"duplicate":  {"viewer": forbidden, "granted viewer": forbidden, "other member": ok, "outsider": notFound},
		"update":     {"viewer": forbidden, "other member": forbidden, "granted viewer": ok, "member": ok, "admin": ok, "outsider": notFound},
		"activate":   {"viewer": forbidden, "other member": forbidden, "granted viewer": ok, "outsider": notFound},
		"restore":    {"viewer": forbidden, "other member": forbidden, "granted viewer": ok, "outsider": notFound},
		"webhook":    {"viewer": forbidden, "other member": forbidden, "granted viewer": ok, "outsider": notFound},
		"rotate":     {"viewer": forbidden, "other member": forbidden, "granted viewer": ok, "outsider": notFound},
		"run":        {"viewer": forbidden, "other member": forbidden, "granted viewer": ok, "outsider": notFound},
		"archive":    {"viewer": forbidden, "other member": forbidden, "granted viewer": forbidden, "member": ok, "outsider": notFound},
	}
	for name, call := range useCases {
		for caller, code := range want[name] {
			t.Run(name+" as "+caller, func(t *testing.T) {
				wf := b.create(t, "Orders", hookDefinition)
				if err := call(b.callers[caller], wf); (err == nil) != (code == ok) || (err != nil && fault.CodeOf(err) != code) {
					t.Fatalf("err %v, want %q", err, code)
				}
			})
		}
	}
	if len(want) != len(useCases) {
		t.Fatalf("expectations for %d use cases, %d use cases", len(want), len(useCases))
	}
}

// TestWorkflowsOrganizationWide checks the use cases on the organization as a whole: listing, creating and
// validating, and that the outsider sees none of Acme's workflows.
func TestWorkflowsOrganizationWide(t *testing.T) {
	t.Parallel()
	b := setupWorkflows(t)
	ctx := context.Background()
	b.create(t, "Orders", hookDefinition)
	for caller, n := range map[string]int{"viewer": 1, "outsider": 0} {
		items, err := b.app.Workflows.List(ctx, b.callers[caller], store.WorkflowFilter{})
		if err != nil || len(items) != n {
			t.Errorf("%s lists %d workflows (%v), want %d", caller, len(items), err, n)
		}
	}
	name := "Mine"
	in := app.WorkflowInput{Name: &name, Definition: json.RawMessage(hookDefinition)}
	if _, err := b.app.Workflows.Create(ctx, b.callers["viewer"], in); fault.CodeOf(err) != fault.Forbidden {
		t.Errorf("a viewer created a workflow: %v", err)
	}
	if err := b.app.Workflows.ValidateDefinition(ctx, b.callers["viewer"], json.RawMessage(hookDefinition)); err != nil {
		t.Errorf("a viewer may validate a definition: %v", err)
	}
	if err := b.app.Workflows.ValidateDefinition(ctx, app.Caller{}, json.RawMessage(hookDefinition)); fault.CodeOf(err) != fault.Unauthorized {
		t.Errorf("anonymous validation: %v", err)
	}
}

// TestWorkflowsValidation checks that input and definitions are validated before anything is saved, each problem
// naming its field (and node).
func TestWorkflowsValidation(t *testing.T) {
	t.Parallel()
	b := setupWorkflows(t)
	ctx := context.Background()
	long, blank, ok := strings.Repeat("é", 201), "  ", "Orders"
	tests := []struct {
		name   string
		in     app.WorkflowInput
		fields []string // field or node_id/field of each problem, in order
	}{
		{"no name", app.WorkflowInput{Definition: json.RawMessage(hookDefinition)}, []string{"name"}},
		{"a blank name", app.WorkflowInput{Name: &blank, Definition: json.RawMessage(hookDefinition)}, []string{"name"}},
		{"a name too long", app.WorkflowInput{Name: &long, Definition: json.RawMessage(hookDefinition)}, []string{"name"}},
		{"no definition", app.WorkflowInput{Name: &ok}, []string{"definition"}},
		{"no name nor definition", app.WorkflowInput{}, []string{"name", "definition"}},
		{"an unknown node type", app.WorkflowInput{Name: &ok,
			Definition: json.RawMessage(`{"nodes":[{"id":"x","type":"trigger.nope","config":{}}],"edges":[]}`)}, []string{"x/type"}},
		{"a placeholder for an integration id", app.WorkflowInput{Name: &ok, Definition: json.RawMessage(
			`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},{"id":"call","type":"action.http","config":{"url":"https://api.example.com","integration_id":"${API}"}}],"edges":[{"from":"hook","to":"call"}]}`)},
			[]string{"call/config.integration_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.app.Workflows.Create(ctx, b.callers["member"], tt.in)
			e := fault.As(err)
			var got []string
			for _, f := range e.Fields {
				got = append(got, strings.TrimPrefix(f.NodeID+"/"+f.Field, "/"))
			}
			if e.Code != fault.Invalid || len(got) < len(tt.fields) {
				t.Fatalf("err %v, fields %v, want %v", err, got, tt.fields)
			}
			for i, want := range tt.fields {
				if !strings.HasPrefix(got[i], want) {
					t.Fatalf("fields %v, want %v", got, tt.fields)
				}
			}
		})
	}
	if items, _ := b.app.Workflows.List(ctx, b.callers["owner"], store.WorkflowFilter{}); len(items) != 0 {
		t.Fatalf("an invalid workflow was saved: %+v", items)
	}
	wf := b.create(t, "Orders", hookDefinition)
	if _, err := b.app.Workflows.Update(ctx, b.callers["member"], wf.ID,
		app.WorkflowInput{Definition: json.RawMessage(hookDefinition)}); fault.CodeOf(err) != fault.Invalid ||
		fault.As(err).Fields[0].Field != "version" {
		t.Fatalf("a save without the version it edits: %v", err)
	}
}

// TestWorkflowsIntegrationUse checks that a definition may name only the integrations its author may use.
func TestWorkflowsIntegrationUse(t *testing.T) {
	t.Parallel()
	b := setupWorkflows(t)
	ctx := context.Background()
	acme := b.callers["owner"].Principal.OrgID
	in, err := b.integrations.Create(ctx, store.NewIntegration{OrganizationID: acme, Name: "Admin API", Kind: "http",
		Config:  json.RawMessage(`{"auth":"bearer","base_url":"https://api.example.com"}`),
		Secrets: json.RawMessage(`{"token":"t"}`)}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.integrations.SetUse(ctx, acme, in.ID, store.IntegrationUse{Restricted: true}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	def := json.RawMessage(fmt.Sprintf(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"call","type":"action.http","config":{"url":"https://api.example.com/x","integration_id":%q}}],
		"edges":[{"from":"hook","to":"call"}]}`, in.ID))
	name := "Calls"
	_, err = b.app.Workflows.Create(ctx, b.callers["member"], app.WorkflowInput{Name: &name, Definition: def})
	if e := fault.As(err); e.Code != fault.Invalid || e.Fields[0].NodeID != "call" || !strings.Contains(e.Fields[0].Message, "Admin API") {
		t.Fatalf("a member saved a restricted integration: %v", err)
	}
	if _, err := b.app.Workflows.Create(ctx, b.callers["admin"], app.WorkflowInput{Name: &name, Definition: def}); err != nil {
		t.Fatalf("an admin may use any integration: %v", err)
	}
}

// TestWorkflowsLifecycle follows one workflow through save, conflict, activation, versions, restore, webhook,
// run, duplicate and archive, checking what each use case answers.
func TestWorkflowsLifecycle(t *testing.T) {
	t.Parallel()
	b := setupWorkflows(t)
	ctx := context.Background()
	member := b.callers["member"]
	wf := b.create(t, "Ticks", hookDefinition)

	v1 := wf.Version
	saved, err := b.app.Workflows.Update(ctx, member, wf.ID, app.WorkflowInput{Version: &v1,
		Definition: json.RawMessage(scheduleDefinition), Message: "hourly"})
	if err != nil || saved.Workflow.Version != 2 || string(saved.Definition) != scheduleDefinition {
		t.Fatalf("save: %+v, %v", saved, err)
	}
	if _, err := b.app.Workflows.Update(ctx, member, wf.ID, app.WorkflowInput{Version: &v1,
		Definition: json.RawMessage(hookDefinition)}); fault.CodeOf(err) != fault.Conflict {
		t.Fatalf("a save from a stale version: %v", err)
	}

	on, err := b.app.Workflows.SetActive(ctx, member, wf.ID, true)
	if err != nil || !on.Workflow.Active || on.NextRunAt == nil || on.NextRunAt.Before(time.Now()) {
		t.Fatalf("activate a schedule: %+v, %v", on, err)
	}
	got, err := b.app.Workflows.Get(ctx, b.callers["viewer"], wf.ID)
	if err != nil || !sameJSON(got.Definition, scheduleDefinition) || got.NextRunAt == nil {
		t.Fatalf("get: %+v, %v", got, err)
	}

	if _, err := b.app.Workflows.Version(ctx, member, wf.ID, 0); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("version 0: %v", err)
	}
	if _, err := b.app.Workflows.Version(ctx, member, wf.ID, 1<<32+1); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("a version number past int32: %v", err)
	}
	restored, err := b.app.Workflows.RestoreVersion(ctx, member, wf.ID, 1)
	if err != nil || restored.Workflow.Version != 3 || !sameJSON(restored.Definition, hookDefinition) {
		t.Fatalf("restore: %+v, %v", restored, err)
	}
	versions, err := b.app.Workflows.Versions(ctx, member, wf.ID, 10)
	if err != nil || len(versions) != 3 || versions[0].Message != "restored version 1" || versions[1].Message != "hourly" {
		t.Fatalf("versions: %+v, %v", versions, err)
	}

	hook, err := b.app.Workflows.Webhook(ctx, member, wf.ID)
	if err != nil || hook.Token == "" || hook.Secret == "" {
		t.Fatalf("webhook: %+v, %v", hook, err)
	}
	rotated, err := b.app.Workflows.RotateWebhookSecret(ctx, member, wf.ID)
	if err != nil || rotated.Token != hook.Token || rotated.Secret == hook.Secret || rotated.PreviousSecretExpiresAt == nil {
		t.Fatalf("rotate: %+v, %v", rotated, err)
	}

	exec, err := b.app.Workflows.Run(ctx, member, wf.ID, nil)
	if err != nil || exec.TriggerKind != "manual" || exec.Version != 3 {
		t.Fatalf("run: %+v, %v", exec, err)
	}
	var trigger map[string]any
	if err := json.Unmarshal(exec.TriggerData, &trigger); err != nil || trigger["method"] != "MANUAL" ||
		fmt.Sprint(trigger["body"]) != "map[]" {
		t.Fatalf("a manual run's trigger: %s, %v", exec.TriggerData, err)
	}

	b.overview(t, wf.ID)

	copied, err := b.app.Workflows.Duplicate(ctx, b.callers["other member"], wf.ID, nil)
	if err != nil || copied.Workflow.Name != "Ticks (copy)" || copied.Workflow.Active || !sameJSON(copied.Definition, hookDefinition) {
		t.Fatalf("duplicate: %+v, %v", copied, err)
	}
	if _, err := b.app.Workflows.Archive(ctx, member, wf.ID); err != nil {
		t.Fatal(err)
	}
	if items, err := b.app.Workflows.List(ctx, member, store.WorkflowFilter{}); err != nil || len(items) != 1 || items[0].ID != copied.Workflow.ID {
		t.Fatalf("the list after archiving: %+v, %v", items, err)
	}
}

// overview checks what the page of a workflow with one version history, webhook and run shows to its creator and
// to a viewer.
func (b *workflowsBundle) overview(t *testing.T, id uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	o, err := b.app.Workflows.Overview(ctx, b.callers["member"], id)
	if err != nil {
		t.Fatal(err)
	}
	if o.Access != (app.WorkflowAccess{Edit: true, Run: true, Archive: true, Duplicate: true}) || o.Webhook == nil ||
		len(o.Versions) != 3 || len(o.Executions) != 1 {
		t.Fatalf("the creator's overview: %+v", o)
	}
	o, err = b.app.Workflows.Overview(ctx, b.callers["viewer"], id)
	if err != nil || o.Access != (app.WorkflowAccess{}) || o.Webhook != nil || len(o.Executions) != 1 {
		t.Fatalf("a viewer's overview: %+v, %v", o, err)
	}
}

// sameJSON reports whether a stored document (jsonb orders keys its own way) is want.
func sameJSON(got json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && fmt.Sprint(a) == fmt.Sprint(b)
}

// TestErrorTriggerWatchesAWorkflowOfTheOrganization: a trigger.error may name a workflow of the caller's
// organization, not one of another organization nor one that does not exist.
func TestErrorTriggerWatchesAWorkflowOfTheOrganization(t *testing.T) {
	t.Parallel()
	b := setupWorkflows(t)
	ctx := context.Background()
	ours := b.create(t, "Orders", hookDefinition)
	name := "Theirs"
	theirs, err := b.app.Workflows.Create(ctx, b.callers["outsider"], app.WorkflowInput{Name: &name,
		Definition: json.RawMessage(hookDefinition)})
	if err != nil {
		t.Fatal(err)
	}
	watching := func(id uuid.UUID) json.RawMessage {
		return json.RawMessage(`{"nodes":[{"id":"failure","type":"trigger.error","config":{"watch":"workflow","workflow_id":"` +
			id.String() + `"}}],"edges":[]}`)
	}
	for _, tc := range []struct {
		name string
		id   uuid.UUID
		ok   bool
	}{{"ours", ours.ID, true}, {"another organization's", theirs.Workflow.ID, false}, {"unknown", uuid.New(), false}} {
		err := b.app.Workflows.ValidateDefinition(ctx, b.callers["member"], watching(tc.id))
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok {
			fe := fault.As(err)
			if fe == nil || len(fe.Fields) != 1 || fe.Fields[0].NodeID != "failure" || fe.Fields[0].Field != "config.workflow_id" {
				t.Errorf("%s: %#v", tc.name, fe)
			}
		}
	}
	if err := b.app.Workflows.ValidateDefinition(ctx, b.callers["member"],
		json.RawMessage(`{"nodes":[{"id":"failure","type":"trigger.error","config":{}}],"edges":[]}`)); err != nil {
		t.Errorf("watching any workflow: %v", err)
	}
}
