package httpx

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// What the form builder's preview (pages) and the public form (public) draw alike.

// HoneypotField is a text input hidden from people (the hidden attribute, out of the tab order and of the
// accessibility tree) that form-filling bots fill in. Its name cannot clash with a field's: field names start
// with a letter.
const HoneypotField = "_homepage"

// PublicFormView draws a form for visitors with the values they sent and a message per field.
func PublicFormView(f store.Form, values url.Values, errs map[string]string) views.PublicForm {
	v := views.PublicForm{Slug: f.Slug, Name: f.Name, Description: f.Description, Action: "/f/" + f.Slug,
		Multipart: f.HasFileFields(), Honeypot: HoneypotField}
	for _, fd := range f.Fields {
		v.Fields = append(v.Fields, PublicFormField(f.Slug, fd, values, errs[fd.Name]))
	}
	return v
}

// PublicFormField draws one field; its values come back as sent (files cannot: browsers never prefill them).
func PublicFormField(slug string, fd store.FormField, values url.Values, msg string) views.PublicField {
	pf := views.PublicField{Name: fd.Name, Label: fd.Label, Type: fd.Type, Help: fd.Help, Required: fd.Required,
		Options: fd.Options, Error: msg, Value: values.Get(fd.Name), Values: values[fd.Name],
		ValidateURL: "/f/" + slug + "/validate?" + url.Values{"field": {fd.Name}}.Encode()}
	if fd.Min != nil {
		pf.Min = string(*fd.Min)
	}
	if fd.Max != nil {
		pf.Max = string(*fd.Max)
	}
	switch fd.Type {
	case store.FieldText, store.FieldTextarea, store.FieldEmail:
		pf.MaxLength = app.TextLimit(fd)
		if fd.MinLength != nil {
			pf.MinLength = *fd.MinLength
		}
	case store.FieldFile:
		pf.Accept = strings.Join(fd.Accept, ",")
		pf.Limit = HumanBytes(app.FileFieldLimit(fd))
		pf.ValidateURL, pf.Value, pf.Values = "", "", nil
	}
	return pf
}

// Fragment answers with a component alone, never inside the layout: the answer of an htmx call that swaps a part
// of a page.
func (k *Kit) Fragment(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		logging.From(r.Context(), k.cfg.Logger).Error("render fragment", "error", err)
	}
}

// TruncateRunes cuts s to at most n runes.
func TruncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
