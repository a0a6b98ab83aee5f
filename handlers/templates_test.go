package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"

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
