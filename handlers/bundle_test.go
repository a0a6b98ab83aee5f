package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	appbundle "github.com/concertmaster/concertmaster/app/bundle"
	"github.com/concertmaster/concertmaster/sql/store"
)

// bundleSource fills organization A of h with what a bundle carries and returns the owner's token, the ids by name
// and the secrets that must never leave.
type bundleSource struct {
	token                       string
	orders, sync, onFailure     string
	form, formSlug, integration string
	secrets                     []string
}

func (h *harness) created(t *testing.T, req request, into any) {
	t.Helper()
	resp := h.do(req)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%s %s: %d %s", req.Method, req.Path, resp.StatusCode, resp.body)
	}
	resp.json(t, into)
}

func fillBundleSource(t *testing.T, h *harness, w *world) bundleSource {
	t.Helper()
	src := bundleSource{token: h.accessToken(w.users["owner"], w.orgA.ID),
		secrets: []string{"s3cret-bundle-pw", "https://hooks.example.com/secret-bundle-path"}}
	var id struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	}
	auth := func(r request) request { r.Bearer = src.token; return r }
	h.created(t, auth(request{Method: "POST", Path: "/api/v1/integrations", JSON: `{"name":"Warehouse","kind":"postgres",` +
		`"settings":{"host":"db.internal","database":"app","user":"app","password":"` + src.secrets[0] + `"}}`}), &id)
	src.integration = id.ID
	h.created(t, auth(request{Method: "POST", Path: "/api/v1/forms", JSON: `{"name":"Contact","slug":"contact-` +
		uuid.NewString()[:8] + `","fields":[{"name":"email","label":"E-mail","type":"email","required":true}]}`}), &id)
	src.form, src.formSlug = id.ID, id.Slug
	hook := `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},` +
		`{"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total}"}}],"edges":[{"from":"hook","to":"shape"}]}`
	h.created(t, auth(request{Method: "POST", Path: "/api/v1/workflows", JSON: `{"name":"Orders","definition":` + apiFlow + `}`}), &id)
	src.orders = id.ID
	h.created(t, auth(request{Method: "PUT", Path: "/api/v1/workflows/" + src.orders, JSON: `{"version":1,"definition":` + hook + `}`}), &id)
	h.created(t, auth(request{Method: "POST", Path: "/api/v1/workflows", JSON: `{"name":"Warehouse sync","definition":` +
		`{"nodes":[{"id":"form","type":"trigger.form","config":{"form_id":"` + src.form + `"}},` +
		`{"id":"save","type":"action.database","config":{"integration_id":"` + src.integration + `","query":"select 1"}}],` +
		`"edges":[{"from":"form","to":"save"}]}}`}), &id)
	src.sync = id.ID
	h.created(t, auth(request{Method: "POST", Path: "/api/v1/workflows", JSON: `{"name":"On failure","definition":` +
		`{"nodes":[{"id":"failure","type":"trigger.error","config":{"watch":"workflow","workflow_id":"` + src.orders + `"}}],"edges":[]}}`}), &id)
	src.onFailure = id.ID
	var channel struct {
		Channel       struct{ ID uuid.UUID } `json:"channel"`
		SigningSecret string                 `json:"signing_secret"`
	}
	h.created(t, auth(request{Method: "POST", Path: "/api/v1/notification-channels",
		JSON: `{"name":"Ops hook","kind":"webhook","url":"` + src.secrets[1] + `"}`}), &channel)
	hookChannel := channel.Channel.ID
	src.secrets = append(src.secrets, channel.SigningSecret)
	h.created(t, auth(request{Method: "POST", Path: "/api/v1/notification-channels",
		JSON: `{"name":"Ops mail","kind":"email","to":["ops@example.com"]}`}), &channel)
	h.created(t, auth(request{Method: "POST", Path: "/api/v1/notification-rules",
		JSON: `{"event":"failed","channel_ids":["` + channel.Channel.ID.String() + `","` + hookChannel.String() + `"]}`}), &id)
	orders := uuid.MustParse(src.orders)
	if _, err := h.st.NotificationRuleSave(context.Background(), store.NotificationRule{OrganizationID: w.orgA.ID,
		WorkflowID: &orders, Event: "failed", GroupWindowSeconds: 60, Enabled: true, ChannelIDs: []uuid.UUID{hookChannel}},
		store.Actor{}); err != nil {
		t.Fatal(err)
	}
	return src
}

// TestOrganizationBundleMovesATeam exports organization A of one instance and imports it into an organization of
// another instance (its own database): everything arrives under new ids with its references remapped, no secret
// travels, and an imported webhook workflow runs.
func TestOrganizationBundleMovesATeam(t *testing.T) {
	t.Parallel()
	from, to := newHarness(t), newHarness(t)
	src := fillBundleSource(t, from, from.newWorld())
	export := from.do(request{Method: "GET", Path: "/api/v1/organization/export", Bearer: src.token})
	if export.StatusCode != http.StatusOK || !strings.Contains(export.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %s", export.StatusCode, export.body)
	}
	for _, secret := range src.secrets {
		if strings.Contains(export.body, secret) {
			t.Fatalf("the bundle holds the secret %q", secret)
		}
	}
	var b appbundle.Bundle
	export.json(t, &b)
	if b.Format != appbundle.Format || b.Version != 1 || len(b.Workflows) != 3 || len(b.Forms) != 1 ||
		len(b.Integrations) != 1 || !b.Integrations[0].NeedsCredentials || len(b.Channels) != 2 || len(b.Rules) != 2 {
		t.Fatalf("bundle: %s", export.body)
	}

	tw := to.newWorld()
	dest := to.accessToken(tw.users["admin"], tw.orgA.ID)
	// A clash: the destination already has a workflow named Orders, and the form's address is taken on the instance.
	to.created(t, request{Method: "POST", Path: "/api/v1/workflows", Bearer: dest, JSON: `{"name":"Orders","definition":` + apiFlow + `}`}, &struct{}{})
	to.created(t, request{Method: "POST", Path: "/api/v1/forms", Bearer: to.accessToken(tw.users["outsider"], tw.orgB.ID),
		JSON: `{"name":"Taken","slug":"` + src.formSlug + `","fields":[{"name":"a","label":"A","type":"text"}]}`}, &struct{}{})
	imported := to.do(request{Method: "POST", Path: "/api/v1/organization/import", Bearer: dest, JSON: export.body})
	if imported.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %s", imported.StatusCode, imported.body)
	}
	var res appbundle.Result
	imported.json(t, &res)
	if len(res.NeedsCredentials) != 2 || res.Rules != 2 {
		t.Errorf("needs credentials %v, rules %d; want the integration and the webhook channel, 2 rules", res.NeedsCredentials, res.Rules)
	}
	checkImported(t, to, tw.orgA.ID, src, res)

	// The imported webhook workflow runs through the engine's queue.
	to.startWorkers()
	var run struct {
		ExecutionID string `json:"execution_id"`
	}
	to.created(t, request{Method: "POST", Path: "/api/v1/workflows/" + res.Workflows[src.orders] + "/run", Bearer: dest,
		JSON: `{"total":42}`}, &run)
	to.waitExecution(dest, run.ExecutionID, "succeeded")
	if n := to.auditCount("organization.import"); n != 1 {
		t.Errorf("organization.import audited %d times", n)
	}
}

// checkImported reads what the import wrote in org and checks its references point at the new items.
func checkImported(t *testing.T, h *harness, org uuid.UUID, src bundleSource, res appbundle.Result) {
	t.Helper()
	ctx := context.Background()
	newID := func(m map[string]string, old string) uuid.UUID {
		id, err := uuid.Parse(m[old])
		if err != nil || id.String() == old {
			t.Fatalf("%s was not given a new id: %q", old, m[old])
		}
		return id
	}
	orders, sync, onFailure := newID(res.Workflows, src.orders), newID(res.Workflows, src.sync), newID(res.Workflows, src.onFailure)
	form, integration := newID(res.Forms, src.form), newID(res.Integrations, src.integration)
	head, err := h.st.WorkflowGet(ctx, org, orders)
	if err != nil || head.Version != 2 || head.Name != "Orders (imported)" || head.Active {
		t.Errorf("Orders: %+v %v; want version 2, renamed, inactive", head, err)
	}
	syncDef, err := h.st.WorkflowVersion(ctx, org, sync, 0)
	if err != nil {
		t.Fatal(err)
	}
	failDef, err := h.st.WorkflowVersion(ctx, org, onFailure, 0)
	if err != nil {
		t.Fatal(err)
	}
	compact := func(raw json.RawMessage) string {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, c := range []struct{ def, want string }{
		{compact(syncDef.Definition), `"form_id":"` + form.String() + `"`},
		{compact(syncDef.Definition), `"integration_id":"` + integration.String() + `"`},
		{compact(failDef.Definition), `"workflow_id":"` + orders.String() + `"`}} {
		if !strings.Contains(c.def, c.want) {
			t.Errorf("definition %s lacks %s", c.def, c.want)
		}
	}
	f, err := h.st.FormGet(ctx, org, form)
	if err != nil || f.Slug == src.formSlug || !strings.HasPrefix(f.Slug, src.formSlug) {
		t.Errorf("form %+v %v: want a new address after the taken %s", f, err, src.formSlug)
	}
	integ, err := h.srv.deps.Integrations.Get(ctx, org, integration)
	if err != nil || integ.HasSecrets || integ.Name != "Warehouse" {
		t.Errorf("integration %+v %v: want it without secrets", integ, err)
	}
	rules, err := h.st.NotificationRuleList(ctx, org, &orders)
	if err != nil || len(rules) != 1 || len(rules[0].ChannelIDs) != 1 || rules[0].ChannelIDs[0].String() == "" {
		t.Fatalf("rules of Orders: %+v %v", rules, err)
	}
	if _, err := h.st.NotificationChannelGet(ctx, org, rules[0].ChannelIDs[0]); err != nil {
		t.Errorf("the rule's channel is not the organization's: %v", err)
	}
}

// TestOrganizationImportRefusesHostileBundles: each bad bundle is refused with the field it names, and nothing of
// it is written.
func TestOrganizationImportRefusesHostileBundles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := h.accessToken(w.users["owner"], w.orgA.ID)
	valid := func(workflows, rules string) string {
		return `{"format":"concertmaster.bundle","version":1,"workflows":[` + workflows + `],"forms":[],"integrations":[],` +
			`"notification_channels":[],"notification_rules":[` + rules + `]}`
	}
	hook := `{"id":"w1","name":"Hook","versions":[{"definition":{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}}],"edges":[]}}]}`
	huge := `{"format":"concertmaster.bundle","version":1,"organization":"` + strings.Repeat("x", appbundle.MaxBytes) + `"}`
	for _, c := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"malformed JSON", `{"format":"concertmaster.bundle",`, 422, `"field":"$"`},
		{"wrong format", `{"format":"n8n","version":1}`, 422, `"field":"format"`},
		{"wrong version", `{"format":"concertmaster.bundle","version":2}`, 422, `"field":"version"`},
		{"unknown field", `{"format":"concertmaster.bundle","version":1,"owner":"x"}`, 422, `unknown field`},
		{"oversize", huge, 413, ``},
		{"unknown integration", valid(`{"id":"w1","name":"Db","versions":[{"definition":{"nodes":[{"id":"t","type":"trigger.webhook","config":{}},`+
			`{"id":"q","type":"action.database","config":{"integration_id":"`+uuid.NewString()+`","query":"select 1"}}],"edges":[{"from":"t","to":"q"}]}}]}`, ``),
			422, `"field":"workflows[0].versions[0].definition.nodes[1].config.integration_id"`},
		{"unknown watched workflow", valid(hook+`,{"id":"w2","name":"Err","versions":[{"definition":{"nodes":[{"id":"e","type":"trigger.error",`+
			`"config":{"watch":"workflow","workflow_id":"`+uuid.NewString()+`"}}],"edges":[]}}]}`, ``),
			422, `"field":"workflows[1].versions[0].definition.nodes[0].config.workflow_id"`},
		{"invalid definition", valid(hook+`,{"id":"w2","name":"Bad","versions":[{"definition":{"nodes":[{"id":"x","type":"no.such","config":{}}],"edges":[]}}]}`, ``),
			422, `"node_id":"x","field":"workflows[1].versions[0].definition.type"`},
		{"unknown rule channel", valid(hook, `{"workflow_id":"w1","event":"failed","group_window_seconds":60,"enabled":true,"channel_ids":["c9"]}`),
			422, `"field":"notification_rules[0].channel_ids[0]"`},
		{"unknown rule workflow", valid(hook, `{"workflow_id":"w9","event":"failed","group_window_seconds":60,"enabled":true,"channel_ids":[]}`),
			422, `"field":"notification_rules[0].workflow_id"`},
	} {
		resp := h.do(request{Method: "POST", Path: "/api/v1/organization/import", Bearer: owner, JSON: c.body})
		if resp.StatusCode != c.status || !strings.Contains(resp.body, c.field) {
			t.Errorf("%s: %d %.400s; want %d naming %s", c.name, resp.StatusCode, resp.body, c.status, c.field)
		}
	}
	list, err := h.st.WorkflowList(context.Background(), w.orgA.ID, store.WorkflowFilter{})
	if err != nil || len(list) != 0 {
		t.Errorf("refused imports wrote %d workflows (%v)", len(list), err)
	}
	if n := h.auditCount("organization.import"); n != 0 {
		t.Errorf("refused imports were audited %d times", n)
	}
}

// TestOrganizationTransferIsForAdmins: members, viewers and other organizations' tokens can neither export nor
// import.
func TestOrganizationTransferIsForAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	body := `{"format":"concertmaster.bundle","version":1,"workflows":[],"forms":[],"integrations":[],"notification_channels":[],"notification_rules":[]}`
	for who, want := range map[string]int{"owner": 200, "admin": 200, "member": 403, "viewer": 403} {
		token := h.accessToken(w.users[who], w.orgA.ID)
		if resp := h.do(request{Method: "GET", Path: "/api/v1/organization/export", Bearer: token}); resp.StatusCode != want {
			t.Errorf("%s export: %d, want %d", who, resp.StatusCode, want)
		}
		wantImport := map[int]int{200: 201, 403: 403}[want]
		if resp := h.do(request{Method: "POST", Path: "/api/v1/organization/import", Bearer: token, JSON: body}); resp.StatusCode != wantImport {
			t.Errorf("%s import: %d %s, want %d", who, resp.StatusCode, resp.body, wantImport)
		}
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/organization/export"}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous export: %d", resp.StatusCode)
	}
}

// The transfer routes in the role matrix: owners and admins of an organization (the outsider in its own), nobody
// else.
func init() {
	empty := `{"format":"concertmaster.bundle","version":1,"workflows":[],"forms":[],"integrations":[],"notification_channels":[],"notification_rules":[]}`
	api := func(status int) map[string]int { return withAnon(adminsOnly(status, status), http.StatusUnauthorized) }
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/v1/organization/export": {get("/api/v1/organization/export"), api(http.StatusOK)},
		"POST /api/v1/organization/import": {func(*harness, *world) request {
			return request{Method: "POST", Path: "/api/v1/organization/import", JSON: empty}
		}, api(http.StatusCreated)},
		"GET /settings/transfer":        {get("/settings/transfer"), adminsOnly(http.StatusOK, http.StatusOK)},
		"GET /settings/transfer/export": {get("/settings/transfer/export"), adminsOnly(http.StatusOK, http.StatusOK)},
		// A form without the file: the caller is authorized first, then told to choose one.
		"POST /settings/transfer/import": {form("POST", "/settings/transfer/import", url.Values{"x": {"y"}}),
			adminsOnly(http.StatusUnprocessableEntity, http.StatusUnprocessableEntity)},
	})
}

// multipartBundle is a page upload of a bundle file in the form field "bundle".
func multipartBundle(cookie *http.Cookie, content string) request {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("bundle", "bundle.json")
	_, _ = part.Write([]byte(content))
	_ = mw.Close()
	return request{Method: "POST", Path: "/settings/transfer/import", Cookie: cookie, JSON: body.String(),
		Header: http.Header{"Content-Type": {mw.FormDataContentType()}}}
}

// TestTransferPageDownloadsAndUploads: the page's download is the bundle, and uploading it into another
// organization of the same instance imports it (the clashing names renamed); a bad upload lists its problems.
func TestTransferPageDownloadsAndUploads(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	src := fillBundleSource(t, h, w)
	owner := h.sessionCookie(w.users["owner"], w.orgA.ID)
	page := h.do(request{Method: "GET", Path: "/settings/transfer", Cookie: owner})
	doc := page.doc(t)
	if page.StatusCode != http.StatusOK || doc.Find(`a[href="/settings/transfer/export"]`).Length() != 1 ||
		doc.Find(`form[action="/settings/transfer/import"] input[type=file][name=bundle]`).Length() != 1 {
		t.Fatalf("transfer page: %d %s", page.StatusCode, page.body)
	}
	download := h.do(request{Method: "GET", Path: "/settings/transfer/export", Cookie: owner})
	if download.StatusCode != http.StatusOK || !strings.Contains(download.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %.300s", download.StatusCode, download.body)
	}
	outsider := h.sessionCookie(w.users["outsider"], w.orgB.ID)
	done := h.do(multipartBundle(outsider, download.body))
	if done.StatusCode != http.StatusOK || !strings.Contains(done.body, "Imported 3 workflows, 1 forms") {
		t.Fatalf("upload: %d %s", done.StatusCode, done.body)
	}
	forms, err := h.st.FormList(context.Background(), w.orgB.ID, store.FormFilter{})
	if err != nil || len(forms) != 1 || forms[0].Slug == src.formSlug {
		t.Errorf("imported forms %+v (%v): want one, at a new address", forms, err)
	}
	bad := strings.Replace(download.body, `"id":"`+src.integration+`"`, `"id":"gone"`, 1)
	refused := h.do(multipartBundle(outsider, bad))
	if refused.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(refused.body, "config.integration_id: names integration") {
		t.Errorf("bad upload: %d %s", refused.StatusCode, refused.body)
	}
}

// TestOrganizationBundleKeepsArchivedWorkflowsAndSMTPAndHTTPIntegrations moves an organization with an archived
// workflow beside an active one, an SMTP integration with a password and an HTTP integration with a bearer token:
// the archived workflow travels and arrives archived (the other does not), and both integrations arrive with
// their settings but no secret, listed as needing their credentials entered again.
func TestOrganizationBundleKeepsArchivedWorkflowsAndSMTPAndHTTPIntegrations(t *testing.T) {
	t.Parallel()
	from, to := newHarness(t), newHarness(t)
	fw := from.newWorld()
	token := from.accessToken(fw.users["owner"], fw.orgA.ID)
	secrets := []string{"smtp-pw-" + uuid.NewString()[:8], "bearer-" + uuid.NewString()[:8]}
	var id struct {
		ID string `json:"id"`
	}
	from.created(t, request{Method: "POST", Path: "/api/v1/integrations", Bearer: token, JSON: `{"name":"Mail","kind":"smtp",` +
		`"settings":{"host":"smtp.example.com","port":587,"username":"bot","password":"` + secrets[0] + `","from":"Bot <bot@example.com>"}}`}, &id)
	from.created(t, request{Method: "POST", Path: "/api/v1/integrations", Bearer: token, JSON: `{"name":"CRM","kind":"http",` +
		`"settings":{"auth":"bearer","base_url":"https://crm.example.com","token":"` + secrets[1] + `"}}`}, &id)
	from.created(t, request{Method: "POST", Path: "/api/v1/workflows", Bearer: token, JSON: `{"name":"Old orders","definition":` + apiFlow + `}`}, &id)
	archived := id.ID
	if r := from.do(request{Method: "DELETE", Path: "/api/v1/workflows/" + archived, Bearer: token}); r.StatusCode >= 300 {
		t.Fatalf("archive: %d %s", r.StatusCode, r.body)
	}
	from.created(t, request{Method: "POST", Path: "/api/v1/workflows", Bearer: token, JSON: `{"name":"Orders","definition":` + apiFlow + `}`}, &id)
	active := id.ID

	export := from.do(request{Method: "GET", Path: "/api/v1/organization/export", Bearer: token})
	if export.StatusCode != http.StatusOK {
		t.Fatalf("export: %d %s", export.StatusCode, export.body)
	}
	for _, secret := range secrets {
		if strings.Contains(export.body, secret) {
			t.Fatalf("the bundle holds the secret %q", secret)
		}
	}
	var b appbundle.Bundle
	export.json(t, &b)
	archivedIn := map[string]bool{}
	for _, w := range b.Workflows {
		archivedIn[w.ID] = w.Archived
	}
	if len(b.Workflows) != 2 || !archivedIn[archived] || archivedIn[active] {
		t.Fatalf("bundle workflows %+v: want the archived one marked and the active one not", b.Workflows)
	}

	tw := to.newWorld()
	dest := to.accessToken(tw.users["admin"], tw.orgA.ID)
	imported := to.do(request{Method: "POST", Path: "/api/v1/organization/import", Bearer: dest, JSON: export.body})
	if imported.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %s", imported.StatusCode, imported.body)
	}
	var res appbundle.Result
	imported.json(t, &res)
	ctx := context.Background()
	for old, wantArchived := range map[string]bool{archived: true, active: false} {
		wf, err := to.st.WorkflowGet(ctx, tw.orgA.ID, uuid.MustParse(res.Workflows[old]))
		if err != nil || (wf.ArchivedAt != nil) != wantArchived || wf.Active {
			t.Errorf("imported workflow %s: %+v %v; want archived %v and inactive", old, wf, err, wantArchived)
		}
	}
	if len(res.NeedsCredentials) != 2 {
		t.Errorf("needs credentials %v, want the SMTP and the HTTP integration", res.NeedsCredentials)
	}
	for _, it := range b.Integrations {
		got, err := to.srv.deps.Integrations.Get(ctx, tw.orgA.ID, uuid.MustParse(res.Integrations[it.ID]))
		if err != nil || got.HasSecrets || got.Kind != it.Kind || got.Name != it.Name {
			t.Errorf("imported %s: %+v %v; want its settings without secrets", it.Name, got, err)
			continue
		}
		config := string(got.Config)
		for _, want := range map[string][]string{"smtp": {"smtp.example.com", "bot@example.com"}, "http": {"crm.example.com", "bearer"}}[it.Kind] {
			if !strings.Contains(config, want) {
				t.Errorf("imported %s's settings %s lack %q", it.Name, config, want)
			}
		}
		for _, secret := range secrets {
			if strings.Contains(config, secret) {
				t.Errorf("imported %s holds a secret", it.Name)
			}
		}
	}
}
