package public

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// The public form pages, /f/{slug}, are for anyone: they read no session and no cookie, and go through no
// cross-origin protection. That is safe because a submission carries no authority of its own: a request forged on
// another site can do exactly what the stranger behind it could do by opening the page, and what that is is
// bounded by the form itself (published, open, under its limit), by validation against its schema, by the per-IP
// rate limit and by the honeypot. CSRF protects the privileges a cookie gives; these routes give none.

// Spam and size limits of public submissions.
const (
	// FormSubmitsPerMinute is how many submissions one address may make a minute, to any form.
	FormSubmitsPerMinute = 20
	// publicFormChecksPerMinute is how many inline validations one address may ask for a minute.
	publicFormChecksPerMinute = 600
	// maxSubmissionTextBytes bounds the text of one submission (every value but files, together).
	maxSubmissionTextBytes = 1 << 20
	// maxSubmissionParts bounds the parts of a multipart submission, so a flood of tiny parts cannot keep the
	// server busy.
	maxSubmissionParts = 1000
	// partOverheadBytes is what each file part's headers add to the body, budgeted on top of its size limit.
	partOverheadBytes = 16 << 10
)

// publicFormPage is GET /f/{slug}.
func (s *Handlers) publicFormPage(w http.ResponseWriter, r *http.Request) {
	form, ok := s.openPublicForm(w, r)
	if !ok {
		return
	}
	allowFormRedirect(w, form)
	s.Render(w, r, http.StatusOK, form.Name, views.PublicFormView(views.PublicFormPage{Form: httpx.PublicFormView(form, nil, nil)}))
}

// allowFormRedirect lets a form with a redirect setting send people there: browsers hold the redirect that answers
// a form submission to the form-action of the page the form was on, which is 'self' on every other page. Only the
// redirect's origin is added, a plain scheme, host and port (app.FormRedirectOrigin).
func allowFormRedirect(w http.ResponseWriter, form store.Form) {
	origin := app.FormRedirectOrigin(form.Settings.RedirectURL)
	if origin == "" {
		return
	}
	w.Header().Set("Content-Security-Policy",
		strings.Replace(httpx.ContentSecurityPolicy, "form-action 'self'", "form-action 'self' "+origin, 1))
}

// openPublicForm loads the form at /f/{slug} (app.Forms.Public), or answers for it: 404 when no published form has
// this address (a draft is not revealed), 410 when it is closed.
func (s *Handlers) openPublicForm(w http.ResponseWriter, r *http.Request) (store.Form, bool) {
	w.Header().Set("Cache-Control", "no-store")
	form, err := s.deps.App.Forms.Public(r.Context(), r.PathValue("slug"))
	switch {
	case fault.CodeOf(err) == fault.NotFound:
		s.Render(w, r, http.StatusNotFound, "Form not found", views.FormNotice(views.FormNoticePage{
			FormName: "Form not found", Title: "There is no form at this address.",
			Message: "Check the link you were given; the form may have been taken down."}))
		return store.Form{}, false
	case err != nil:
		s.PageError(w, r, err)
		return store.Form{}, false
	case form.Closed(time.Now()):
		s.renderFormClosed(w, r, form)
		return store.Form{}, false
	}
	return form, true
}

// renderFormClosed answers 410 Gone for a form past its close date or at its submission limit.
func (s *Handlers) renderFormClosed(w http.ResponseWriter, r *http.Request, form store.Form) {
	msg := "It has received all the answers it takes."
	if c := form.Settings.CloseAt; c != nil && !time.Now().Before(*c) {
		msg = "It stopped taking answers on " + views.Stamp(*c) + "."
	}
	s.Render(w, r, http.StatusGone, form.Name, views.FormNotice(views.FormNoticePage{FormName: form.Name,
		Title: "This form is closed.", Message: msg}))
}

// publicFormValidate is POST /f/{slug}/validate?field=NAME: one field checked as the submission will be, answered
// with the field's fragment (its message, or none) for htmx to swap in place as the visitor moves on.
func (s *Handlers) publicFormValidate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	form, err := s.deps.App.Forms.Public(r.Context(), r.PathValue("slug"))
	if err == nil {
		err = s.Allow(r, "form-check:"+s.ClientIP(r).String(), publicFormChecksPerMinute, time.Minute)
	}
	if err == nil {
		err = httpx.ParseForm(w, r)
	}
	if err != nil {
		status := s.FormStatus(w, r, err)
		http.Error(w, http.StatusText(status), status)
		return
	}
	name := r.URL.Query().Get("field")
	for _, fd := range form.Fields {
		if fd.Name != name || fd.Type == store.FieldFile {
			continue
		}
		_, msg := app.CheckAnswer(fd, r.PostForm[fd.Name], nil)
		s.Fragment(w, r, http.StatusOK, views.PublicFormField(httpx.PublicFormField(form.Slug, fd, r.PostForm, msg)))
		return
	}
	http.Error(w, "no such field", http.StatusNotFound)
}

// publicFormSubmit is POST /f/{slug}: a submission, streamed in (files straight to storage), then accepted by
// app.Forms.Accept: checked against the form's schema, stored with its files, and handed to every active workflow
// the form triggers, all in one transaction. A submission with bad fields gets 422 and the form again with the
// values sent and a message per field; nothing is stored. A filled-in honeypot gets the same answer as a success,
// and nothing is stored either.
func (s *Handlers) publicFormSubmit(w http.ResponseWriter, r *http.Request) {
	form, ok := s.openPublicForm(w, r)
	if !ok {
		return
	}
	if err := s.Allow(r, "form-submit:"+s.ClientIP(r).String(), FormSubmitsPerMinute, time.Minute); err != nil {
		s.renderPublicForm(w, r, form, nil, nil, err)
		return
	}
	if err := s.deps.App.Triggers.Admit(r.Context(), form.OrganizationID); err != nil {
		s.renderPublicForm(w, r, form, nil, nil, err)
		return
	}
	in, err := s.readSubmission(w, r, form)
	committed := false
	defer func() {
		if !committed {
			s.DeleteFiles(r.Context(), in.storageKeys())
		}
	}()
	if err != nil {
		s.renderPublicForm(w, r, form, in.values, in.fileErrs, err)
		return
	}
	if in.honeypot {
		logging.From(r.Context(), s.deps.Logger).Info("form submission caught by the honeypot", "form_id", form.ID)
		s.renderAccepted(w, r, form)
		return
	}
	_, err = s.deps.App.Forms.Accept(r.Context(), form, app.PublicSubmission{Values: in.values, Files: in.files,
		FileErrs: in.fileErrs, RemoteIP: s.ClientIP(r),
		UserAgent: httpx.TruncateRunes(strings.ToValidUTF8(r.UserAgent(), "\uFFFD"), 500)})
	switch e := fault.As(err); {
	case err == nil:
	case errors.Is(err, store.ErrFormClosed):
		s.renderFormClosed(w, r, form)
		return
	case e.Code == fault.Invalid && len(e.Fields) > 0:
		errs := make(map[string]string, len(e.Fields))
		for _, fe := range e.Fields {
			errs[fe.Field] = fe.Message
		}
		s.renderPublicForm(w, r, form, in.values, errs, err)
		return
	default:
		s.renderPublicForm(w, r, form, in.values, nil, err)
		return
	}
	committed = true
	s.renderAccepted(w, r, form)
}

// renderAccepted answers an accepted submission: the form's redirect, or its success message.
func (s *Handlers) renderAccepted(w http.ResponseWriter, r *http.Request, form store.Form) {
	if form.Settings.RedirectURL != "" {
		http.Redirect(w, r, form.Settings.RedirectURL, http.StatusSeeOther)
		return
	}
	msg := form.Settings.SuccessMessage
	if msg == "" {
		msg = "Your answers were received."
	}
	s.Render(w, r, http.StatusOK, form.Name, views.FormNotice(views.FormNoticePage{FormName: form.Name,
		Title: "Thank you.", Message: msg}))
}

// renderPublicForm answers a refused submission with the form again: the values sent, a message per field, and
// err's message above the form when it is not about fields (too many attempts, too large). The status is err's.
func (s *Handlers) renderPublicForm(w http.ResponseWriter, r *http.Request, form store.Form, values url.Values,
	errs map[string]string, err error) {
	status := s.FormStatus(w, r, err)
	e := fault.As(err)
	view := httpx.PublicFormView(form, values, errs)
	switch {
	case e.Code == fault.Invalid && len(errs) > 0:
		view.Error = "Some answers need attention: see the messages below."
	case e.Code == fault.Internal:
		view.Error = "Something went wrong on our side; your answers were not saved. Please try again."
	default:
		view.Error = e.Message
	}
	if e.Code == fault.TooLarge {
		// The rest of the body is left unread: the connection cannot be reused.
		w.Header().Set("Connection", "close")
	}
	allowFormRedirect(w, form)
	s.Render(w, r, status, form.Name, views.PublicFormView(views.PublicFormPage{Form: view}))
}

// submissionInput is a submission as read from the request: its values, the files already streamed to storage
// (by field), the messages of files refused on the way, and whether the honeypot was filled in.
type submissionInput struct {
	values   url.Values
	files    map[string]*store.ReceivedFile
	fileErrs map[string]string
	honeypot bool
}

// storageKeys lists the files stored while reading, to delete when the submission is not committed.
func (in *submissionInput) storageKeys() []string {
	var keys []string
	for _, f := range in.files {
		keys = append(keys, f.StorageKey)
	}
	return keys
}

// readSubmission reads a submission's body. A url-encoded body is read whole (it is bounded, and small). A
// multipart body is read part by part with mime/multipart's streaming reader: values into memory (bounded by
// maxSubmissionTextBytes together), each file of a file field straight into storage through httpx.ReceiveFile, which
// checks its type by its first bytes and stops at its size limit. A file over its limit ends the reading at once
// with a TooLarge fault: the rest of the body is never read. The returned input is never nil, so the caller can
// always clean up the files it holds.
func (s *Handlers) readSubmission(w http.ResponseWriter, r *http.Request, form store.Form) (*submissionInput, error) {
	in := &submissionInput{values: url.Values{}, files: map[string]*store.ReceivedFile{}, fileErrs: map[string]string{}}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, maxSubmissionTextBytes)
		if err := r.ParseForm(); err != nil {
			return in, submissionBodyError(err)
		}
		in.values = r.PostForm
		in.honeypot = strings.TrimSpace(in.values.Get(httpx.HoneypotField)) != ""
		return in, validate.Values("", in.values)
	}

	fields := map[string]store.FormField{}
	limit := int64(maxSubmissionTextBytes)
	for _, fd := range form.Fields {
		fields[fd.Name] = fd
		if fd.Type == store.FieldFile {
			limit += app.FileFieldLimit(fd) + partOverheadBytes
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mr, err := r.MultipartReader()
	if err != nil {
		return in, submissionBodyError(err)
	}
	textBytes := 0
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return in, validate.Values("", in.values)
		}
		if err != nil {
			return in, submissionBodyError(err)
		}
		if parts >= maxSubmissionParts {
			return in, fault.New(fault.TooLarge, "The submission has too many parts.")
		}
		name := part.FormName()
		fd, known := fields[name]
		if part.FileName() != "" || (known && fd.Type == store.FieldFile) {
			// Only the first file of a file field is kept; any other file, and every file after the honeypot was
			// found filled in, is read past without being stored.
			if !known || fd.Type != store.FieldFile || in.honeypot || in.files[name] != nil || in.fileErrs[name] != "" {
				if _, err := io.Copy(io.Discard, part); err != nil {
					return in, submissionBodyError(err)
				}
				continue
			}
			f, err := s.ReceiveFile(r.Context(), part, app.FileFieldLimit(fd), fd.Accept)
			var refused *httpx.FileTypeRefused
			var tooLarge *httpx.FileTooLarge
			switch {
			case errors.Is(err, httpx.ErrNoFile):
			case errors.As(err, &refused):
				in.fileErrs[name] = refused.Message()
				if _, err := io.Copy(io.Discard, part); err != nil {
					return in, submissionBodyError(err)
				}
			case errors.As(err, &tooLarge):
				in.fileErrs[name] = tooLarge.Message()
				return in, fault.New(fault.TooLarge, "The file in %q is larger than %s.", fd.Label, httpx.HumanBytes(tooLarge.Limit))
			case err != nil:
				return in, submissionBodyError(err)
			default:
				f.Field = name
				in.files[name] = &f
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, int64(maxSubmissionTextBytes-textBytes+1)))
		if err != nil {
			return in, submissionBodyError(err)
		}
		if textBytes += len(v); textBytes > maxSubmissionTextBytes {
			return in, fault.New(fault.TooLarge, "The submission is larger than this form takes.")
		}
		in.values.Add(name, string(v))
		if name == httpx.HoneypotField && strings.TrimSpace(string(v)) != "" {
			in.honeypot = true
		}
	}
}

// submissionBodyError is the fault of a body that could not be read: too large, or malformed.
func submissionBodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fault.Wrap(err, fault.TooLarge, "The submission is larger than this form takes.")
	}
	if fault.CodeOf(err) != fault.Internal {
		return err
	}
	return fault.Wrap(err, fault.Invalid, "The submission could not be read; please send the form again.")
}
