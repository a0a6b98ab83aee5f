package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/concertmaster/concertmaster/app/templates"
	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The role matrix of the template routes, merged into routeCases.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/v1/workflow-templates": {get("/api/v1/workflow-templates"), withAnon(every(200), 401)},
		"POST /api/v1/workflows/from-template": {func(*harness, *world) request {
			return request{Method: "POST", Path: "/api/v1/workflows/from-template", JSON: `{"template":"order-triage"}`}
		}, creators()},
		"GET /workflows/new": {get("/workflows/new"), signedIn(200)},
		"POST /workflows/new": {func(*harness, *world) request {
			return request{Method: "POST", Path: "/workflows/new", Form: map[string][]string{"template": {"order-triage"}}}
		}, pageCreators()},
	})
}

// templateWorld is organization A with one integration of each kind the templates name, and a form.
type templateWorld struct {
	h     *harness
	token string
	picks map[string]string // integration kind or "form" → id
}

func newTemplateWorld(t *testing.T) *templateWorld {
	h := newHarness(t)
	w := h.newWorld()
	tw := &templateWorld{h: h, token: h.accessToken(w.users["member"], w.orgA.ID), picks: map[string]string{}}
	for kind, cfg := range map[string][2]string{
		"smtp":     {`{"host":"smtp.example.com","from":"Ops <ops@example.com>"}`, `{}`},
		"http":     {`{"auth":"bearer","base_url":"https://api.example.com"}`, `{"token":"t0ken-for-tests"}`},
		"postgres": {`{"host":"db.example.com","database":"app","user":"app"}`, `{"password":"s3cret-pw"}`},
	} {
		in, err := h.srv.deps.Integrations.Create(context.Background(), store.NewIntegration{OrganizationID: w.orgA.ID,
			Name: kind + " one", Kind: kind, Config: json.RawMessage(cfg[0]), Secrets: json.RawMessage(cfg[1])}, store.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		tw.picks[kind] = in.ID.String()
	}
	f := h.createForm(tw.token, `{"name":"Contact","slug":"contact-templates","fields":[
		{"name":"name","label":"Name","type":"text","required":true},{"name":"email","label":"E-mail","type":"email","required":true},
		{"name":"message","label":"Message","type":"textarea"},{"name":"company","label":"Company","type":"text"}]}`)
	tw.picks["form"] = f.ID
	return tw
}

func (tw *templateWorld) picksFor(tpl templates.Template) map[string]string {
	out := map[string]string{}
	for _, p := range tpl.Placeholders {
		if p.Kind == templates.PlaceholderForm {
			out[p.Key] = tw.picks["form"]
		} else {
			out[p.Key] = tw.picks[p.IntegrationKind]
		}
	}
	return out
}

// TestCreatingFromEveryTemplateYieldsAValidDraft creates a workflow from each listed template through the API, as
// a member, and checks it is an inactive workflow whose definition validates and names the picks.
func TestCreatingFromEveryTemplateYieldsAValidDraft(t *testing.T) {
	t.Parallel()
	tw := newTemplateWorld(t)
	h := tw.h
	resp := h.do(request{Method: "GET", Path: "/api/v1/workflow-templates", Bearer: tw.token})
	var list struct {
		Items []templates.Template `json:"items"`
	}
	resp.json(t, &list)
	if resp.StatusCode != http.StatusOK || len(list.Items) != len(templates.All()) {
		t.Fatalf("list: %d, %d of %d templates", resp.StatusCode, len(list.Items), len(templates.All()))
	}
	for _, tpl := range list.Items {
		picks := tw.picksFor(tpl)
		body, _ := json.Marshal(map[string]any{"template": tpl.Key, "placeholders": picks})
		resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/from-template", Bearer: tw.token, JSON: string(body)})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: %d %s", tpl.Key, resp.StatusCode, resp.body)
		}
		var wf api.WorkflowJSON
		resp.json(t, &wf)
		if wf.Active || wf.Name != tpl.Name || wf.Definition == nil {
			t.Fatalf("%s: %+v", tpl.Key, wf)
		}
		for _, id := range picks {
			if !strings.Contains(string(*wf.Definition), id) {
				t.Fatalf("%s: pick %s not in %s", tpl.Key, id, *wf.Definition)
			}
		}
		check, _ := json.Marshal(map[string]any{"definition": wf.Definition})
		if v := h.do(request{Method: "POST", Path: "/api/v1/workflows/validate", Bearer: tw.token, JSON: string(check)}); v.StatusCode != http.StatusOK {
			t.Fatalf("%s: saved definition does not validate: %d %s", tpl.Key, v.StatusCode, v.body)
		}
	}
}

func TestTemplateCreationNamesBadPicks(t *testing.T) {
	t.Parallel()
	tw := newTemplateWorld(t)
	h := tw.h
	cases := []struct {
		name, body, field string
	}{
		{"missing", `{"template":"form-to-email-and-export","placeholders":{"form":"` + tw.picks["form"] + `"}}`, "placeholders.smtp"},
		{"wrong kind", `{"template":"form-to-email-and-export","placeholders":{"form":"` + tw.picks["form"] + `","smtp":"` + tw.picks["http"] + `"}}`, "placeholders.smtp"},
		{"not an id", `{"template":"webhook-to-slack","placeholders":{"slack":"my slack"}}`, "placeholders.slack"},
		{"an integration for a form", `{"template":"blank-form","placeholders":{"form":"` + tw.picks["smtp"] + `"}}`, "placeholders.form"},
		{"unknown template", `{"template":"nope"}`, "template"},
	}
	for _, c := range cases {
		resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/from-template", Bearer: tw.token, JSON: c.body})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, resp.body)
		}
	}
}

// TestNewWorkflowPageAndList creates a workflow from the New workflow page, runs it, and checks the list: trigger
// icon, last run, the on/off switch (in place with HTMX) for an editor and none for a viewer, and the actions menu.
func TestNewWorkflowPageAndList(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner, viewer := w.users["owner"], w.users["viewer"]

	// A refused creation names the placeholder on its card.
	resp := h.pageAs(owner, w.orgA.ID, "POST", "/workflows/new", url.Values{"template": {"blank-form"}})
	doc := resp.doc(t)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-template="blank-form"] .alert, [data-template="blank-form"] .field-error`).Text(), "hoose a form") {
		t.Fatalf("missing form: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.pageAs(owner, w.orgA.ID, "POST", "/workflows/new", url.Values{"template": {"order-triage"}, "name": {"Triage <b>"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/workflows/") {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.body)
	}
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/workflows/")
	token := h.accessToken(owner, w.orgA.ID)
	if r := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + id + "/run", Bearer: token, JSON: `{"id":"A-1","total":5}`}); r.StatusCode != http.StatusAccepted {
		t.Fatalf("run: %d %s", r.StatusCode, r.body)
	}

	row := func(doc *goquery.Document) *goquery.Selection { return doc.Find(`tr[data-workflow-id="` + id + `"]`) }
	doc = h.pageAs(owner, w.orgA.ID, "GET", "/workflows", nil).doc(t)
	r := row(doc)
	if r.Length() != 1 || r.Find(`[aria-label="Webhook trigger"]`).Length() != 1 || !strings.Contains(r.Text(), "Triage <b>") {
		t.Fatalf("row: %s", outer(r))
	}
	if st := r.Find(".badge").Last().Text(); st == "" || strings.Contains(r.Text(), "never") {
		t.Fatalf("last run not shown: %s", outer(r))
	}
	if r.Find(`details.row-menu summary[aria-label="Actions for Triage <b>"]`).Length() != 1 || r.Find(`details.row-menu button`).Length() != 2 {
		t.Fatalf("menu: %s", outer(r))
	}
	sw := r.Find(`button[role="switch"]`)
	if sw.AttrOr("aria-checked", "") != "false" {
		t.Fatalf("switch: %s", outer(r))
	}

	// The switch, in place: the list comes back with it on.
	resp = h.do(request{Method: "POST", Path: "/workflows/" + id + "/activate", Form: url.Values{"from": {"list"}},
		Cookie: h.sessionCookie(owner, w.orgA.ID), Header: http.Header{"Hx-Request": {"true"}}})
	if resp.StatusCode != http.StatusOK || row(resp.doc(t)).Find(`button[role="switch"]`).AttrOr("aria-checked", "") != "true" {
		t.Fatalf("activate from the list: %d %s", resp.StatusCode, resp.body)
	}
	var active bool
	if err := h.pool.QueryRow(context.Background(), "SELECT active FROM workflows WHERE id = $1", id).Scan(&active); err != nil || !active {
		t.Fatalf("active = %v, %v", active, err)
	}

	// A viewer sees the state, no switch, no menu; and may not switch it.
	r = row(h.pageAs(viewer, w.orgA.ID, "GET", "/workflows", nil).doc(t))
	if r.Find(`button[role="switch"]`).Length() != 0 || r.Find("details.row-menu").Length() != 0 || !strings.Contains(r.Text(), "active") {
		t.Fatalf("viewer row: %s", outer(r))
	}
	if resp := h.pageAs(viewer, w.orgA.ID, "POST", "/workflows/"+id+"/deactivate", url.Values{"from": {"list"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer deactivate: %d", resp.StatusCode)
	}
}

func outer(s *goquery.Selection) string {
	html, _ := goquery.OuterHtml(s)
	return html
}
