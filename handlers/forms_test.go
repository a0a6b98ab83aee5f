package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/handlers/public"
	"github.com/concertmaster/concertmaster/sql/store"
)

// apiForm is a form as the API answers it.
type apiForm struct {
	ID        string            `json:"id"`
	Slug      string            `json:"slug"`
	URL       string            `json:"url"`
	Published bool              `json:"published"`
	Fields    []store.FormField `json:"fields"`
}

// problemFields maps each field a problem names to its message.
func problemFields(p problemDoc) map[string]string {
	out := map[string]string{}
	for _, e := range p.Errors {
		out[e.Field] = e.Message
	}
	return out
}

// countRows runs a count(*) query.
func (h *harness) countRows(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// createForm creates a form through the API and fails the test unless it is created.
func (h *harness) createForm(token, body string) apiForm {
	h.t.Helper()
	resp := h.do(request{Method: "POST", Path: "/api/v1/forms", Bearer: token, JSON: body})
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("create form: %d %s", resp.StatusCode, resp.body)
	}
	var f apiForm
	resp.json(h.t, &f)
	return f
}

// formWorkflow creates and activates, through the API, a workflow started by the form named formRef.
func (h *harness) formWorkflow(token, formRef string, activate bool) string {
	h.t.Helper()
	def := `{"nodes":[{"id":"form","type":"trigger.form","config":{"form_id":"` + formRef + `"}},
		{"id":"shape","type":"transform.data","config":{"jq":"{who: .data.name}"}}],"edges":[{"from":"form","to":"shape"}]}`
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: token, JSON: `{"name":"On feedback","definition":` + def + `}`})
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("create workflow: %d %s", resp.StatusCode, resp.body)
	}
	var wf struct {
		ID string `json:"id"`
	}
	resp.json(h.t, &wf)
	if activate {
		if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/activate", Bearer: token}); resp.StatusCode != 200 {
			h.t.Fatalf("activate: %d %s", resp.StatusCode, resp.body)
		}
	}
	return wf.ID
}

// fromAddress makes a request come from its own address (through the trusted proxy), for the per-address limits.
func fromAddress(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

func TestFormsAPIValidatesTheSchema(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	outsider := h.accessToken(w.users["outsider"], w.orgB.ID)

	// Every problem comes back at once, each named by its path.
	resp := h.do(request{Method: "POST", Path: "/api/v1/forms", Bearer: member, JSON: `{"name":"","slug":"Bad Slug",
		"fields":[{"name":"ok","label":"OK","type":"text"},
			{"name":"age","label":"Age","type":"number","min":10,"max":5},
			{"name":"code","label":"Code","type":"text","pattern":"([a-z"},
			{"name":"ok","label":"Again","type":"select"},
			{"name":"1st","label":"","type":"color","min_length":3}]}`})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
		t.Fatalf("invalid form: %d %s", resp.StatusCode, resp.body)
	}
	var problem problemDoc
	resp.json(t, &problem)
	got := problemFields(problem)
	for _, field := range []string{"name", "slug", "fields.1.max", "fields.2.pattern", "fields.3.name", "fields.3.options",
		"fields.4.name", "fields.4.label", "fields.4.type"} {
		if got[field] == "" {
			t.Errorf("no message for %s in %v", field, got)
		}
	}

	body := `{"name":"Contact","slug":"contact-%s","published":true,"fields":[
		{"name":"email","label":"E-mail","type":"email","required":true},
		{"name":"when","label":"When","type":"date","min":"2025-01-01"}]}`
	slug := strings.ToLower(w.orgA.ID.String()[:8])
	f := h.createForm(member, fmt.Sprintf(body, slug))
	if f.Slug != "contact-"+slug || !f.Published || len(f.Fields) != 2 || f.Fields[1].Min == nil || *f.Fields[1].Min != "2025-01-01" {
		t.Fatalf("created %+v", f)
	}
	if !strings.HasSuffix(f.URL, "/f/"+f.Slug) {
		t.Errorf("url %q", f.URL)
	}
	// Addresses are unique across the instance: the outsider cannot take it either.
	resp = h.do(request{Method: "POST", Path: "/api/v1/forms", Bearer: outsider, JSON: fmt.Sprintf(body, slug)})
	resp.json(t, &problem)
	if resp.StatusCode != http.StatusUnprocessableEntity || problemFields(problem)["slug"] == "" {
		t.Errorf("taken slug: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/forms/" + f.ID, Bearer: outsider}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outsider read: %d", resp.StatusCode)
	}
	if resp := h.do(request{Method: "PUT", Path: "/api/v1/forms/" + f.ID, Bearer: viewer, JSON: `{"name":"Mine"}`}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer update: %d", resp.StatusCode)
	}
	// A published form keeps at least one field; a PUT changes only what it carries.
	resp = h.do(request{Method: "PUT", Path: "/api/v1/forms/" + f.ID, Bearer: member, JSON: `{"fields":[]}`})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"field":"fields"`) {
		t.Errorf("emptying a published form: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.do(request{Method: "PUT", Path: "/api/v1/forms/" + f.ID, Bearer: member,
		JSON: `{"name":"Contact us","settings":{"redirect_url":"javascript:alert(1)"}}`})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, "settings.redirect_url") {
		t.Errorf("script redirect: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.do(request{Method: "PUT", Path: "/api/v1/forms/" + f.ID, Bearer: member, JSON: `{"name":"Contact us","settings":{"submission_limit":5}}`})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, `"name":"Contact us"`) || !strings.Contains(resp.body, `"submission_limit":5`) ||
		!strings.Contains(resp.body, `"type":"date"`) {
		t.Errorf("update: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/forms?q=contact", Bearer: viewer}); !strings.Contains(resp.body, f.ID) {
		t.Errorf("search: %s", resp.body)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/forms?q=contact", Bearer: outsider}); strings.Contains(resp.body, f.ID) {
		t.Errorf("the outsider's list shows organization A's form")
	}
	if h.auditCount("form.create") != 1 || h.auditCount("form.update") != 1 {
		t.Errorf("audit rows: create %d, update %d", h.auditCount("form.create"), h.auditCount("form.update"))
	}
}

// feedbackForm is a form exercising each kind of validation.
const feedbackForm = `{"name":"Feedback","slug":"%s","published":true,"settings":{"success_message":"Thanks, we read everything."},
	"fields":[
		{"name":"name","label":"Your name","type":"text","required":true,"min_length":2},
		{"name":"email","label":"E-mail","type":"email","required":true},
		{"name":"age","label":"Age","type":"number","min":18,"max":120},
		{"name":"topic","label":"Topic","type":"select","options":["Praise","Complaint"],"required":true},
		{"name":"channels","label":"Reach me by","type":"checkbox","options":["mail","phone"]},
		{"name":"agree","label":"I agree","type":"checkbox","required":true},
		{"name":"code","label":"Order code","type":"text","pattern":"[A-Z]{3}-[0-9]+"}]}`

func validFeedback() url.Values {
	return url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "age": {"36"}, "topic": {"Praise"},
		"channels": {"mail", "phone"}, "agree": {"yes"}, "code": {"ABC-42"}, httpx.HoneypotField: {""}}
}

func TestPublicFormSubmissionStoresAndStartsWorkflowsInOneTransaction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	slug := "feedback-" + strings.ToLower(w.orgA.ID.String()[:8])
	f := h.createForm(member, fmt.Sprintf(feedbackForm, slug))
	// Started: a workflow naming the form by id and one naming it by address. Not started: an inactive one, and
	// one of another organization naming the same form.
	byID := h.formWorkflow(member, f.ID, true)
	bySlug := h.formWorkflow(member, slug, true)
	h.formWorkflow(member, f.ID, false)
	h.formWorkflow(h.accessToken(w.users["outsider"], w.orgB.ID), f.ID, true)

	page := h.do(request{Method: "GET", Path: "/f/" + slug})
	if page.StatusCode != http.StatusOK {
		t.Fatalf("public page: %d", page.StatusCode)
	}
	doc := page.doc(t)
	if doc.Find(`form[action="/f/`+slug+`"] input[name="email"][type="email"]`).Length() != 1 ||
		doc.Find(`div[hidden] input[name="`+httpx.HoneypotField+`"]`).Length() != 1 ||
		doc.Find(`select[name="topic"] option`).Length() != 3 || doc.Find(`input[name="channels"]`).Length() != 2 ||
		doc.Find(`nav`).Length() != 0 {
		t.Errorf("public page misses fields, the honeypot, or shows the navigation:\n%s", page.body)
	}
	if v, _ := doc.Find(`#f-email-field`).Attr("hx-post"); v != "/f/"+slug+"/validate?field=email" {
		t.Errorf("inline validation of email posts to %q", v)
	}

	counts := func() (subs, execs, jobs int) {
		return h.countRows("SELECT count(*) FROM form_submissions"),
			h.countRows("SELECT count(*) FROM workflow_executions WHERE trigger_kind = 'form'"),
			h.countRows("SELECT count(*) FROM river_job WHERE kind = 'execute'")
	}

	// A missing required field and bad values: 422, the page again with a message per field and the values kept,
	// and nothing stored.
	bad := validFeedback()
	bad.Del("name")
	bad.Set("email", "ada-at-example")
	bad.Set("age", "12")
	bad.Set("code", "abc")
	bad.Del("agree")
	resp := h.do(request{Method: "POST", Path: "/f/" + slug, Form: bad, Header: fromAddress("203.0.113.1")})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad submission: %d %s", resp.StatusCode, resp.body)
	}
	doc = resp.doc(t)
	for field, want := range map[string]string{"name": "This field is required.", "email": "Enter an e-mail address",
		"age": "Enter 18 or more.", "code": "format", "agree": "Tick this box"} {
		if msg := doc.Find("#f-" + field + "-error").Text(); !strings.Contains(msg, want) {
			t.Errorf("message for %s = %q, want %q", field, msg, want)
		}
	}
	if v, _ := doc.Find(`input[name="email"]`).Attr("value"); v != "ada-at-example" {
		t.Errorf("the e-mail typed was not kept: %q", v)
	}
	if _, checked := doc.Find(`input[name="channels"][value="phone"]`).Attr("checked"); !checked {
		t.Errorf("the boxes ticked were not kept")
	}
	if s, e, j := counts(); s+e+j != 0 {
		t.Fatalf("a refused submission stored %d submissions, %d executions, %d jobs", s, e, j)
	}

	// A filled-in honeypot looks accepted and stores nothing.
	spam := validFeedback()
	spam.Set(httpx.HoneypotField, "http://spam.example")
	resp = h.do(request{Method: "POST", Path: "/f/" + slug, Form: spam, Header: fromAddress("203.0.113.2")})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "Thanks, we read everything.") {
		t.Errorf("honeypot: %d %s", resp.StatusCode, resp.body)
	}
	if s, e, j := counts(); s+e+j != 0 {
		t.Fatalf("the honeypot stored %d submissions, %d executions, %d jobs", s, e, j)
	}

	// A valid submission: stored, and both workflows started, in the one transaction that also counted it.
	resp = h.do(request{Method: "POST", Path: "/f/" + slug, Form: validFeedback(), Header: fromAddress("203.0.113.3")})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "Thanks, we read everything.") {
		t.Fatalf("valid submission: %d %s", resp.StatusCode, resp.body)
	}
	if s, e, j := counts(); s != 1 || e != 2 || j != 2 {
		t.Fatalf("stored %d submissions, %d executions, %d jobs; want 1, 2, 2", s, e, j)
	}
	ctx := context.Background()
	var subID, subXmin string
	var data map[string]any
	if err := h.pool.QueryRow(ctx, "SELECT id::text, xmin::text, data FROM form_submissions").Scan(&subID, &subXmin, &data); err != nil {
		t.Fatal(err)
	}
	if data["name"] != "Ada" || data["age"] != 36.0 || data["agree"] != true || fmt.Sprint(data["channels"]) != "[mail phone]" {
		t.Errorf("stored data %v", data)
	}
	rows, err := h.pool.Query(ctx, `SELECT e.workflow_id::text, e.xmin::text, e.trigger_data, j.xmin::text, l.xmin::text
		FROM workflow_executions e
		JOIN river_job j ON j.kind = 'execute' AND j.args->>'execution_id' = e.id::text
		JOIN form_submission_executions l ON l.execution_id = e.id AND l.submission_id::text = $1`, subID)
	if err != nil {
		t.Fatal(err)
	}
	started := map[string]bool{}
	for rows.Next() {
		var wfID, execXmin, jobXmin, linkXmin string
		var trigger struct {
			FormID       string         `json:"form_id"`
			SubmissionID string         `json:"submission_id"`
			Data         map[string]any `json:"data"`
			Files        []any          `json:"files"`
		}
		if err := rows.Scan(&wfID, &execXmin, &trigger, &jobXmin, &linkXmin); err != nil {
			t.Fatal(err)
		}
		started[wfID] = true
		if execXmin != subXmin || jobXmin != subXmin || linkXmin != subXmin {
			t.Errorf("submission, execution, job and link were written by different transactions: %s %s %s %s",
				subXmin, execXmin, jobXmin, linkXmin)
		}
		if trigger.FormID != f.ID || trigger.SubmissionID != subID || trigger.Data["email"] != "ada@example.com" || trigger.Files == nil {
			t.Errorf("trigger data %+v", trigger)
		}
	}
	if rows.Err() != nil || !started[byID] || !started[bySlug] {
		t.Errorf("started %v, want %s and %s (%v)", started, byID, bySlug, rows.Err())
	}

	// The submission through the API, with the executions it started.
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	resp = h.do(request{Method: "GET", Path: "/api/v1/forms/" + f.ID + "/submissions/" + subID, Bearer: viewer})
	var detail struct {
		Data       map[string]any `json:"data"`
		Executions []struct {
			WorkflowID string `json:"workflow_id"`
			Status     string `json:"status"`
		} `json:"executions"`
	}
	resp.json(t, &detail)
	if resp.StatusCode != http.StatusOK || len(detail.Executions) != 2 || detail.Executions[0].Status != "queued" {
		t.Errorf("submission detail: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.do(request{Method: "GET", Path: "/api/v1/forms/" + f.ID + "/submissions?q=Ada&from=2000-01-01", Bearer: viewer})
	if !strings.Contains(resp.body, subID) {
		t.Errorf("search submissions: %s", resp.body)
	}
	resp = h.do(request{Method: "GET", Path: "/api/v1/forms/" + f.ID + "/submissions?q=Grace", Bearer: viewer})
	if strings.Contains(resp.body, subID) {
		t.Errorf("a search for another name found the submission")
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/forms/" + f.ID + "/submissions?to=1999-12-31", Bearer: viewer}); strings.Contains(resp.body, subID) {
		t.Errorf("a date window before the submission found it")
	}
}

func TestPublicFormInlineValidationClosingAndRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	slug := "feedback-" + strings.ToLower(w.orgA.ID.String()[:8])
	f := h.createForm(member, fmt.Sprintf(feedbackForm, slug))

	// Inline validation answers the field's fragment alone, with its message.
	resp := h.do(request{Method: "POST", Path: "/f/" + slug + "/validate?field=email", Form: url.Values{"email": {"nope"}},
		Header: http.Header{"HX-Request": {"true"}}})
	if resp.StatusCode != http.StatusOK || strings.Contains(resp.body, "<html") || !strings.Contains(resp.body, `id="f-email-field"`) ||
		!strings.Contains(resp.body, "Enter an e-mail address") || !strings.Contains(resp.body, `value="nope"`) {
		t.Errorf("inline validation: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.do(request{Method: "POST", Path: "/f/" + slug + "/validate?field=email", Form: url.Values{"email": {"ada@example.com"}}})
	if strings.Contains(resp.body, "field-error") {
		t.Errorf("a good value gets a message: %s", resp.body)
	}
	if resp := h.do(request{Method: "POST", Path: "/f/" + slug + "/validate?field=nosuch", Form: url.Values{}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown field: %d", resp.StatusCode)
	}

	// One address may only submit so often.
	var last response
	for i := 0; i <= public.FormSubmitsPerMinute; i++ {
		last = h.do(request{Method: "POST", Path: "/f/" + slug, Form: url.Values{}, Header: fromAddress("198.18.0.7")})
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("submission %d from one address: %d", public.FormSubmitsPerMinute+1, last.StatusCode)
	}

	// A redirect setting sends people on after submitting; the page's CSP lets the form's navigation go there.
	if resp := h.do(request{Method: "PUT", Path: "/api/v1/forms/" + f.ID, Bearer: member,
		JSON: `{"settings":{"redirect_url":"https://thanks.example.com/done?from=form"}}`}); resp.StatusCode != 200 {
		t.Fatalf("set redirect: %d %s", resp.StatusCode, resp.body)
	}
	if csp := h.do(request{Method: "GET", Path: "/f/" + slug}).Header.Get("Content-Security-Policy"); !strings.Contains(csp,
		"form-action 'self' https://thanks.example.com") || strings.Contains(csp, "/done") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("public page CSP %q", csp)
	}
	resp = h.do(request{Method: "POST", Path: "/f/" + slug, Form: validFeedback(), Header: fromAddress("198.18.0.6")})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://thanks.example.com/done?from=form" {
		t.Errorf("redirect after submitting: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// At its limit the form is closed (410); unpublished, it is not there (404).
	if resp := h.do(request{Method: "PUT", Path: "/api/v1/forms/" + f.ID, Bearer: member, JSON: `{"settings":{"submission_limit":2}}`}); resp.StatusCode != 200 {
		t.Fatalf("set limit: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "POST", Path: "/f/" + slug, Form: validFeedback(), Header: fromAddress("198.18.0.8")}); resp.StatusCode != http.StatusOK {
		t.Fatalf("last place: %d %s", resp.StatusCode, resp.body)
	}
	for _, method := range []string{"GET", "POST"} {
		resp := h.do(request{Method: method, Path: "/f/" + slug, Form: validFeedback(), Header: fromAddress("198.18.0.9")})
		if resp.StatusCode != http.StatusGone || !strings.Contains(resp.body, "This form is closed.") {
			t.Errorf("%s a full form: %d %s", method, resp.StatusCode, resp.body)
		}
	}
	if n := h.countRows("SELECT count(*) FROM form_submissions"); n != 2 {
		t.Errorf("%d submissions stored with a limit of 2", n)
	}
	if resp := h.do(request{Method: "PUT", Path: "/api/v1/forms/" + f.ID, Bearer: member, JSON: `{"published":false}`}); resp.StatusCode != 200 {
		t.Fatalf("unpublish: %d", resp.StatusCode)
	}
	if resp := h.do(request{Method: "GET", Path: "/f/" + slug}); resp.StatusCode != http.StatusNotFound || strings.Contains(resp.body, "Feedback") {
		t.Errorf("unpublished form: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "GET", Path: "/f/no-such-form"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown form: %d", resp.StatusCode)
	}
}

func TestFormBuilderPagesWorkWithoutJavaScript(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member := h.sessionCookie(w.users["member"], w.orgA.ID)
	viewer := h.sessionCookie(w.users["viewer"], w.orgA.ID)
	token := h.accessToken(w.users["member"], w.orgA.ID)

	resp := h.do(request{Method: "POST", Path: "/forms", Cookie: member, Form: url.Values{"name": {"Sign-up sheet"}}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/forms/") {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.body)
	}
	editor := resp.Header.Get("Location")
	id := strings.TrimPrefix(editor, "/forms/")
	getForm := func() apiForm {
		var f apiForm
		h.do(request{Method: "GET", Path: "/api/v1/forms/" + id, Bearer: token}).json(t, &f)
		return f
	}
	slug := getForm().Slug
	if !strings.HasPrefix(slug, "sign-up-sheet-") {
		t.Errorf("slug made from the name: %q", slug)
	}

	// The builder posts itself whole; its buttons add and move fields.
	post := func(op string, extra url.Values) response {
		f := getForm()
		v := url.Values{"name": {"Sign-up sheet"}, "slug": {f.Slug}, "op": {op}, "new_type": {"radio"}}
		for i, fd := range f.Fields {
			n := fmt.Sprint(i)
			v.Add("order", n)
			v.Set("fields."+n+".name", fd.Name)
			v.Set("fields."+n+".label", fd.Label)
			v.Set("fields."+n+".type", fd.Type)
			v.Set("fields."+n+".options", strings.Join(fd.Options, "\n"))
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return h.do(request{Method: "POST", Path: editor, Cookie: member, Form: v})
	}
	if resp := post("add", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d %s", resp.StatusCode, resp.body)
	}
	resp = post("add", url.Values{"new_type": {"email"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "#field-1") {
		t.Fatalf("add: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if f := getForm(); len(f.Fields) != 2 || f.Fields[0].Type != "radio" || len(f.Fields[0].Options) != 2 || f.Fields[1].Type != "email" {
		t.Fatalf("fields after adding %+v", f.Fields)
	}
	if resp := post("up.1", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("move up: %d", resp.StatusCode)
	}
	if f := getForm(); f.Fields[0].Type != "email" || f.Fields[1].Type != "radio" {
		t.Fatalf("fields after moving %+v", f.Fields)
	}
	// A drag and drop reorders the hidden order inputs: the server takes the order they come in.
	f := getForm()
	v := url.Values{"name": {"Sign-up sheet"}, "slug": {f.Slug}, "op": {"save"}, "order": {"1", "0"}}
	for i, fd := range f.Fields {
		n := fmt.Sprint(i)
		v.Set("fields."+n+".name", fd.Name)
		v.Set("fields."+n+".label", fd.Label)
		v.Set("fields."+n+".type", fd.Type)
		v.Set("fields."+n+".options", strings.Join(fd.Options, "\n"))
	}
	if resp := h.do(request{Method: "POST", Path: editor, Cookie: member, Form: v}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save dragged order: %d %s", resp.StatusCode, resp.body)
	}
	if f := getForm(); f.Fields[0].Type != "radio" {
		t.Fatalf("fields after dragging %+v", f.Fields)
	}

	// A bad property comes back beside its input, as typed, and nothing is saved.
	resp = post("save", url.Values{"fields.1.pattern": {"([a-z"}, "fields.1.min_length": {"two"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad save: %d", resp.StatusCode)
	}
	doc := resp.doc(t)
	if msg := doc.Find("#fe-1-pattern-error").Text(); !strings.Contains(msg, "regular expression") {
		t.Errorf("pattern message %q", msg)
	}
	if msg := doc.Find("#fe-1-min_length-error").Text(); !strings.Contains(msg, "whole number") {
		t.Errorf("min length message %q", msg)
	}
	if v, _ := doc.Find("#fe-1-pattern").Attr("value"); v != "([a-z" {
		t.Errorf("the pattern typed was not kept: %q", v)
	}
	// Fields are collapsed, one accordion: only the field with the problem is open.
	if open := doc.Find(`details[name="form-field-settings"][open]`); open.Length() != 1 || open.Closest(".field-editor").AttrOr("id", "") != "field-1" ||
		doc.Find(`details[name="form-field-settings"]`).Length() < 2 {
		t.Errorf("open field settings: %d, in %q", open.Length(), open.Closest(".field-editor").AttrOr("id", ""))
	}
	if getForm().Fields[1].Pattern != "" {
		t.Errorf("a bad schema was saved")
	}

	// The live preview is the public form, drawn from the unsaved builder.
	if resp := post("save", url.Values{"fields.0.label": {"Pick a slot"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("relabel: %d %s", resp.StatusCode, resp.body)
	}
	preview := h.do(request{Method: "POST", Path: editor + "/preview", Cookie: member, Header: http.Header{"HX-Request": {"true"}},
		Form: url.Values{"name": {"Preview name"}, "order": {"0"}, "fields.0.name": {"slot"}, "fields.0.label": {"Which slot?"},
			"fields.0.type": {"select"}, "fields.0.options": {"Morning\nEvening"}}})
	if preview.StatusCode != http.StatusOK || strings.Contains(preview.body, "<html") || !strings.Contains(preview.body, "Which slot?") ||
		!strings.Contains(preview.body, "Evening") || !strings.Contains(preview.body, "Preview name") {
		t.Errorf("preview: %d %s", preview.StatusCode, preview.body)
	}

	// Viewers read the builder but cannot change anything.
	resp = h.do(request{Method: "GET", Path: editor, Cookie: viewer})
	if resp.StatusCode != http.StatusOK || resp.doc(t).Find("fieldset.plain[disabled]").Length() != 1 {
		t.Errorf("viewer's builder: %d", resp.StatusCode)
	}

	// Publishing opens the public page; the list shows it live.
	if resp := h.do(request{Method: "POST", Path: editor + "/publish", Cookie: member, Form: url.Values{}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "GET", Path: "/f/" + slug}); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "Pick a slot") {
		t.Errorf("published page: %d", resp.StatusCode)
	}
	list := h.do(request{Method: "GET", Path: "/forms?q=sign-up", Cookie: viewer})
	if !strings.Contains(list.body, "Sign-up sheet") || list.doc(t).Find(".badge.live").Length() != 1 {
		t.Errorf("list: %s", list.body)
	}
	if resp := h.do(request{Method: "POST", Path: "/forms", Cookie: viewer, Form: url.Values{"name": {"Nope"}}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer creates: %d", resp.StatusCode)
	}

	// Submissions: the list, its CSV (formulas defused), the detail, and deleting.
	form := getForm()
	sub := url.Values{form.Fields[0].Name: {"Second option"}, form.Fields[1].Name: {"=HYPERLINK(\"http://evil.example\")"}}
	form.Fields[1].Type = "text"
	if resp := h.do(request{Method: "PUT", Path: "/api/v1/forms/" + id, Bearer: token, JSON: formJSONText(t, map[string]any{"fields": form.Fields})}); resp.StatusCode != 200 {
		t.Fatalf("make the second field text: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "POST", Path: "/f/" + slug, Form: sub, Header: fromAddress("192.0.2.10")}); resp.StatusCode != http.StatusOK {
		t.Fatalf("submit: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.do(request{Method: "GET", Path: editor + "/submissions?q=second", Cookie: viewer})
	rowLink := resp.doc(t).Find("table.submissions tbody tr a")
	href, _ := rowLink.Attr("href")
	if resp.StatusCode != http.StatusOK || href == "" || !strings.Contains(resp.body, "Second option") {
		t.Fatalf("submissions page: %d %s", resp.StatusCode, resp.body)
	}
	csvResp := h.do(request{Method: "GET", Path: editor + "/submissions.csv", Cookie: viewer})
	if csvResp.StatusCode != http.StatusOK || !strings.HasPrefix(csvResp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(csvResp.body, `'=HYPERLINK`) || !strings.Contains(csvResp.body, "submission_id,submitted_at,"+form.Fields[0].Name) {
		t.Errorf("csv: %d %s", csvResp.StatusCode, csvResp.body)
	}
	if h.auditCount("form.submissions.export") != 1 {
		t.Errorf("the export is not audited")
	}
	detail := h.do(request{Method: "GET", Path: href, Cookie: viewer})
	if detail.StatusCode != http.StatusOK || !strings.Contains(detail.body, "Second option") || !strings.Contains(detail.body, "no active workflow") ||
		strings.Contains(detail.body, "Delete this submission") {
		t.Errorf("detail as viewer: %d %s", detail.StatusCode, detail.body)
	}
	if resp := h.do(request{Method: "POST", Path: href + "/delete", Cookie: viewer, Form: url.Values{}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer deletes: %d", resp.StatusCode)
	}
	if resp := h.do(request{Method: "POST", Path: href + "/delete", Cookie: member, Form: url.Values{}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if n := h.countRows("SELECT submission_count FROM forms WHERE id = $1", id); n != 0 || h.countRows("SELECT count(*) FROM form_submissions") != 0 {
		t.Errorf("after delete: count %d", n)
	}

	// Deleting the form takes its page down.
	if resp := h.do(request{Method: "POST", Path: editor + "/delete", Cookie: member, Form: url.Values{}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete form: %d", resp.StatusCode)
	}
	if resp := h.do(request{Method: "GET", Path: "/f/" + slug}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted form's page: %d", resp.StatusCode)
	}
}

func formJSONText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
