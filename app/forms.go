package app

import (
	"context"
	"encoding/json"
	"iter"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/sql/store"
)

// FileRemover deletes stored files; storage.Backend is the real one.
type FileRemover interface {
	// Delete removes a file; deleting one that is not there is not an error.
	Delete(ctx context.Context, key string) error
}

// Forms are the use cases of forms and their submissions: the builder's and the API's (list, create, read, change,
// publish, delete; list, read, export and delete submissions) and the public page's (open a published form, accept
// a submission). A member manages the forms it created; admins and owners manage all; everyone in the organization
// reads them. A form of another organization is NotFound.
type Forms struct {
	store *store.Store
	// files deletes the files of deleted forms and submissions at once; the sweep deletes them later when nil.
	files  FileRemover
	logger *slog.Logger
}

// FormResource is what authorization decides on for a form: its organization and its creator.
func FormResource(f store.Form) authz.Resource {
	return authz.Resource{OrgID: f.OrganizationID, CreatedBy: f.CreatedBy}
}

// DefaultSuccessMessage is what a new form shows after a submission until its builder writes another.
const DefaultSuccessMessage = "Thank you: your answers were received."

// NewFormInput is a new form as it starts: no field, the default success message. Surfaces fill in what they were
// sent on top of it.
func NewFormInput() store.FormInput {
	return store.FormInput{Settings: store.FormSettings{SuccessMessage: DefaultSuccessMessage}}
}

// List lists the caller's organization's forms that f selects, newest first.
func (fs *Forms) List(ctx context.Context, c Caller, f store.FormFilter) ([]store.Form, error) {
	if err := authz.Authorize(c.Principal, authz.FormsView, authz.Org(c.Principal.OrgID)); err != nil {
		return nil, err
	}
	return fs.store.FormList(ctx, c.Principal.OrgID, f)
}

// Create creates a form in the caller's organization, which the caller then manages. A blank slug is made from the
// name. An invalid schema is an Invalid fault naming every bad field by its path ("fields.2.pattern"); a slug
// taken is one naming "slug".
func (fs *Forms) Create(ctx context.Context, c Caller, in store.FormInput) (store.Form, error) {
	if err := authz.Authorize(c.Principal, authz.FormsCreate, authz.Org(c.Principal.OrgID)); err != nil {
		return store.Form{}, err
	}
	if strings.TrimSpace(in.Slug) == "" {
		in.Slug = slugFrom(in.Name)
	}
	if err := CheckForm(&in); err != nil {
		return store.Form{}, err
	}
	return fs.store.FormCreate(ctx, c.Actor, c.Principal.OrgID, in)
}

// slugFrom makes an address from a name: lowercase ASCII letters and digits joined by dashes, with a random
// suffix so two forms called "Contact" do not collide.
func slugFrom(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 48 {
			break
		}
	}
	base := strings.Trim(b.String(), "-")
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:6]
	if base == "" {
		return "form-" + suffix
	}
	return base + "-" + suffix
}

// Get loads a form of the caller's organization and checks that the caller may do a to it (FormsView to read it,
// FormsManage to change it).
func (fs *Forms) Get(ctx context.Context, c Caller, id uuid.UUID, a authz.Action) (store.Form, error) {
	form, err := fs.store.FormGet(ctx, c.Principal.OrgID, id)
	if err != nil {
		return store.Form{}, err
	}
	return form, authz.Authorize(c.Principal, a, FormResource(form))
}

// Update replaces a form's name, address, schema, settings and published state with in, checked as Create checks.
func (fs *Forms) Update(ctx context.Context, c Caller, id uuid.UUID, in store.FormInput) (store.Form, error) {
	form, err := fs.Get(ctx, c, id, authz.FormsManage)
	if err != nil {
		return store.Form{}, err
	}
	if err := CheckForm(&in); err != nil {
		return store.Form{}, err
	}
	return fs.store.FormUpdate(ctx, c.Actor, form.OrganizationID, form.ID, in)
}

// SetPublished publishes a form at its public address, or takes it down. A form without fields collects nothing,
// so publishing one is a Conflict.
func (fs *Forms) SetPublished(ctx context.Context, c Caller, id uuid.UUID, published bool) (store.Form, error) {
	form, err := fs.Get(ctx, c, id, authz.FormsManage)
	if err != nil {
		return store.Form{}, err
	}
	if published && len(form.Fields) == 0 {
		return store.Form{}, fault.New(fault.Conflict, "Add a field before publishing: an empty form collects nothing.")
	}
	return fs.store.FormSetPublished(ctx, c.Actor, form.OrganizationID, form.ID, published)
}

// Delete deletes a form, its submissions and their files.
func (fs *Forms) Delete(ctx context.Context, c Caller, id uuid.UUID) error {
	form, err := fs.Get(ctx, c, id, authz.FormsManage)
	if err != nil {
		return err
	}
	keys, err := fs.store.FormDelete(ctx, c.Actor, form.OrganizationID, form.ID)
	if err != nil {
		return err
	}
	fs.removeFiles(ctx, keys)
	return nil
}

// removeFiles removes the files of deleted rows now rather than at the next sweep; a file that cannot be deleted now
// is left to the sweep, which retries.
func (fs *Forms) removeFiles(ctx context.Context, keys []string) {
	if fs.files == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, k := range keys {
		if err := fs.files.Delete(ctx, k); err != nil {
			logging.From(ctx, fs.logger).Warn("delete a file now; the sweep will retry", "error", err)
		}
	}
}

// Submissions lists the submissions of a form of the caller's organization that f selects, newest first.
func (fs *Forms) Submissions(ctx context.Context, c Caller, formID uuid.UUID, f store.SubmissionFilter) ([]store.FormSubmission, error) {
	form, err := fs.Get(ctx, c, formID, authz.FormsView)
	if err != nil {
		return nil, err
	}
	return fs.store.FormSubmissionList(ctx, form.OrganizationID, form.ID, f)
}

// SubmissionDetail is one submission with its form, its files and the executions it started.
type SubmissionDetail struct {
	Form       store.Form
	Submission store.FormSubmission
	Files      []store.Upload
	Executions []store.SubmissionExecution
}

// submission loads a submission of a form of the caller's organization, checking a against its form.
func (fs *Forms) submission(ctx context.Context, c Caller, formID, id uuid.UUID, a authz.Action) (store.Form, store.FormSubmission, error) {
	form, err := fs.Get(ctx, c, formID, a)
	if err != nil {
		return store.Form{}, store.FormSubmission{}, err
	}
	sub, err := fs.store.FormSubmissionGet(ctx, form.OrganizationID, form.ID, id)
	return form, sub, err
}

// Submission reads one submission of a form, with its files and the executions it started.
func (fs *Forms) Submission(ctx context.Context, c Caller, formID, id uuid.UUID) (SubmissionDetail, error) {
	form, sub, err := fs.submission(ctx, c, formID, id, authz.FormsView)
	if err != nil {
		return SubmissionDetail{}, err
	}
	d := SubmissionDetail{Form: form, Submission: sub}
	if d.Executions, err = fs.store.FormSubmissionExecutions(ctx, form.OrganizationID, sub.ID); err != nil {
		return SubmissionDetail{}, err
	}
	if d.Files, err = fs.store.FormSubmissionFiles(ctx, form.OrganizationID, sub.ID); err != nil {
		return SubmissionDetail{}, err
	}
	return d, nil
}

// SubmissionFile describes one live file of a submission, to be read from storage by its key.
func (fs *Forms) SubmissionFile(ctx context.Context, c Caller, formID, submissionID, fileID uuid.UUID) (store.Upload, error) {
	form, sub, err := fs.submission(ctx, c, formID, submissionID, authz.FormsView)
	if err != nil {
		return store.Upload{}, err
	}
	files, err := fs.store.FormSubmissionFiles(ctx, form.OrganizationID, sub.ID)
	if err != nil {
		return store.Upload{}, err
	}
	for _, f := range files {
		if f.ID == fileID {
			return f, nil
		}
	}
	return store.Upload{}, fault.New(fault.NotFound, "file not found")
}

// DeleteSubmission deletes a submission of a form and then its files.
func (fs *Forms) DeleteSubmission(ctx context.Context, c Caller, formID, id uuid.UUID) error {
	form, sub, err := fs.submission(ctx, c, formID, id, authz.FormsManage)
	if err != nil {
		return err
	}
	keys, err := fs.store.FormSubmissionDelete(ctx, c.Actor, form.OrganizationID, form.ID, sub.ID)
	if err != nil {
		return err
	}
	fs.removeFiles(ctx, keys)
	return nil
}

// ExportPageSize is how many submissions an export reads per query: it streams page by page, so its memory does
// not grow with the number of submissions.
const ExportPageSize = 500

// SubmissionExport is an export under way: the form, and its submissions page by page, newest first.
type SubmissionExport struct {
	Form store.Form
	// Pages yields the submissions ExportPageSize at a time; an error ends it.
	Pages iter.Seq2[[]store.FormSubmission, error]
}

// Export exports every submission of a form that f selects, from its cursor on (its limit aside). Exporting is
// audited before anything is read: it copies personal data out.
func (fs *Forms) Export(ctx context.Context, c Caller, formID uuid.UUID, f store.SubmissionFilter) (SubmissionExport, error) {
	form, err := fs.Get(ctx, c, formID, authz.FormsView)
	if err != nil {
		return SubmissionExport{}, err
	}
	if err := fs.store.AuditEvent(ctx, c.Actor, &form.OrganizationID, "form.submissions.export", "form",
		form.ID.String()); err != nil {
		return SubmissionExport{}, err
	}
	f.Limit = ExportPageSize
	pages := func(yield func([]store.FormSubmission, error) bool) {
		for {
			subs, err := fs.store.FormSubmissionList(ctx, form.OrganizationID, form.ID, f)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(subs, nil) || len(subs) < ExportPageSize {
				return
			}
			last := subs[len(subs)-1]
			f.After = &last
		}
	}
	return SubmissionExport{Form: form, Pages: pages}, nil
}

// Public opens the published form at a public address for anyone: a draft, like an address no form has, is
// NotFound. Whether it is closed is the caller's to show (store.Form.Closed); Accept refuses a closed one.
func (fs *Forms) Public(ctx context.Context, slug string) (store.Form, error) {
	if !formSlugPattern.MatchString(slug) {
		return store.Form{}, fault.New(fault.NotFound, "no such form")
	}
	form, err := fs.store.FormBySlug(ctx, slug)
	if err != nil {
		return store.Form{}, err
	}
	if !form.Published {
		return store.Form{}, fault.New(fault.NotFound, "no such form")
	}
	return form, nil
}

// PublicSubmission is a visitor's answers to a public form as the page read them.
type PublicSubmission struct {
	// Values are the texts sent, by field name; names the form does not have are ignored.
	Values url.Values
	// Files are the files already streamed to storage, by field name.
	Files map[string]*store.ReceivedFile
	// FileErrs are the messages of files refused while streaming them (a wrong type), by field name.
	FileErrs map[string]string
	// RemoteIP and UserAgent describe the request (the agent as valid UTF-8, cut to a sensible length).
	RemoteIP  netip.Addr
	UserAgent string
}

// Accept checks a submission against a form Public opened, stores it with its files, and hands it to every active
// workflow the form triggers, all in one transaction. Answers that do not fit the schema are an Invalid fault
// naming each bad field by its name, and nothing is stored; a form that closed meanwhile is store.ErrFormClosed
// (a Conflict). The caller admits the executions it may start (Triggers.Admit) before reading the body, so that a
// flood is refused before its files reach storage, and deletes those files when Accept fails.
func (fs *Forms) Accept(ctx context.Context, form store.Form, in PublicSubmission) (store.FormSubmission, error) {
	data, errs := CheckAnswers(form.Fields, in.Values, in.Files, in.FileErrs)
	if len(errs) > 0 {
		fields := make([]fault.FieldError, 0, len(errs))
		for _, fd := range form.Fields {
			if msg, bad := errs[fd.Name]; bad {
				fields = append(fields, fault.FieldError{Field: fd.Name, Message: msg})
			}
		}
		return store.FormSubmission{}, fault.Fields("Some answers need attention.", fields...)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return store.FormSubmission{}, err
	}
	sub := store.NewFormSubmission{FormID: form.ID, Data: raw, RemoteIP: in.RemoteIP, UserAgent: in.UserAgent}
	for _, fd := range form.Fields {
		if f := in.Files[fd.Name]; f != nil {
			sub.Files = append(sub.Files, *f)
		}
	}
	saved, _, err := fs.store.FormSubmit(ctx, sub)
	return saved, err
}
