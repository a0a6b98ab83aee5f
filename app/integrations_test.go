package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/store"
)

// integrationsBundle is a database with two organizations — Acme (owner, admin, member, viewer) and Other (its
// owner is the outsider) — and the use cases over it.
type integrationsBundle struct {
	app     *app.App
	st      *store.Store
	is      *store.IntegrationStore
	callers map[string]app.Caller
}

func setupIntegrations(t *testing.T) *integrationsBundle {
	t.Helper()
	st, _ := newStore(t)
	keys, err := secrets.NewKeyring("integrations", "app-test-secret-key-0123456789abcdef", "")
	if err != nil {
		t.Fatal(err)
	}
	tester, err := actions.NewConnectionTester(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &integrationsBundle{st: st, is: store.NewIntegrationStore(st, keys), callers: map[string]app.Caller{}}
	b.app = app.New(app.Config{Store: st, Integrations: b.is, ConnectionTester: tester})
	for _, who := range []string{"owner", "admin", "member", "viewer", "outsider"} {
		role, org := store.Role(who), "Acme"
		if who == "outsider" {
			role, org = store.RoleOwner, "Other"
		}
		b.callers[who] = newCaller(t, st, who+"@example.com", org, role)
	}
	return b
}

// newCaller creates a user with role in the organization named org (created when new) and returns them as a
// browser session's caller.
func newCaller(t *testing.T, st *store.Store, email, org string, role store.Role) app.Caller {
	t.Helper()
	u, o, err := st.UserCreateWithOrganization(context.Background(), store.NewUser{Email: email, Name: email,
		PasswordHash: "x", OrganizationName: org, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return app.Caller{Principal: authz.Principal{UserID: u.ID, OrgID: o.ID, Role: authz.Role(role), Session: true},
		Actor: store.Actor{UserID: &u.ID}, UserName: u.Name, OrgName: o.Name}
}

// wantFault fails unless err is a fault of code naming field (when field is set).
func wantFault(t *testing.T, err error, code fault.Code, field string) {
	t.Helper()
	if fault.CodeOf(err) != code {
		t.Fatalf("err %v, want %s", err, code)
	}
	if field == "" {
		return
	}
	for _, f := range fault.As(err).Fields {
		if f.Field == field {
			return
		}
	}
	t.Fatalf("fields %+v, want one named %q", fault.As(err).Fields, field)
}

const warehouseSettings = `{"host":"db.internal","database":"app","user":"app","password":"s3cret-pw"}`

// TestIntegrationsCreate checks adding an integration: who may, and how bad input is refused, naming the field.
func TestIntegrationsCreate(t *testing.T) {
	t.Parallel()
	b := setupIntegrations(t)
	ctx := context.Background()
	valid := app.IntegrationInput{Name: " Warehouse ", Kind: "postgres", Settings: json.RawMessage(warehouseSettings)}
	with := func(change func(*app.IntegrationInput)) app.IntegrationInput {
		in := valid
		change(&in)
		return in
	}
	tests := []struct {
		name  string
		who   string
		in    app.IntegrationInput
		code  fault.Code
		field string
	}{
		{"an admin adds one", "admin", valid, "", ""},
		{"a member may not", "member", valid, fault.Forbidden, ""},
		{"a viewer may not", "viewer", valid, fault.Forbidden, ""},
		{"anonymous", "", valid, fault.Unauthorized, ""},
		{"settings that are no JSON object", "owner", with(func(in *app.IntegrationInput) { in.Settings = json.RawMessage(`"x"`) }), fault.Invalid, "settings"},
		{"no settings at all", "owner", with(func(in *app.IntegrationInput) { in.Settings = nil }), fault.Invalid, "settings"},
		{"an unknown kind", "owner", with(func(in *app.IntegrationInput) { in.Kind = "ftp" }), fault.Invalid, "kind"},
		{"a blank name", "owner", with(func(in *app.IntegrationInput) { in.Name = "   " }), fault.Invalid, "name"},
		{"a rate limit without interval", "owner", with(func(in *app.IntegrationInput) { in.RateLimit = 5 }), fault.Invalid, "rate_interval"},
		{"settings the kind refuses", "owner", with(func(in *app.IntegrationInput) {
			in.Settings = json.RawMessage(`{"host":"db.internal","database":"app","user":"app","port":"five"}`)
		}), fault.Invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.app.Integrations.Create(ctx, b.callers[tt.who], tt.in)
			if tt.code != "" {
				wantFault(t, err, tt.code, tt.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "Warehouse" || got.OrganizationID != b.callers[tt.who].Principal.OrgID || !got.HasSecrets ||
				strings.Contains(string(got.Config), "s3cret") {
				t.Fatalf("created %+v", got)
			}
		})
	}
	items, err := b.app.Integrations.List(ctx, b.callers["viewer"], store.IntegrationFilter{Kind: "postgres"})
	if err != nil || len(items) != 1 {
		t.Fatalf("the viewer's list: %+v, %v", items, err)
	}
	if items, err := b.app.Integrations.List(ctx, b.callers["outsider"], store.IntegrationFilter{}); err != nil || len(items) != 0 {
		t.Fatalf("another organization sees %+v, %v", items, err)
	}
}

// TestIntegrationsOfAnotherOrganizationAreNotFound checks every use case on one integration: allowed to whom, and
// NotFound (never Forbidden) to an admin of another organization.
func TestIntegrationsOfAnotherOrganizationAreNotFound(t *testing.T) {
	t.Parallel()
	b := setupIntegrations(t)
	ctx := context.Background()
	in, err := b.app.Integrations.Create(ctx, b.callers["owner"], app.IntegrationInput{Name: "Warehouse",
		Kind: "postgres", Settings: json.RawMessage(warehouseSettings)})
	if err != nil {
		t.Fatal(err)
	}
	rename := app.IntegrationInput{Name: "Renamed", Settings: json.RawMessage(`{"host":"127.0.0.1","port":1,"database":"app","user":"app"}`)}
	useCases := map[string]func(c app.Caller) error{
		"get":    func(c app.Caller) error { _, err := b.app.Integrations.Get(ctx, c, in.ID); return err },
		"update": func(c app.Caller) error { _, err := b.app.Integrations.Update(ctx, c, in.ID, rename); return err },
		"use": func(c app.Caller) error {
			_, err := b.app.Integrations.SetUse(ctx, c, in.ID, app.IntegrationUseInput{Restricted: true})
			return err
		},
		"test": func(c app.Caller) error { _, err := b.app.Integrations.Test(ctx, c, in.ID); return err },
	}
	for name, call := range useCases {
		t.Run(name, func(t *testing.T) {
			wantFault(t, call(b.callers["outsider"]), fault.NotFound, "")
			if name != "get" {
				wantFault(t, call(b.callers["member"]), fault.Forbidden, "")
			}
			if err := call(b.callers["admin"]); err != nil {
				t.Fatal(err)
			}
		})
	}
	_, err = b.app.Integrations.Delete(ctx, b.callers["outsider"], in.ID)
	wantFault(t, err, fault.NotFound, "")

	// The update kept the kind and the stored password, which its settings left out.
	got, err := b.app.Integrations.Get(ctx, b.callers["viewer"], in.ID)
	if err != nil || got.Name != "Renamed" || got.Kind != "postgres" || !got.HasSecrets {
		t.Fatalf("after the update: %+v, %v", got, err)
	}
	sealed, err := b.is.Secrets(ctx, in.OrganizationID, in.ID)
	if err != nil || !strings.Contains(string(sealed), "s3cret-pw") {
		t.Fatalf("the stored secret was lost: %v", err)
	}
	// The connection test is an outcome, not an error: the outbound guard refuses loopback.
	test, err := b.app.Integrations.Test(ctx, b.callers["admin"], in.ID)
	if err != nil || test.Problem == "" || test.Integration.ID != in.ID {
		t.Fatalf("test of an unreachable database: %+v, %v", test, err)
	}
	// Only an instance administrator lets a database integration use a privileged role.
	_, err = b.app.Integrations.SetPrivilegedRole(ctx, b.callers["owner"], in.ID, true)
	wantFault(t, err, fault.Forbidden, "")
	if deleted, err := b.app.Integrations.Delete(ctx, b.callers["admin"], in.ID); err != nil || deleted.Name != "Renamed" {
		t.Fatalf("delete: %+v, %v", deleted, err)
	}
	_, err = b.app.Integrations.Get(ctx, b.callers["owner"], in.ID)
	wantFault(t, err, fault.NotFound, "")
}

// TestIntegrationUseIsOneRuleOnSaveAndRun restricts an integration and checks that saving (CheckUse) and running
// (IntegrationUseChecker) refuse the member alike, and that the member named in the policy may again.
func TestIntegrationUseIsOneRuleOnSaveAndRun(t *testing.T) {
	t.Parallel()
	b := setupIntegrations(t)
	ctx := context.Background()
	in, err := b.app.Integrations.Create(ctx, b.callers["admin"], app.IntegrationInput{Name: "Admin API", Kind: "http",
		Settings: json.RawMessage(`{"auth":"bearer","token":"admin-token","base_url":"https://api.example.com"}`)})
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"call","type":"action.http","config":{"url":"https://api.example.com/x","integration_id":%q}}],
		"edges":[{"from":"hook","to":"call"}]}`, in.ID)
	var def engine.Definition
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		t.Fatal(err)
	}
	member := b.callers["member"]
	wf, err := b.st.WorkflowCreate(ctx, member.Actor, store.NewWorkflow{OrganizationID: member.Principal.OrgID,
		Name: "Calls", Definition: json.RawMessage(raw), AuthorID: &member.Principal.UserID})
	if err != nil {
		t.Fatal(err)
	}
	head, err := b.st.WorkflowHeadForRun(ctx, member.Principal.OrgID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	mayUse := app.IntegrationUseChecker(b.is)
	check := func(when string, wantAllowed bool) {
		t.Helper()
		saveErr := b.app.Integrations.CheckUse(ctx, member, &def)
		runErr := mayUse(ctx, member.Principal.OrgID, head.VersionID, in.ID)
		if wantAllowed && (saveErr != nil || runErr != nil) {
			t.Fatalf("%s: save %v, run %v", when, saveErr, runErr)
		}
		if !wantAllowed {
			if fe := fault.As(saveErr); fe.Code != fault.Invalid || len(fe.Fields) != 1 || fe.Fields[0].NodeID != "call" {
				t.Fatalf("%s: save %v", when, saveErr)
			}
			wantFault(t, runErr, fault.Forbidden, "")
		}
	}
	check("unrestricted", true)
	if _, err := b.app.Integrations.SetUse(ctx, b.callers["admin"], in.ID, app.IntegrationUseInput{Restricted: true,
		Roles: []string{"viewer"}}); err != nil {
		t.Fatal(err)
	}
	check("restricted to viewers", false)
	if err := b.app.Integrations.CheckUse(ctx, b.callers["admin"], &def); err != nil {
		t.Fatalf("admins may always use it: %v", err)
	}
	if _, err := b.app.Integrations.SetUse(ctx, b.callers["admin"], in.ID, app.IntegrationUseInput{Restricted: true,
		UserIDs: []uuid.UUID{member.Principal.UserID}}); err != nil {
		t.Fatal(err)
	}
	check("the member named", true)
	_, err = b.app.Integrations.SetUse(ctx, b.callers["admin"], in.ID, app.IntegrationUseInput{Restricted: true,
		Roles: []string{"a", "b", "c", "d", "e"}})
	wantFault(t, err, fault.Invalid, "roles")

	// A placeholder where an id belongs is refused on saving, naming the node and the field.
	def.Nodes[1].Config = json.RawMessage(`{"url":"https://api.example.com/x","integration_id":"${SMTP_INTEGRATION_ID}"}`)
	err = b.app.Integrations.CheckUse(ctx, member, &def)
	wantFault(t, err, fault.Invalid, "config.integration_id")
}
