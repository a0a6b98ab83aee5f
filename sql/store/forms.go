package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// The form field types. A checkbox without options is one yes/no box; with options it is a group of boxes, any
// number of which may be ticked.
const (
	FieldText     = "text"
	FieldTextarea = "textarea"
	FieldEmail    = "email"
	FieldNumber   = "number"
	FieldDate     = "date"
	FieldSelect   = "select"
	FieldRadio    = "radio"
	FieldCheckbox = "checkbox"
	FieldFile     = "file"
)

// FormFieldTypes lists the field types in the order the form builder offers them.
var FormFieldTypes = []string{FieldText, FieldTextarea, FieldEmail, FieldNumber, FieldDate, FieldSelect, FieldRadio,
	FieldCheckbox, FieldFile}

// FormField is one field of a form's schema. The schema is stored as the form's fields (jsonb) in exactly this
// shape, which is also the API's: the builder writes it, the public page renders it and the submission validator
// checks against it, so the three cannot drift apart.
type FormField struct {
	// Name is the key of the field's value in a submission's data.
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	Type     string   `json:"type"`
	Help     string   `json:"help,omitempty"`
	Required bool     `json:"required"`
	Options  []string `json:"options,omitempty"`
	// Min and Max bound a number (a decimal number) or a date (YYYY-MM-DD).
	Min *FormBound `json:"min,omitempty"`
	Max *FormBound `json:"max,omitempty"`
	// MinLength and MaxLength bound a text's length in characters.
	MinLength *int `json:"min_length,omitempty"`
	MaxLength *int `json:"max_length,omitempty"`
	// Pattern is a regular expression (RE2 syntax) the whole text must match.
	Pattern string `json:"pattern,omitempty"`
	// Accept lists the media types ("application/pdf") or families ("image/*") a file field takes; empty takes any.
	Accept []string `json:"accept,omitempty"`
	// MaxBytes bounds a file field's file; 0 is the platform's default.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// FormBound is a field's min or max: a number for number fields, a date for date fields. It reads either a JSON
// number or a JSON string, and writes a number back when it is one, so API clients may send `"min": 1` or
// `"min": "2025-01-31"` alike.
type FormBound string

// UnmarshalJSON implements json.Unmarshaler.
func (b *FormBound) UnmarshalJSON(data []byte) error {
	var n json.Number
	if err := json.Unmarshal(data, &n); err == nil {
		*b = FormBound(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("a bound must be a number or a date")
	}
	*b = FormBound(s)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (b FormBound) MarshalJSON() ([]byte, error) {
	if _, err := strconv.ParseFloat(string(b), 64); err == nil {
		return []byte(b), nil
	}
	return json.Marshal(string(b))
}

// FormSettings is what happens around a form's submissions. CloseAt and SubmissionLimit are read by the database
// itself when a submission claims its place (FormClaimSubmission), so their JSON names are part of the schema.
type FormSettings struct {
	// SuccessMessage is shown after a submission, unless RedirectURL sends the visitor elsewhere.
	SuccessMessage string `json:"success_message,omitempty"`
	RedirectURL    string `json:"redirect_url,omitempty"`
	// CloseAt closes the form at that time.
	CloseAt *time.Time `json:"close_at,omitempty"`
	// SubmissionLimit closes the form once it holds that many submissions.
	SubmissionLimit *int `json:"submission_limit,omitempty"`
}

// Form is a form with its schema.
type Form struct {
	ID              uuid.UUID
	OrganizationID  uuid.UUID
	Name            string
	Slug            string
	Description     string
	Fields          []FormField
	Settings        FormSettings
	Published       bool
	CreatedBy       *uuid.UUID
	SubmissionCount int
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Closed reports whether the form stopped taking submissions at now: its close date passed or its limit is reached.
// It is what pages show; the authoritative check is FormSubmit's, in the same statement that counts the submission.
func (f Form) Closed(now time.Time) bool {
	if f.Settings.CloseAt != nil && !now.Before(*f.Settings.CloseAt) {
		return true
	}
	return f.Settings.SubmissionLimit != nil && f.SubmissionCount >= *f.Settings.SubmissionLimit
}

// HasFileFields reports whether a submission of the form may carry files (and so must be sent as multipart).
func (f Form) HasFileFields() bool {
	for _, fd := range f.Fields {
		if fd.Type == FieldFile {
			return true
		}
	}
	return false
}

// FormInput is what creating or replacing a form writes; the caller has validated it.
type FormInput struct {
	Name        string
	Slug        string
	Description string
	Fields      []FormField
	Settings    FormSettings
	Published   bool
}

// ErrFormClosed is the cause of a refused submission: the form is unpublished, past its close date or at its
// limit. Public pages tell a closed form (410) from a missing one (404) by it.
var ErrFormClosed = errors.New("the form is not accepting submissions")

// errSlugTaken names the field of the only unique constraint on forms, so the builder can show it by the field.
var errSlugTaken = fault.Fields("the address is taken",
	fault.FieldError{Field: "slug", Message: "is already the address of another form"})

func interpretForm(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return errSlugTaken
	}
	return interpret(err, "form")
}

// FormCreate writes a new form, audited.
func (s *Store) FormCreate(ctx context.Context, by Actor, orgID uuid.UUID, in FormInput) (Form, error) {
	fields, settings, err := marshalSchema(in)
	if err != nil {
		return Form{}, err
	}
	var out Form
	err = s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.FormCreate(ctx, db.FormCreateParams{OrganizationID: orgID, Name: in.Name, Slug: in.Slug,
			Description: in.Description, Fields: fields, Settings: settings, Published: in.Published, CreatedBy: by.UserID})
		if err != nil {
			return interpretForm(err)
		}
		if out, err = formFromRow(db.FormGetRow(row)); err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "form.create", TargetType: "form",
			TargetID: out.ID.String(), After: formSummary(out)})
	})
	return out, err
}

// FormGet returns a form of an organization.
func (s *Store) FormGet(ctx context.Context, orgID, id uuid.UUID) (Form, error) {
	row, err := s.q.FormGet(ctx, db.FormGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return Form{}, interpret(err, "form")
	}
	return formFromRow(row)
}

// FormBySlug returns the form at a public address, whatever its organization: the public pages have none.
func (s *Store) FormBySlug(ctx context.Context, slug string) (Form, error) {
	row, err := s.q.FormGetBySlug(ctx, slug)
	if err != nil {
		return Form{}, interpret(err, "form")
	}
	return formFromRow(db.FormGetRow(row))
}

// FormFilter narrows FormList; zero fields do not filter. Before continues after a previous page's last form.
type FormFilter struct {
	Query     string
	Published *bool
	Before    *Form
	Limit     int
}

// FormList pages through an organization's forms, newest first; with a Query, it is a full-text search on name
// and description instead, best match first, and one page (Before must be nil: a ranking has no keyset).
func (s *Store) FormList(ctx context.Context, orgID uuid.UUID, f FormFilter) ([]Form, error) {
	if f.Query != "" {
		return s.formSearch(ctx, orgID, f)
	}
	p := db.FormListParams{OrganizationID: orgID, Published: f.Published, MaxRows: int32(clampLimit(f.Limit))}
	if f.Before != nil {
		p.BeforeCreatedAt, p.BeforeID = &f.Before.CreatedAt, &f.Before.ID
	}
	rows, err := s.r.FormList(ctx, p)
	if err != nil {
		return nil, interpret(err, "forms")
	}
	out := make([]Form, len(rows))
	for i, r := range rows {
		if out[i], err = formFromRow(db.FormGetRow(r)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) formSearch(ctx context.Context, orgID uuid.UUID, f FormFilter) ([]Form, error) {
	terms, err := parseSearch("q", f.Query)
	if err == nil && f.Before != nil {
		err = errSearchHasOnePage
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.r.FormSearch(ctx, db.FormSearchParams{OrganizationID: orgID, Words: terms.Words,
		Prefix: terms.Prefix, Published: f.Published, MaxRows: int32(clampLimit(f.Limit))})
	if err != nil {
		return nil, interpret(err, "forms")
	}
	out := make([]Form, len(rows))
	for i, r := range rows {
		if out[i], err = formFromRow(db.FormGetRow(r)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FormUpdate replaces a form's name, address, schema and settings, audited with what it was before. Submissions
// already stored keep the data they were sent with.
func (s *Store) FormUpdate(ctx context.Context, by Actor, orgID, id uuid.UUID, in FormInput) (Form, error) {
	fields, settings, err := marshalSchema(in)
	if err != nil {
		return Form{}, err
	}
	var out Form
	err = s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		before, err := q.FormGet(ctx, db.FormGetParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "form")
		}
		row, err := q.FormUpdate(ctx, db.FormUpdateParams{ID: id, OrganizationID: orgID, Name: in.Name, Slug: in.Slug,
			Description: in.Description, Fields: fields, Settings: settings, Published: in.Published})
		if err != nil {
			return interpretForm(err)
		}
		if out, err = formFromRow(db.FormGetRow(row)); err != nil {
			return err
		}
		prev, err := formFromRow(before)
		if err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "form.update", TargetType: "form",
			TargetID: id.String(), Before: formSummary(prev), After: formSummary(out)})
	})
	return out, err
}

// FormSetPublished opens or withdraws a form's public page, audited.
func (s *Store) FormSetPublished(ctx context.Context, by Actor, orgID, id uuid.UUID, published bool) (Form, error) {
	var out Form
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.FormSetPublished(ctx, db.FormSetPublishedParams{ID: id, OrganizationID: orgID, Published: published})
		if err != nil {
			return interpret(err, "form")
		}
		if out, err = formFromRow(db.FormGetRow(row)); err != nil {
			return err
		}
		action := "form.unpublish"
		if published {
			action = "form.publish"
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: action, TargetType: "form",
			TargetID: id.String(), After: formSummary(out)})
	})
	return out, err
}

// FormDelete deletes a form with its submissions, audited. Their files are expired in the same transaction (see
// FormSubmissionExpireFiles) and their storage keys returned, so the caller can delete them at once; the file sweep
// deletes whatever it could not.
func (s *Store) FormDelete(ctx context.Context, by Actor, orgID, id uuid.UUID) ([]string, error) {
	var keys []string
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		before, err := q.FormGet(ctx, db.FormGetParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "form")
		}
		if keys, err = q.FormExpireFiles(ctx, db.FormExpireFilesParams{FormID: id, OrganizationID: orgID}); err != nil {
			return interpret(err, "form files")
		}
		if _, err := q.FormDelete(ctx, db.FormDeleteParams{ID: id, OrganizationID: orgID}); err != nil {
			return interpret(err, "form")
		}
		prev, err := formFromRow(before)
		if err != nil {
			return err
		}
		summary := formSummary(prev)
		summary["submissions"] = prev.SubmissionCount
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "form.delete", TargetType: "form",
			TargetID: id.String(), Before: summary})
	})
	return keys, err
}

// formSummary is what the audit log keeps of a form: never its submissions.
func formSummary(f Form) map[string]any {
	return map[string]any{"name": f.Name, "slug": f.Slug, "published": f.Published, "fields": len(f.Fields)}
}

func marshalSchema(in FormInput) (fields, settings json.RawMessage, err error) {
	if in.Fields == nil {
		in.Fields = []FormField{}
	}
	if fields, err = json.Marshal(in.Fields); err != nil {
		return nil, nil, fmt.Errorf("form fields: %w", err)
	}
	if settings, err = json.Marshal(in.Settings); err != nil {
		return nil, nil, fmt.Errorf("form settings: %w", err)
	}
	return fields, settings, nil
}

func formFromRow(r db.FormGetRow) (Form, error) {
	f := Form{ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, Slug: r.Slug, Description: r.Description,
		Published: r.Published, CreatedBy: r.CreatedBy, SubmissionCount: int(r.SubmissionCount),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if err := json.Unmarshal(r.Fields, &f.Fields); err != nil {
		return Form{}, fmt.Errorf("form %s fields: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.Settings, &f.Settings); err != nil {
		return Form{}, fmt.Errorf("form %s settings: %w", r.ID, err)
	}
	return f, nil
}

// FormSubmission is one stored submission. Data maps each field's name to its value: a string (text, e-mail,
// date, select, radio), a number or null, a boolean (a single checkbox), a list of strings (a checkbox group), or
// for a file field an object {upload_id, filename, content_type, size} (null when none was sent).
type FormSubmission struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	FormID         uuid.UUID
	Data           json.RawMessage
	RemoteIP       *netip.Addr
	UserAgent      string
	CreatedAt      time.Time
}

// NewFormSubmission is a validated submission to store.
type NewFormSubmission struct {
	FormID uuid.UUID
	// ID may be zero, and is then generated (UUIDv7).
	ID        uuid.UUID
	Data      json.RawMessage
	Files     []ReceivedFile
	RemoteIP  netip.Addr
	UserAgent string
}

// FormSubmit stores a submission and starts every active workflow whose trigger.form names the form, in one
// transaction: the submission's place under the form's limit, the submission, its files' rows, and each execution
// with its River job. Either all of it is committed or none; a submission that is accepted always runs its
// workflows, and a form that closed meanwhile (ErrFormClosed) stores nothing. It returns the submission and the
// executions it started.
func (s *Store) FormSubmit(ctx context.Context, in NewFormSubmission) (FormSubmission, []uuid.UUID, error) {
	if in.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return FormSubmission{}, nil, err
		}
		in.ID = id
	}
	for i := range in.Files {
		if err := in.Files[i].prepare(); err != nil {
			return FormSubmission{}, nil, err
		}
	}
	var sub FormSubmission
	var started []uuid.UUID
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		form, err := q.FormClaimSubmission(ctx, in.FormID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Wrap(ErrFormClosed, fault.Conflict, "This form is not accepting submissions any more.")
		}
		if err != nil {
			return interpret(err, "form")
		}
		p := db.FormSubmissionCreateParams{ID: in.ID, OrganizationID: form.OrganizationID, FormID: form.ID,
			Data: in.Data, UserAgent: in.UserAgent}
		if in.RemoteIP.IsValid() {
			p.RemoteIp = &in.RemoteIP
		}
		row, err := q.FormSubmissionCreate(ctx, p)
		if err != nil {
			return interpret(err, "submission")
		}
		sub = submissionFromRow(db.FormSubmissionGetRow(row))
		for _, f := range in.Files {
			if _, err := q.UploadCreateReceived(ctx, db.UploadCreateReceivedParams{ID: f.ID,
				OrganizationID: form.OrganizationID, Source: UploadSourceForm, FormSubmissionID: &sub.ID,
				StorageKey: f.StorageKey, Filename: f.Filename, ContentType: f.ContentType, SizeBytes: f.Size,
				Sha256: f.SHA256}); err != nil {
				return interpret(err, "file")
			}
		}
		targets, err := q.FormTriggeredWorkflows(ctx, db.FormTriggeredWorkflowsParams{
			OrganizationID: form.OrganizationID, FormID: form.ID.String(), FormSlug: form.Slug})
		if err != nil {
			return interpret(err, "workflows")
		}
		if len(targets) == 0 {
			return nil
		}
		trigger, err := formTriggerData(form.ID, sub, in.Files)
		if err != nil {
			return err
		}
		for _, t := range targets {
			exec, err := s.executionCreateTx(ctx, tx, q, NewExecution{OrganizationID: form.OrganizationID,
				WorkflowID: t.WorkflowID, WorkflowVersionID: t.VersionID, Version: t.Version, TriggerKind: "form",
				TriggerData: trigger, Priority: t.Priority}, nil)
			if err != nil {
				return err
			}
			started = append(started, exec.ID)
		}
		return interpret(q.FormSubmissionExecutionsAdd(ctx, db.FormSubmissionExecutionsAddParams{SubmissionID: sub.ID,
			ExecutionIds: started}), "submission executions")
	})
	if err != nil {
		return FormSubmission{}, nil, err
	}
	return sub, started, nil
}

// formTriggerData is a form trigger's output: {form_id, submission_id, data, files: [{field, upload_id, filename,
// content_type, size, ref}]}, where ref is the storage reference nodes open files by (as file exports give).
func formTriggerData(formID uuid.UUID, sub FormSubmission, files []ReceivedFile) (json.RawMessage, error) {
	type triggerFile struct {
		Field       string    `json:"field"`
		UploadID    uuid.UUID `json:"upload_id"`
		Filename    string    `json:"filename"`
		ContentType string    `json:"content_type"`
		Size        int64     `json:"size"`
		Ref         string    `json:"ref"`
	}
	out := make([]triggerFile, len(files))
	for i, f := range files {
		out[i] = triggerFile{Field: f.Field, UploadID: f.ID, Filename: f.Filename, ContentType: f.ContentType,
			Size: f.Size, Ref: f.StorageKey}
	}
	b, err := json.Marshal(map[string]any{"form_id": formID, "submission_id": sub.ID, "data": sub.Data,
		"files": out, "submitted_at": sub.CreatedAt.UTC()})
	if err != nil {
		return nil, fmt.Errorf("form trigger data: %w", err)
	}
	return b, nil
}

// FormSubmissionGet returns a submission of a form of an organization.
func (s *Store) FormSubmissionGet(ctx context.Context, orgID, formID, id uuid.UUID) (FormSubmission, error) {
	row, err := s.q.FormSubmissionGet(ctx, db.FormSubmissionGetParams{ID: id, FormID: formID, OrganizationID: orgID})
	if err != nil {
		return FormSubmission{}, interpret(err, "submission")
	}
	return submissionFromRow(row), nil
}

// SubmissionFilter narrows FormSubmissionList; zero fields do not filter. Query is a web-search expression over
// every string submitted; From and Before bound the submission time; After continues after a previous page.
type SubmissionFilter struct {
	Query  string
	From   *time.Time
	Before *time.Time
	After  *FormSubmission
	Limit  int
}

// FormSubmissionList pages through a form's submissions, newest first.
func (s *Store) FormSubmissionList(ctx context.Context, orgID, formID uuid.UUID, f SubmissionFilter) ([]FormSubmission, error) {
	p := db.FormSubmissionListParams{OrganizationID: orgID, FormID: formID, CreatedFrom: f.From,
		CreatedBefore: f.Before, MaxRows: int32(clampLimit(f.Limit))}
	if f.Query != "" {
		p.Query = &f.Query
	}
	if f.After != nil {
		p.BeforeCreatedAt, p.BeforeID = &f.After.CreatedAt, &f.After.ID
	}
	rows, err := s.q.FormSubmissionList(ctx, p)
	if err != nil {
		return nil, interpret(err, "submissions")
	}
	out := make([]FormSubmission, len(rows))
	for i, r := range rows {
		out[i] = submissionFromRow(db.FormSubmissionGetRow(r))
	}
	return out, nil
}

func submissionFromRow(r db.FormSubmissionGetRow) FormSubmission {
	return FormSubmission{ID: r.ID, OrganizationID: r.OrganizationID, FormID: r.FormID, Data: r.Data,
		RemoteIP: r.RemoteIp, UserAgent: r.UserAgent, CreatedAt: r.CreatedAt}
}

// SubmissionExecution is an execution a submission started, as its detail page lists it.
type SubmissionExecution struct {
	ID           uuid.UUID
	WorkflowID   uuid.UUID
	WorkflowName string
	Version      int32
	Status       string
	Error        string
	CreatedAt    time.Time
	FinishedAt   *time.Time
}

// FormSubmissionExecutions lists the executions a submission started.
func (s *Store) FormSubmissionExecutions(ctx context.Context, orgID, submissionID uuid.UUID) ([]SubmissionExecution, error) {
	rows, err := s.q.FormSubmissionExecutions(ctx, db.FormSubmissionExecutionsParams{SubmissionID: submissionID,
		OrganizationID: orgID})
	if err != nil {
		return nil, interpret(err, "submission executions")
	}
	out := make([]SubmissionExecution, len(rows))
	for i, r := range rows {
		out[i] = SubmissionExecution{ID: r.ID, WorkflowID: r.WorkflowID, WorkflowName: r.WorkflowName,
			Version: r.Version, Status: r.Status, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt}
		if r.Error != nil {
			out[i].Error = *r.Error
		}
	}
	return out, nil
}

// FormSubmissionFiles lists a submission's live files.
func (s *Store) FormSubmissionFiles(ctx context.Context, orgID, submissionID uuid.UUID) ([]Upload, error) {
	rows, err := s.q.FormSubmissionFiles(ctx, db.FormSubmissionFilesParams{OrganizationID: orgID,
		FormSubmissionID: submissionID})
	if err != nil {
		return nil, interpret(err, "submission files")
	}
	out := make([]Upload, len(rows))
	for i, r := range rows {
		out[i] = uploadFromRow(r)
	}
	return out, nil
}

// FormSubmissionDelete deletes a submission, audited, and gives its place under the form's limit back. Its files
// are expired in the same transaction and their storage keys returned, as FormDelete does. The executions it
// started stay: they are the workflows' history.
func (s *Store) FormSubmissionDelete(ctx context.Context, by Actor, orgID, formID, id uuid.UUID) ([]string, error) {
	var keys []string
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		if keys, err = q.FormSubmissionExpireFiles(ctx, db.FormSubmissionExpireFilesParams{OrganizationID: orgID,
			FormSubmissionID: id}); err != nil {
			return interpret(err, "submission files")
		}
		n, err := q.FormSubmissionDelete(ctx, db.FormSubmissionDeleteParams{ID: id, FormID: formID, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "submission")
		}
		if n == 0 {
			// Also undoes the expiry above: a submission of another form or organization keeps its files.
			return fault.New(fault.NotFound, "submission not found")
		}
		if err := q.FormReleaseSubmission(ctx, db.FormReleaseSubmissionParams{Released: 1, ID: formID,
			OrganizationID: orgID}); err != nil {
			return interpret(err, "form")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "form.submission.delete",
			TargetType: "form_submission", TargetID: id.String(),
			Before: map[string]any{"form_id": formID, "files": len(keys)}})
	})
	return keys, err
}
