package pages

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// formsPage is GET /forms?q=&cursor=: the organization's forms, newest first.
func (s *Handlers) formsPage(w http.ResponseWriter, r *http.Request) {
	s.renderFormsList(w, r, http.StatusOK, views.Form{Values: map[string]string{}, Errors: map[string]string{}})
}

func (s *Handlers) renderFormsList(w http.ResponseWriter, r *http.Request, status int, create views.Form) {
	p := httpx.PrincipalFrom(r.Context())
	if err := authz.Authorize(p, authz.FormsView, authz.Org(p.OrgID)); err != nil {
		s.PageError(w, r, err) // before reading the cursor
		return
	}
	q := r.URL.Query()
	f := store.FormFilter{Query: strings.TrimSpace(q.Get("q")), Limit: httpx.DefaultPageSize}
	if c := q.Get("cursor"); c != "" {
		at, id, err := httpx.DecodePageCursor(c)
		if err != nil {
			s.PageError(w, r, err)
			return
		}
		f.Before = &store.Form{CreatedAt: at, ID: id}
	}
	forms, err := s.deps.App.Forms.List(r.Context(), s.Caller(r), f)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.FormsListPage{Query: f.Query, Create: create,
		CanCreate: authz.Authorize(p, authz.FormsCreate, authz.Org(p.OrgID)) == nil}
	now := time.Now()
	for _, form := range forms {
		page.Forms = append(page.Forms, views.FormRow{ID: form.ID.String(), Name: form.Name, Slug: form.Slug,
			PublicURL: s.PublicFormURL(form.Slug), Published: form.Published, Closed: form.Closed(now),
			Submissions: form.SubmissionCount, UpdatedAt: form.UpdatedAt})
	}
	if len(forms) == httpx.DefaultPageSize && f.Query == "" { // a search is one ranked page
		last := forms[len(forms)-1]
		page.NextURL = "/forms?" + url.Values{"q": {f.Query}, "cursor": {httpx.EncodePageCursor(last.CreatedAt, last.ID)}}.Encode()
	}
	s.Render(w, r, status, "Forms", views.FormsList(page))
}

// formCreate is POST /forms {name, slug}: an empty draft (app.Forms.Create), opened in the builder.
func (s *Handlers) formCreate(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.FormsCreate, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err) // before reading the body
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	in := app.NewFormInput()
	in.Name, in.Slug = r.PostForm.Get("name"), r.PostForm.Get("slug")
	form, err := s.deps.App.Forms.Create(r.Context(), s.Caller(r), in)
	if err != nil {
		values := map[string]string{"name": strings.TrimSpace(in.Name), "slug": in.Slug}
		s.renderFormsList(w, r, s.FormStatus(w, r, err), httpx.FormState(values, err))
		return
	}
	s.Redirect(w, r, "/forms/"+form.ID.String())
}

// formEditorPage is GET /forms/{id}: the builder for those who manage the form, the same page read-only for
// everyone else in the organization.
func (s *Handlers) formEditorPage(w http.ResponseWriter, r *http.Request) {
	form, err := s.PathForm(r, authz.FormsView)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := s.editorPage(r, form, editorFromForm(form), nil)
	switch {
	case r.URL.Query().Has("saved"):
		page.Notice = "Saved."
	case r.URL.Query().Has("published"):
		page.Notice = "Published: the form is live at its address."
	}
	s.Render(w, r, http.StatusOK, form.Name, views.FormEditor(page))
}

// editorFields are the builder's fields as typed: raw strings per property, in the order shown.
type editorFields []map[string]string

// editorState is a posted builder: the settings as typed and the fields in their new order.
type editorState struct {
	settings map[string]string
	fields   editorFields
}

// settingKeys are the builder's settings inputs.
var settingKeys = []string{"name", "slug", "description", "success_message", "redirect_url", "close_at", "submission_limit"}

// fieldProps are the builder's inputs of one field.
var fieldProps = []string{"name", "label", "type", "help", "required", "options", "min", "max", "min_length",
	"max_length", "pattern", "accept", "max_mb"}

// editorFromForm is the builder's state of a stored form.
func editorFromForm(f store.Form) editorState {
	st := editorState{settings: map[string]string{"name": f.Name, "slug": f.Slug, "description": f.Description,
		"success_message": f.Settings.SuccessMessage, "redirect_url": f.Settings.RedirectURL}}
	if f.Settings.CloseAt != nil {
		st.settings["close_at"] = f.Settings.CloseAt.UTC().Format(closeAtLayout)
	}
	if f.Settings.SubmissionLimit != nil {
		st.settings["submission_limit"] = strconv.Itoa(*f.Settings.SubmissionLimit)
	}
	for _, fd := range f.Fields {
		raw := map[string]string{"name": fd.Name, "label": fd.Label, "type": fd.Type, "help": fd.Help,
			"options": strings.Join(fd.Options, "\n"), "pattern": fd.Pattern, "accept": strings.Join(fd.Accept, ", ")}
		if fd.Required {
			raw["required"] = "on"
		}
		if fd.Min != nil {
			raw["min"] = string(*fd.Min)
		}
		if fd.Max != nil {
			raw["max"] = string(*fd.Max)
		}
		if fd.MinLength != nil {
			raw["min_length"] = strconv.Itoa(*fd.MinLength)
		}
		if fd.MaxLength != nil {
			raw["max_length"] = strconv.Itoa(*fd.MaxLength)
		}
		if fd.MaxBytes > 0 {
			raw["max_mb"] = strconv.FormatFloat(float64(fd.MaxBytes)/(1<<20), 'f', -1, 64)
		}
		st.fields = append(st.fields, raw)
	}
	return st
}

// closeAtLayout is what <input type="datetime-local"> sends; the builder reads and shows close times in UTC.
const closeAtLayout = "2006-01-02T15:04"

// maxEditorBytes bounds a builder post: a hundred fields with their options fit easily.
const maxEditorBytes = 1 << 20

// readEditor parses a builder post: the settings, and the fields in the order their hidden order inputs come in.
func readEditor(w http.ResponseWriter, r *http.Request) (editorState, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEditorBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return editorState{}, fault.New(fault.TooLarge, "the form is too large")
		}
		return editorState{}, fault.Wrap(err, fault.Invalid, "the form could not be read")
	}
	st := editorState{settings: map[string]string{}}
	for _, k := range settingKeys {
		st.settings[k] = r.PostForm.Get(k)
	}
	seen := map[string]bool{}
	for _, idx := range r.PostForm["order"] {
		if _, err := strconv.Atoi(idx); err != nil || seen[idx] || len(st.fields) >= app.MaxFormFields+1 {
			continue
		}
		seen[idx] = true
		raw := map[string]string{}
		for _, prop := range fieldProps {
			raw[prop] = r.PostForm.Get("fields." + idx + "." + prop)
		}
		st.fields = append(st.fields, raw)
	}
	return st, nil
}

// apply carries out a builder button: add a field, move one up or down, remove one. It reports the position of the
// field it touched, -1 for none.
func (st *editorState) apply(op, newType string) int {
	verb, arg, _ := strings.Cut(op, ".")
	i, err := strconv.Atoi(arg)
	valid := err == nil && i >= 0 && i < len(st.fields)
	switch {
	case verb == "add":
		if !slices.Contains(store.FormFieldTypes, newType) {
			newType = store.FieldText
		}
		n := len(st.fields) + 1
		name := fmt.Sprintf("field_%d", n)
		for st.hasField(name) {
			n++
			name = fmt.Sprintf("field_%d", n)
		}
		raw := map[string]string{"name": name, "label": "New " + newType + " field", "type": newType}
		if newType == store.FieldSelect || newType == store.FieldRadio {
			raw["options"] = "First option\nSecond option"
		}
		st.fields = append(st.fields, raw)
		return len(st.fields) - 1
	case verb == "up" && valid && i > 0:
		st.fields[i-1], st.fields[i] = st.fields[i], st.fields[i-1]
		return i - 1
	case verb == "down" && valid && i < len(st.fields)-1:
		st.fields[i+1], st.fields[i] = st.fields[i], st.fields[i+1]
		return i + 1
	case verb == "remove" && valid:
		st.fields = slices.Delete(st.fields, i, i+1)
		return max(i-1, -1)
	}
	return -1
}

func (st *editorState) hasField(name string) bool {
	for _, f := range st.fields {
		if strings.EqualFold(f["name"], name) {
			return true
		}
	}
	return false
}

// input turns the builder's raw strings into a form, with a message per property that does not even parse (a
// letter in a number); app.CheckForm then checks the rest.
func (st editorState) input(published bool) (store.FormInput, []fault.FieldError) {
	var errs []fault.FieldError
	in := store.FormInput{Name: st.settings["name"], Slug: strings.TrimSpace(st.settings["slug"]),
		Description: st.settings["description"], Published: published,
		Settings: store.FormSettings{SuccessMessage: st.settings["success_message"], RedirectURL: st.settings["redirect_url"]}}
	if v := strings.TrimSpace(st.settings["close_at"]); v != "" {
		t, err := time.Parse(closeAtLayout, v)
		if err != nil {
			errs = append(errs, fault.FieldError{Field: "settings.close_at", Message: "must be a date and time"})
		} else {
			in.Settings.CloseAt = &t
		}
	}
	if v := strings.TrimSpace(st.settings["submission_limit"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fault.FieldError{Field: "settings.submission_limit", Message: "must be a whole number"})
		} else {
			in.Settings.SubmissionLimit = &n
		}
	}
	for i, raw := range st.fields {
		f := store.FormField{Name: raw["name"], Label: raw["label"], Type: raw["type"], Help: raw["help"],
			Required: raw["required"] != "", Pattern: raw["pattern"]}
		for _, line := range strings.Split(raw["options"], "\n") {
			if line = strings.TrimSpace(line); line != "" {
				f.Options = append(f.Options, line)
			}
		}
		for _, a := range strings.FieldsFunc(raw["accept"], func(c rune) bool { return c == ',' || c == ' ' }) {
			f.Accept = append(f.Accept, a)
		}
		bound := func(prop string) *store.FormBound {
			if v := strings.TrimSpace(raw[prop]); v != "" {
				b := store.FormBound(v)
				return &b
			}
			return nil
		}
		f.Min, f.Max = bound("min"), bound("max")
		whole := func(prop string) *int {
			v := strings.TrimSpace(raw[prop])
			if v == "" {
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fault.FieldError{Field: fmt.Sprintf("fields.%d.%s", i, prop), Message: "must be a whole number"})
				return nil
			}
			return &n
		}
		f.MinLength, f.MaxLength = whole("min_length"), whole("max_length")
		if v := strings.TrimSpace(raw["max_mb"]); v != "" {
			mb, err := strconv.ParseFloat(v, 64)
			if err != nil || mb <= 0 || mb > app.MaxFileFieldBytes/(1<<20) {
				errs = append(errs, fault.FieldError{Field: fmt.Sprintf("fields.%d.max_mb", i),
					Message: fmt.Sprintf("must be a size in MB from 0.001 to %d", app.MaxFileFieldBytes/(1<<20))})
			} else {
				f.MaxBytes = max(1, int64(mb*(1<<20)))
			}
		}
		in.Fields = append(in.Fields, f)
	}
	return in, errs
}

// editorPage builds the builder's view model from its state and the messages of a failed save.
func (s *Handlers) editorPage(r *http.Request, form store.Form, st editorState, err error) views.FormEditorPage {
	p := httpx.PrincipalFrom(r.Context())
	page := views.FormEditorPage{ID: form.ID.String(), PublicURL: s.PublicFormURL(form.Slug),
		Published: form.Published, Closed: form.Closed(time.Now()), FieldTypes: store.FormFieldTypes,
		CanManage:   authz.Authorize(p, authz.FormsManage, app.FormResource(form)) == nil,
		Submissions: form.SubmissionCount,
		Settings:    views.Form{Values: st.settings, Errors: map[string]string{}}}
	for i, raw := range st.fields {
		page.Fields = append(page.Fields, views.FieldEditor{Index: i, Values: raw, Errors: map[string]string{},
			Last: i == len(st.fields)-1})
	}
	if err != nil {
		e := fault.As(err)
		for _, fe := range e.Fields {
			msg := httpx.Capitalize(fe.Message)
			path := strings.Split(fe.Field, ".")
			switch {
			case len(path) >= 3 && path[0] == "fields":
				i, _ := strconv.Atoi(path[1])
				prop := path[2]
				if prop == "max_bytes" {
					prop = "max_mb"
				}
				if i < len(page.Fields) && slices.Contains(fieldProps, prop) {
					if _, taken := page.Fields[i].Errors[prop]; !taken {
						page.Fields[i].Errors[prop] = msg
					}
					continue
				}
				page.Problems = append(page.Problems, fmt.Sprintf("Field %s: %s %s", path[1], strings.Join(path[2:], "."), fe.Message))
			case len(path) == 2 && path[0] == "settings":
				page.Settings.Errors[path[1]] = msg
			case len(path) == 1 && slices.Contains(settingKeys, path[0]):
				page.Settings.Errors[path[0]] = msg
			default:
				page.Problems = append(page.Problems, httpx.Capitalize(fe.Field+" "+fe.Message))
			}
		}
		if len(e.Fields) == 0 {
			page.Error = e.Message
		}
	}
	in, _ := st.input(form.Published)
	page.Preview = s.previewForm(form, in)
	return page
}

// previewForm draws a schema as the public page would, inert, listing what keeps it from being saved.
func (s *Handlers) previewForm(form store.Form, in store.FormInput) views.PublicForm {
	check := in
	check.Fields = slices.Clone(in.Fields)
	var problems []string
	if err := app.CheckForm(&check); err != nil {
		for _, fe := range fault.As(err).Fields {
			problems = append(problems, fe.Field+": "+fe.Message)
		}
	}
	preview := store.Form{ID: form.ID, Name: check.Name, Slug: check.Slug, Description: check.Description,
		Fields: check.Fields, Settings: check.Settings}
	view := httpx.PublicFormView(preview, nil, nil)
	view.Preview, view.Problems = true, problems
	for i := range view.Fields {
		view.Fields[i].ValidateURL = ""
	}
	return view
}

// formSave is POST /forms/{id}: saves the builder, after carrying out the button pressed (op: save, add, up.N,
// down.N, remove.N). A schema that does not check comes back with a message per property and is not saved.
func (s *Handlers) formSave(w http.ResponseWriter, r *http.Request) {
	form, err := s.PathForm(r, authz.FormsManage)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	st, err := readEditor(w, r)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	touched := st.apply(r.PostForm.Get("op"), r.PostForm.Get("new_type"))
	in, parseErrs := st.input(form.Published)
	if len(parseErrs) > 0 {
		// Some inputs do not even parse: nothing is saved, and they are shown with everything else wrong.
		err = app.CheckForm(&in)
		for i := range parseErrs {
			err = validate.Join(err, &parseErrs[i])
		}
	} else {
		_, err = s.deps.App.Forms.Update(r.Context(), s.Caller(r), form.ID, in)
	}
	if err != nil {
		page := s.editorPage(r, form, st, err)
		s.Render(w, r, s.FormStatus(w, r, err), form.Name, views.FormEditor(page))
		return
	}
	target := "/forms/" + form.ID.String() + "?saved=1"
	if touched >= 0 {
		target += "#field-" + strconv.Itoa(touched)
	}
	s.Redirect(w, r, target)
}

// formPreview is POST /forms/{id}/preview: the public form drawn from the builder as it is now, unsaved, for
// htmx to swap into the preview pane as the form is edited.
func (s *Handlers) formPreview(w http.ResponseWriter, r *http.Request) {
	form, err := s.PathForm(r, authz.FormsManage)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	st, err := readEditor(w, r)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	in, _ := st.input(form.Published)
	s.Fragment(w, r, http.StatusOK, views.PublicFormBody(s.previewForm(form, in)))
}

// formPublish is POST /forms/{id}/publish and …/unpublish (app.Forms.SetPublished). A refusal to publish (an
// empty form) is shown on the builder.
func (s *Handlers) formPublish(published bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		form, err := s.PathForm(r, authz.FormsManage)
		if err == nil {
			_, err = s.deps.App.Forms.SetPublished(r.Context(), s.Caller(r), form.ID, published)
		}
		if fault.CodeOf(err) == fault.Conflict {
			page := s.editorPage(r, form, editorFromForm(form), nil)
			page.Error = fault.As(err).Message
			s.Render(w, r, s.FormStatus(w, r, err), form.Name, views.FormEditor(page))
			return
		}
		if err != nil {
			s.PageError(w, r, err)
			return
		}
		target := "/forms/" + form.ID.String()
		if published {
			target += "?published=1"
		}
		s.Redirect(w, r, target)
	}
}

// formDelete is POST /forms/{id}/delete: the form, its submissions and their files (app.Forms.Delete).
func (s *Handlers) formDelete(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		err = s.deps.App.Forms.Delete(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, "/forms")
}
