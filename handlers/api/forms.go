package api

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// formJSON is a form as the API shows it. Fields and settings are the stored schema itself, so what a client
// reads it can send back.
type formJSON struct {
	ID              uuid.UUID          `json:"id"`
	Name            string             `json:"name"`
	Slug            string             `json:"slug"`
	Description     string             `json:"description"`
	URL             string             `json:"url"`
	Fields          []store.FormField  `json:"fields"`
	Settings        store.FormSettings `json:"settings"`
	Published       bool               `json:"published"`
	Closed          bool               `json:"closed"`
	SubmissionCount int                `json:"submission_count"`
	CreatedBy       *uuid.UUID         `json:"created_by"`
	CreatedAt       time.Time          `json:"created_at"`
	UpdatedAt       time.Time          `json:"updated_at"`
}

func (s *Handlers) formOut(f store.Form) formJSON {
	fields := f.Fields
	if fields == nil {
		fields = []store.FormField{}
	}
	return formJSON{ID: f.ID, Name: f.Name, Slug: f.Slug, Description: f.Description, URL: s.PublicFormURL(f.Slug),
		Fields: fields, Settings: f.Settings, Published: f.Published, Closed: f.Closed(time.Now()),
		SubmissionCount: f.SubmissionCount, CreatedBy: f.CreatedBy, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}
}

// formInputJSON is the body of POST /forms and PUT /forms/{id}: {name, slug, description?, fields: [{name, label,
// type, required, options?, min?, max?, min_length?, max_length?, pattern?, accept?, max_bytes?, help?}],
// settings?: {success_message, redirect_url, close_at, submission_limit}, published?}. A PUT changes what it
// carries and keeps the rest.
type formInputJSON struct {
	Name        *string             `json:"name"`
	Slug        *string             `json:"slug"`
	Description *string             `json:"description"`
	Fields      *[]store.FormField  `json:"fields"`
	Settings    *store.FormSettings `json:"settings"`
	Published   *bool               `json:"published"`
}

// merge applies the body to base: what it carries replaces what base has.
func (in formInputJSON) merge(base store.FormInput) store.FormInput {
	if in.Name != nil {
		base.Name = *in.Name
	}
	if in.Slug != nil {
		base.Slug = *in.Slug
	}
	if in.Description != nil {
		base.Description = *in.Description
	}
	if in.Fields != nil {
		base.Fields = *in.Fields
	}
	if in.Settings != nil {
		base.Settings = *in.Settings
	}
	if in.Published != nil {
		base.Published = *in.Published
	}
	return base
}

// apiFormList is GET /api/v1/forms?q=&published=&cursor=&limit=.
func (s *Handlers) apiFormList(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.FormsView, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err) // before reading the filters, as every API route
		return
	}
	q := r.URL.Query()
	f := store.FormFilter{Query: strings.TrimSpace(q.Get("q"))}
	var fields []fault.FieldError
	var err error
	if f.Limit, err = httpx.QueryLimit(q.Get("limit")); err != nil {
		fields = append(fields, fault.As(err).Fields...)
	}
	switch q.Get("published") {
	case "":
	case "true", "false":
		published := q.Get("published") == "true"
		f.Published = &published
	default:
		fields = append(fields, fault.FieldError{Field: "published", Message: "must be true or false"})
	}
	if c := q.Get("cursor"); c != "" {
		at, id, cerr := httpx.DecodePageCursor(c)
		if cerr != nil {
			fields = append(fields, httpx.ErrBadCursor.Fields...)
		}
		f.Before = &store.Form{CreatedAt: at, ID: id}
	}
	if len(fields) > 0 {
		s.Problem(w, r, fault.Fields("bad filters", fields...))
		return
	}
	forms, err := s.deps.App.Forms.List(r.Context(), s.Caller(r), f)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := make([]formJSON, len(forms))
	for i, form := range forms {
		out[i] = s.formOut(form)
	}
	next := ""
	if f.Query == "" && len(forms) > 0 && len(forms) == httpx.ClampedLimit(f.Limit) { // a search is one page
		last := forms[len(forms)-1]
		next = httpx.EncodePageCursor(last.CreatedAt, last.ID)
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"items": out, "next_cursor": next})
}

// apiFormCreate is POST /api/v1/forms (app.Forms.Create). An invalid schema gets 422 naming every bad field by its
// path ("fields.2.pattern").
func (s *Handlers) apiFormCreate(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.FormsCreate, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err) // before reading the body
		return
	}
	var body formInputJSON
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		s.Problem(w, r, err)
		return
	}
	form, err := s.deps.App.Forms.Create(r.Context(), s.Caller(r), body.merge(app.NewFormInput()))
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/forms/"+form.ID.String())
	httpx.Respond(w, http.StatusCreated, s.formOut(form))
}

// pathForm loads the form of the {id} path segment for a, answering the problem itself when it may not.
func (s *Handlers) pathForm(w http.ResponseWriter, r *http.Request, a authz.Action) (store.Form, bool) {
	form, err := s.PathForm(r, a)
	if err != nil {
		s.Problem(w, r, err)
		return store.Form{}, false
	}
	return form, true
}

// apiFormGet is GET /api/v1/forms/{id}.
func (s *Handlers) apiFormGet(w http.ResponseWriter, r *http.Request) {
	if form, ok := s.pathForm(w, r, authz.FormsView); ok {
		httpx.Respond(w, http.StatusOK, s.formOut(form))
	}
}

// apiFormUpdate is PUT /api/v1/forms/{id} (app.Forms.Update): what the body carries over the form as it is.
func (s *Handlers) apiFormUpdate(w http.ResponseWriter, r *http.Request) {
	form, ok := s.pathForm(w, r, authz.FormsManage)
	if !ok {
		return
	}
	var body formInputJSON
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		s.Problem(w, r, err)
		return
	}
	in := body.merge(store.FormInput{Name: form.Name, Slug: form.Slug, Description: form.Description,
		Fields: form.Fields, Settings: form.Settings, Published: form.Published})
	saved, err := s.deps.App.Forms.Update(r.Context(), s.Caller(r), form.ID, in)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, s.formOut(saved))
}

// apiFormDelete is DELETE /api/v1/forms/{id}: the form, its submissions and their files (app.Forms.Delete).
func (s *Handlers) apiFormDelete(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		err = s.deps.App.Forms.Delete(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// submissionJSON is a submission as the API shows it; Executions and Files only on the detail.
type submissionJSON struct {
	ID         uuid.UUID                 `json:"id"`
	FormID     uuid.UUID                 `json:"form_id"`
	Data       json.RawMessage           `json:"data"`
	RemoteIP   string                    `json:"remote_ip,omitempty"`
	UserAgent  string                    `json:"user_agent,omitempty"`
	CreatedAt  time.Time                 `json:"created_at"`
	Executions []submissionExecutionJSON `json:"executions,omitzero"`
	Files      []submissionFileJSON      `json:"files,omitzero"`
}

type submissionExecutionJSON struct {
	ID           uuid.UUID  `json:"id"`
	WorkflowID   uuid.UUID  `json:"workflow_id"`
	WorkflowName string     `json:"workflow_name"`
	Version      int32      `json:"version"`
	Status       string     `json:"status"`
	Error        string     `json:"error,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
}

type submissionFileJSON struct {
	ID          uuid.UUID `json:"id"`
	Field       string    `json:"field"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
}

func submissionOut(sub store.FormSubmission) submissionJSON {
	out := submissionJSON{ID: sub.ID, FormID: sub.FormID, Data: sub.Data, UserAgent: sub.UserAgent, CreatedAt: sub.CreatedAt}
	if sub.RemoteIP != nil {
		out.RemoteIP = sub.RemoteIP.String()
	}
	return out
}

// apiSubmissionList is GET /api/v1/forms/{id}/submissions?q=&from=&to=&cursor=&limit= (app.Forms.Submissions).
func (s *Handlers) apiSubmissionList(w http.ResponseWriter, r *http.Request) {
	form, ok := s.pathForm(w, r, authz.FormsView)
	if !ok {
		return
	}
	filter, err := httpx.SubmissionFilter(r.URL.Query())
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	subs, err := s.deps.App.Forms.Submissions(r.Context(), s.Caller(r), form.ID, filter)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := make([]submissionJSON, len(subs))
	for i, sub := range subs {
		out[i] = submissionOut(sub)
	}
	next := ""
	if len(subs) > 0 && len(subs) == httpx.ClampedLimit(filter.Limit) {
		last := subs[len(subs)-1]
		next = httpx.EncodePageCursor(last.CreatedAt, last.ID)
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"items": out, "next_cursor": next})
}

// apiSubmissionGet is GET /api/v1/forms/{id}/submissions/{sid}: with its files and the executions it started
// (app.Forms.Submission).
func (s *Handlers) apiSubmissionGet(w http.ResponseWriter, r *http.Request) {
	d, err := s.PathSubmission(r)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := submissionOut(d.Submission)
	out.Executions = make([]submissionExecutionJSON, len(d.Executions))
	for i, e := range d.Executions {
		out.Executions[i] = submissionExecutionJSON{ID: e.ID, WorkflowID: e.WorkflowID, WorkflowName: e.WorkflowName,
			Version: e.Version, Status: e.Status, Error: e.Error, CreatedAt: e.CreatedAt, FinishedAt: e.FinishedAt}
	}
	byUpload := httpx.FileFields(httpx.SubmissionData(d.Submission.Data))
	out.Files = make([]submissionFileJSON, len(d.Files))
	for i, f := range d.Files {
		out.Files[i] = submissionFileJSON{ID: f.ID, Field: byUpload[f.ID.String()], Filename: f.Filename,
			ContentType: f.ContentType, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256)}
	}
	httpx.Respond(w, http.StatusOK, out)
}

// apiSubmissionDelete is DELETE /api/v1/forms/{id}/submissions/{sid} (app.Forms.DeleteSubmission).
func (s *Handlers) apiSubmissionDelete(w http.ResponseWriter, r *http.Request) {
	formID, id, err := httpx.SubmissionPath(r)
	if err == nil {
		err = s.deps.App.Forms.DeleteSubmission(r.Context(), s.Caller(r), formID, id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
