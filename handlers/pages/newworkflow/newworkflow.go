// Package newworkflow is the New workflow page (/workflows/new): a choice of trigger and a gallery of the
// templates shipped with ConcertMaster (app/templates), each with a form asking for a name and for the
// integrations and forms its placeholders need. It is an adapter over app.Workflows' Templates and
// CreateFromTemplate, as the API's twin (handlers/api/workflowtemplates) is. It lives outside package pages so
// that package stays small; handlers.routes mounts it next to the pages.
//
// It may import httpx, app, views and platform/*; it imports no other surface and no sql/db.
package newworkflow

import (
	"context"
	"net/http"
	"strings"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/app/templates"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// Handlers serves the New workflow page over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

// Routes registers the page and its form.
func (s *Handlers) Routes(rt *httpx.Router) {
	rt.Page("GET /workflows/new", s.page)
	rt.Page("POST /workflows/new", s.create)
}

// page is GET /workflows/new.
func (s *Handlers) page(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "", views.Form{})
}

// create is POST /workflows/new {template, name, placeholder.<key>}: a workflow from the template, then its
// canvas; a refused one shows the page again with the template's form and its errors.
func (s *Handlers) create(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.WorkflowCreate, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	in := app.TemplateInput{Template: r.PostFormValue("template"), Placeholders: map[string]string{}}
	name := strings.TrimSpace(r.PostFormValue("name"))
	values := map[string]string{"name": name}
	if name != "" {
		in.Name = &name
	}
	for k, v := range r.PostForm {
		if key, ok := strings.CutPrefix(k, "placeholder."); ok && len(v) > 0 && v[0] != "" {
			in.Placeholders[key] = v[0]
			values["placeholders."+key] = v[0]
		}
	}
	created, err := s.App.Workflows.CreateFromTemplate(r.Context(), s.Caller(r), in)
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid {
			s.PageError(w, r, err)
			return
		}
		chosen := in.Template
		if _, known := templates.Get(chosen); known != nil {
			chosen = "" // the error names the template field: shown above the cards
		}
		s.render(w, r, http.StatusUnprocessableEntity, chosen, httpx.FormState(values, err))
		return
	}
	s.Redirect(w, r, "/workflows/"+created.Workflow.ID.String())
}

func (s *Handlers) render(w http.ResponseWriter, r *http.Request, status int, chosen string, form views.Form) {
	list, err := s.App.Workflows.Templates(r.Context(), s.Caller(r))
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.NewWorkflowPage{Chosen: chosen, Form: form,
		CanCreate: httpx.Authorize(r, authz.WorkflowCreate, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)) == nil}
	choices := &choiceLoader{ctx: r.Context(), app: s.App, caller: s.Caller(r), byKind: map[string][]views.Option{}}
	for _, t := range list {
		card := views.TemplateCard{Key: t.Key, Name: t.Name, Description: t.Description, Trigger: t.Trigger}
		if page.CanCreate {
			for _, ph := range t.Placeholders {
				c, err := choices.choice(ph)
				if err != nil {
					s.PageError(w, r, err)
					return
				}
				card.Placeholders = append(card.Placeholders, c)
			}
		}
		if t.Category == templates.CategoryStart {
			page.Triggers = append(page.Triggers, card)
		} else {
			page.Gallery = append(page.Gallery, card)
		}
	}
	s.Render(w, r, status, "New workflow", views.NewWorkflow(page))
}

// choiceLoader lists, once per page, the organization's integrations of each kind and its forms.
type choiceLoader struct {
	ctx    context.Context
	app    *app.App
	caller app.Caller
	byKind map[string][]views.Option
}

// formChoicesLimit bounds the forms offered; a larger organization names its form on the canvas afterwards.
const formChoicesLimit = 200

func (l *choiceLoader) choice(ph templates.Placeholder) (views.TemplateChoice, error) {
	c := views.TemplateChoice{Key: ph.Key, Label: ph.Label, Help: ph.Help}
	if ph.Kind == templates.PlaceholderForm {
		c.What, c.CreateURL = "form", "/forms"
	} else {
		c.What, c.CreateURL = "integration of kind "+ph.IntegrationKind, "/integrations"
	}
	key := ph.Kind + ":" + ph.IntegrationKind
	opts, done := l.byKind[key]
	if !done {
		var err error
		if opts, err = l.load(ph); err != nil {
			return c, err
		}
		l.byKind[key] = opts
	}
	c.Options = opts
	return c, nil
}

func (l *choiceLoader) load(ph templates.Placeholder) ([]views.Option, error) {
	var opts []views.Option
	if ph.Kind == templates.PlaceholderForm {
		forms, err := l.app.Forms.List(l.ctx, l.caller, store.FormFilter{Limit: formChoicesLimit})
		if err != nil {
			return nil, err
		}
		for _, f := range forms {
			opts = append(opts, views.Option{Value: f.ID.String(), Label: f.Name + " (/f/" + f.Slug + ")"})
		}
		return opts, nil
	}
	ins, err := l.app.Integrations.List(l.ctx, l.caller, store.IntegrationFilter{Kind: ph.IntegrationKind})
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		opts = append(opts, views.Option{Value: in.ID.String(), Label: in.Name})
	}
	return opts, nil
}
