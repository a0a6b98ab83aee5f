package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/proto"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/sql/store"
)

// browserFlow is a three-node workflow whose transform fails on a negative total, so the seeded world has both
// finished and failed executions with node runs.
const browserFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","name":"Order in","position":{"x":0,"y":0},"config":{}},
 {"id":"shape","type":"transform.data","name":"Shape the order","position":{"x":240,"y":0},
  "config":{"jq":"if .body.total < 0 then error(\"the total cannot be negative\") else {total: .body.total, customer: .body.customer} end"}},
 {"id":"big","type":"condition.if","name":"Big order?","position":{"x":480,"y":0},"config":{"condition":"input.total > 100"}}],
 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`

// longToken is a word with no place to break, as ids, URLs and tokens are: pages must wrap or scroll it inside
// its own box, never the page.
const longToken = "https://shop.example.com/customers/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/orders?expand=lines"

// browserPage is how to open one page: its path and who opens it ("owner", "anonymous" or "instance-admin").
// foreign marks a page the application does not draw (River's UI), which has neither our layout nor theme.js.
// states are the page's further views (a node's panel, a drawer, a dialog, another kind's form), each checked
// like the page itself.
type browserPage struct {
	path, who string
	foreign   bool
	states    []pageState
}

// pageState is one further view of a page: reach brings the freshly opened page there, and makes the checks that
// belong to that view alone (the panel beside its node).
type pageState struct {
	name  string
	reach func(b *browserSession)
}

// editorStates are the views of the workflow page beyond the canvas: a node selected with its panel (docked
// beside the canvas or a bottom sheet, never over the node), the node view, the node picker of a "+" port, the
// sharing drawer, the test run and versions dialogs and the details drawer. node is a node of the workflow with an
// output port "out".
func editorStates(node string) []pageState {
	selected := func(b *browserSession) {
		b.waitFor(`.react-flow__node[data-id="` + node + `"]`)
		b.click(".react-flow__controls-fitview")
		b.clickNodeWhenStill(node)
		b.waitPanelBesideNode(node)
	}
	return []pageState{
		{"node-selected", selected},
		{"node-view", func(b *browserSession) {
			selected(b)
			b.click(`[data-action="open-nodeview"]`)
			b.waitFor(`[data-nodeview]`)
		}},
		{"node-picker", func(b *browserSession) {
			b.waitFor(`.react-flow__node[data-id="` + node + `"]`)
			b.click(".react-flow__controls-fitview")
			b.clickStill(`[data-add-after="` + node + `"][data-add-port="out"]`)
			b.waitFor("#cm-picker-search")
		}},
		{"sharing", func(b *browserSession) {
			b.toolbarAction("sharing")
			b.waitFor("#cm-share-member")
			b.waitFor("[data-grant], [data-sharing-empty]")
		}},
		{"test-run", func(b *browserSession) {
			b.toolbarAction("test-run")
			b.waitFor(`dialog[open] [name="sample"]`)
		}},
		{"versions", func(b *browserSession) {
			b.toolbarAction("versions")
			b.waitFor("dialog[open]")
		}},
		{"details", func(b *browserSession) {
			b.click(`[data-drawer="details"]`)
			b.waitUntil(`() => document.querySelector("#webhook-url")?.getBoundingClientRect().width > 0`)
		}},
	}
}

// seededPages fills a world with realistic content (a workflow with succeeded and failed executions and their
// node runs, an upload workflow, a form with submissions, an integration, an invitation, a token, the audit entries
// all of that wrote) and returns how to open each GET page route.
func seededPages(t *testing.T, h *harness, w *world) map[string]browserPage {
	t.Helper()
	ctx := context.Background()
	owner := w.users["owner"]
	token := h.accessToken(owner, w.orgA.ID)
	cookie := h.sessionCookie(owner, w.orgA.ID)

	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: token, JSON: `{"name":"Big orders to the sales channel",
		"description":"Every order over 100 goes to the sales team; see ` + longToken + `","definition":` + browserFlow + `}`})
	var wf struct {
		ID string `json:"id"`
	}
	resp.json(t, &wf)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create workflow: %d %s", resp.StatusCode, resp.body)
	}
	if r := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/activate", Bearer: token}); r.StatusCode != 200 {
		t.Fatalf("activate: %d %s", r.StatusCode, r.body)
	}
	var failed string
	for _, run := range []struct {
		total  int
		status string
	}{{250, "succeeded"}, {12, "succeeded"}, {-3, "failed"}, {990, "succeeded"}} {
		r := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/run", Bearer: token,
			JSON: fmt.Sprintf(`{"total":%d,"customer":%q}`, run.total, longToken)})
		var e struct {
			ID string `json:"execution_id"`
		}
		r.json(t, &e)
		h.waitExecution(token, e.ID, run.status)
		if run.status == "failed" {
			failed = e.ID
		}
	}

	upload := h.ownersUploadWorkflow(w, uploadFlow)
	// Shared with the member, so the sharing page has a grant to show next to its form, and the list a "Shared" link.
	if r := h.do(request{Method: "PUT", Path: "/api/v1/workflows/" + wf.ID + "/sharing/" + w.users["member"].ID.String(),
		Bearer: token, JSON: `{"permission":"run"}`}); r.StatusCode != 200 {
		t.Fatalf("share: %d %s", r.StatusCode, r.body)
	}

	form := h.ownersForm(w, []store.FormField{
		{Name: "name", Label: "Your name", Type: store.FieldText, Required: true},
		{Name: "email", Label: "E-mail", Type: store.FieldEmail, Required: true},
		{Name: "topic", Label: "Topic", Type: store.FieldSelect, Options: []string{"Billing", "Support", "Sales"}},
		{Name: "message", Label: "Message", Type: store.FieldTextarea, Help: "Tell us as much as you like."},
	})
	var sub store.FormSubmission
	for i, who := range []string{"Ada Lovelace", "Grace Hopper", "Edsger Dijkstra"} {
		data, _ := json.Marshal(map[string]string{"name": who, "email": fmt.Sprintf("person%d@example.com", i),
			"topic": "Support", "message": "Hello, the link " + longToken + " does not open."})
		s, _, err := h.st.FormSubmit(ctx, store.NewFormSubmission{FormID: form.ID, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		sub = s
	}

	for _, r := range []request{
		{Method: "POST", Path: "/integrations", Cookie: cookie, Form: integrationForm("Transactional mail", "smtp",
			`{"host":"smtp.example.com","from":"bot@example.com","username":"bot","password":"pw"}`)},
		{Method: "POST", Path: "/settings/tokens", Cookie: cookie, Form: url.Values{"name": {"CI deploys"}, "expires_in_days": {"90"}, "scopes": {"run"}}},
	} {
		if resp := h.do(r); resp.StatusCode >= 400 {
			t.Fatalf("%s %s: %d %.300s", r.Method, r.Path, resp.StatusCode, resp.body)
		}
	}
	invitation := h.invitation(w, "new.colleague@example.com", store.RoleMember)
	channel := h.ownersChannel(w).String()
	// The credentials form of every integration kind (the page opens on the first).
	var kindForms []pageState
	for _, k := range actions.IntegrationKinds()[1:] {
		kindForms = append(kindForms, pageState{"kind-" + k.Kind, func(b *browserSession) {
			b.open("/integrations?kind=" + k.Kind)
			b.waitFor(`form[action="/integrations"] [name="kind"]`)
		}})
	}

	return map[string]browserPage{
		"GET /{$}":                {path: "/", who: "owner"},
		"GET /profile":            {path: "/profile", who: "owner"},
		"GET /reauth":             {path: "/reauth?next=%2Fsettings%2Fmembers", who: "owner"},
		"GET /settings/members":   {path: "/settings/members", who: "owner"},
		"GET /settings/tokens":    {path: "/settings/tokens", who: "owner"},
		"GET /settings/audit":     {path: "/settings/audit", who: "owner"},
		"GET /settings/transfer":  {path: "/settings/transfer", who: "owner"},
		"GET /settings/retention": {path: "/settings/retention", who: "owner"},
		"GET /integrations":       {path: "/integrations", who: "owner", states: kindForms},
		"GET /workflows": {path: "/workflows", who: "owner", states: []pageState{{"row-menu", func(b *browserSession) {
			b.click(".row-menu summary")
			b.waitFor(".row-menu[open] .row-menu-panel")
		}}}},
		"GET /workflows/{id}":        {path: "/workflows/" + wf.ID, who: "owner", states: editorStates("shape")},
		"GET /workflows/new":         {path: "/workflows/new", who: "owner"},
		"GET /workflows/{id}/upload": {path: "/workflows/" + upload.ID.String() + "/upload", who: "owner"},
		"GET /executions":            {path: "/executions", who: "owner"},
		"GET /executions/{id}": {path: "/executions/" + failed, who: "owner", states: []pageState{{"debug-in-editor", func(b *browserSession) {
			b.click(`[data-debug-in-editor]`)
			b.waitFor(`.cm-runbar[data-run-status="failed"]`)
		}}}},
		"GET /forms":                                {path: "/forms", who: "owner"},
		"GET /forms/{id}":                           {path: "/forms/" + form.ID.String(), who: "owner"},
		"GET /forms/{id}/submissions":               {path: "/forms/" + form.ID.String() + "/submissions", who: "owner"},
		"GET /forms/{id}/submissions/{sid}":         {path: "/forms/" + form.ID.String() + "/submissions/" + sub.ID.String(), who: "owner"},
		"GET /admin/jobs":                           {path: "/admin/jobs", who: "instance-admin", foreign: true},
		"GET /notifications":                        {path: "/notifications", who: "owner"},
		"GET /settings/notifications":               {path: "/settings/notifications", who: "owner"},
		"GET /settings/notifications/channels":      {path: "/settings/notifications/channels", who: "owner"},
		"GET /settings/notifications/channels/{id}": {path: "/settings/notifications/channels/" + channel, who: "owner"},
		"GET /workflows/{id}/notifications":         {path: "/workflows/" + wf.ID + "/notifications", who: "owner"},
		"GET /workflows/{id}/sharing":               {path: "/workflows/" + wf.ID + "/sharing", who: "owner"},
		"GET /admin/flags":                          {path: "/admin/flags", who: "instance-admin"},

		"GET /login":               {path: "/login", who: "anonymous"},
		"GET /signup":              {path: "/signup", who: "anonymous"},
		"GET /forgot-password":     {path: "/forgot-password", who: "anonymous"},
		"GET /reset-password":      {path: "/reset-password?token=" + h.resetToken(w.users["viewer"]), who: "anonymous"},
		"GET /invitations/{token}": {path: "/invitations/" + invitation, who: "anonymous"},
		"GET /f/{slug}":            {path: "/f/" + form.Slug, who: "anonymous"},
	}
}

// notPages are GET routes that answer something other than a page: streams and file downloads. Everything under
// /api, /ui, /hooks, /static and the probes is left out by prefix (see isPageRoute).
var notPages = map[string]bool{
	"GET /notifications/events":                     true,
	"GET /executions/{id}/events":                   true,
	"GET /executions/{id}/files/{fileID}":           true,
	"GET /executions/{id}/payloads/{key}":           true,
	"GET /forms/{id}/submissions.csv":               true,
	"GET /forms/{id}/submissions/{sid}/files/{fid}": true,
	"GET /settings/transfer/export":                 true,
	// River UI's own assets and JSON API, below the page GET /admin/jobs opens.
	"GET /admin/jobs/": true,
}

func isPageRoute(pattern string) bool {
	path, ok := strings.CutPrefix(pattern, "GET ")
	if !ok || notPages[pattern] {
		return false
	}
	for _, prefix := range []string{"/api/", "/api", "/ui/", "/hooks/", "/static/", "/healthz", "/readyz", "/metrics"} {
		if strings.HasPrefix(path, prefix) {
			return false
		}
	}
	return !strings.HasSuffix(path, "/events")
}

// TestEveryPageInBothThemesAndWidths opens every page a signed-in owner can open (taken from the route table, so a
// new page is never skipped silently) and the public ones, with their further views (the editor with a node
// selected, the node view, its drawers and dialogs, every credentials form, ...), in the light and dark themes at
// 390×844 and 1440×900. It checks that none scrolls sideways, loads anything from elsewhere, logs an error or
// breaks the CSP, that every control has an accessible name, that the theme attribute the canvas watches is set,
// and that the config panel never covers the node it edits. Each view is saved as a screenshot under
// test-artifacts/.
func TestEveryPageInBothThemesAndWidths(t *testing.T) {
	t.Parallel()
	var jobsClient *river.Client[pgx.Tx]
	h := newHarness(t, withAdminJobsUI(&jobsClient), withFlags())
	h.startWorkers()
	w := h.newWorld()
	pages := seededPages(t, h, w)

	cookies := map[string]*http.Cookie{"owner": h.sessionCookie(w.users["owner"], w.orgA.ID)}
	var opened int
	for _, pattern := range h.srv.Routes() {
		if !isPageRoute(pattern) {
			continue
		}
		page, ok := pages[pattern]
		if !ok {
			t.Errorf("page route %q: the test does not know how to open it; add it to seededPages (or notPages "+
				"if it is not a page)", pattern)
			continue
		}
		if page.who == "instance-admin" && cookies[page.who] == nil {
			cookies[page.who] = adminJobsInstanceAdmin(h)
		}
		opened++
		cookie := cookies[page.who]
		// The page and each of its further views in a sub-test of its own, with its own browser, so that they run
		// side by side.
		views := append([]pageState{{name: "page"}}, page.states...)
		t.Run(routeSlug(pattern), func(t *testing.T) {
			t.Parallel()
			for _, view := range views {
				t.Run(view.name, func(t *testing.T) {
					t.Parallel()
					b := h.newBrowser(t)
					if cookie != nil {
						b.setCookie(cookie)
					}
					if page.foreign {
						b.tolerate(riverUIEvalProbe)
					}
					for _, theme := range []string{"light", "dark"} {
						b.setColorScheme(theme)
						for _, size := range [][2]int{{390, 844}, {1440, 900}} {
							b.setViewport(size[0], size[1])
							b.open(page.path)
							if view.reach != nil {
								view.reach(b)
							}
							if got := b.eval(`() => document.documentElement.dataset.theme || ""`).Str(); got != theme && !page.foreign {
								t.Errorf("%s in the %s system theme: data-theme=%q", b.location(), theme, got)
							}
							b.assertNoHorizontalScroll()
							if !page.foreign { // River's UI is its own markup (its search box has no label)
								b.assertOnlyDataScrollsSideways()
								b.assertLabelled()
							}
							b.assertClean()
							b.screenshot(fmt.Sprintf("%s-%d", theme, size[0]))
						}
					}
				})
			}
		})
	}
	for pattern := range pages {
		if !contains(h.srv.Routes(), pattern) && pattern != "GET /admin/jobs" {
			t.Errorf("seededPages has %q, which is not a route any more", pattern)
		}
	}
	if opened < 15 {
		t.Errorf("only %d pages opened: the route table was not read", opened)
	}
}

// routeSlug names a route's sub-test and screenshot folder: "GET /forms/{id}/submissions" → "forms_id_submissions".
func routeSlug(pattern string) string {
	path := strings.TrimPrefix(pattern, "GET ")
	if path == "/{$}" {
		return "dashboard"
	}
	return strings.Trim(unsafeFileChars.ReplaceAllString(path, "_"), "_")
}

// TestThemeChoiceFollowsTheSystemUntilPicked drives the navigation's theme picker: it follows the system (also
// when the system changes), a pick overrides it and is remembered across pages, and System hands back to the
// system. Without JavaScript the stylesheet alone follows the system.
func TestThemeChoiceFollowsTheSystemUntilPicked(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	b := h.newBrowser(t)
	b.signIn(w.users["member"], w.orgA.ID)
	theme := func() string { return b.eval(`() => document.documentElement.dataset.theme || ""`).Str() }
	background := func() string { return b.eval(`() => getComputedStyle(document.body).backgroundColor`).Str() }

	b.setColorScheme("dark")
	b.open("/workflows")
	if theme() != "dark" {
		t.Fatalf("system dark: data-theme=%q", theme())
	}
	dark := background()
	b.setColorScheme("light")
	b.waitUntil(`() => document.documentElement.dataset.theme === "light"`)
	light := background()
	if dark == light {
		t.Errorf("the background is %s in both themes", dark)
	}

	// Picking Dark overrides the light system, on this page and the next.
	b.waitFor(`[data-theme-picker]:not([hidden]) select`)
	b.eval(`() => { const s = document.querySelector("#theme-choice"); s.value = "dark"; s.dispatchEvent(new Event("change", {bubbles: true})); }`)
	b.waitUntil(`() => document.documentElement.dataset.theme === "dark"`)
	if got := background(); got != dark {
		t.Errorf("picked dark: background %s, want %s", got, dark)
	}
	b.open("/executions")
	if theme() != "dark" || b.eval(`() => document.querySelector("#theme-choice").value`).Str() != "dark" {
		t.Errorf("the pick is not remembered: data-theme=%q", theme())
	}
	b.screenshot("picked-dark")

	// System hands back to the system, and follows it when it changes.
	b.eval(`() => { const s = document.querySelector("#theme-choice"); s.value = "system"; s.dispatchEvent(new Event("change", {bubbles: true})); }`)
	b.waitUntil(`() => document.documentElement.dataset.theme === "light"`)
	b.setColorScheme("dark")
	b.waitUntil(`() => document.documentElement.dataset.theme === "dark"`)
	b.assertClean()

	// No script: no attribute, and the stylesheet follows the system by itself.
	b.step("disable JavaScript", func(p *rod.Page) error {
		return proto.EmulationSetScriptExecutionDisabled{Value: true}.Call(p)
	})
	b.open("/login")
	if got := b.eval(`() => document.documentElement.hasAttribute("data-theme")`).Bool(); got {
		t.Error("data-theme is set without JavaScript")
	}
	if got := background(); got != dark {
		t.Errorf("without JavaScript in a dark system: background %s, want %s", got, dark)
	}
}
