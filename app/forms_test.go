package app_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// formsBundle is what the forms tests work on: the use cases over a real database and real local storage, and a
// caller of each role in organization A plus the owner of organization B.
type formsBundle struct {
	app     *app.App
	pool    *pgxpool.Pool
	files   *storage.Local
	callers map[string]app.Caller // owner, admin, member, viewer, outsider
}

func setupForms(t *testing.T) *formsBundle {
	t.Helper()
	ctx := context.Background()
	st, pool := newStore(t)
	files, err := storage.NewLocal(t.TempDir(), storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := &formsBundle{app: app.New(app.Config{Store: st, Files: files}), pool: pool, files: files,
		callers: map[string]app.Caller{}}
	for _, who := range []string{"owner", "admin", "member", "viewer", "outsider"} {
		role, org := store.Role(who), "Acme"
		if who == "outsider" {
			role, org = store.RoleOwner, "Other"
		}
		u, o, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: who + "@example.com", Name: who,
			PasswordHash: "x", OrganizationName: org, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		b.callers[who] = app.Caller{Principal: authz.Principal{UserID: u.ID, OrgID: o.ID, Role: authz.Role(role),
			Session: true}, Actor: store.Actor{UserID: &u.ID}, UserName: u.Name, OrgName: o.Name}
	}
	return b
}

// feedbackForm is a form input with one required e-mail field.
func feedbackForm(name string) store.FormInput {
	in := app.NewFormInput()
	in.Name = name
	in.Fields = []store.FormField{{Name: "email", Label: "E-mail", Type: store.FieldEmail, Required: true}}
	return in
}

// TestFormsAuthorization walks who may do what to a form a member created: its creator and admins manage it,
// everyone in the organization reads it, another organization does not see it at all.
func TestFormsAuthorization(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupForms(t)
	forms := b.app.Forms
	if _, err := forms.Create(ctx, b.callers["viewer"], feedbackForm("Nope")); fault.CodeOf(err) != fault.Forbidden {
		t.Fatalf("a viewer created a form: %v", err)
	}
	form, err := forms.Create(ctx, b.callers["member"], feedbackForm("  Feedback  "))
	if err != nil {
		t.Fatal(err)
	}
	if form.Name != "Feedback" || !strings.HasPrefix(form.Slug, "feedback-") ||
		form.Settings.SuccessMessage != app.DefaultSuccessMessage {
		t.Fatalf("created %+v", form)
	}
	tests := []struct {
		who  string
		a    authz.Action
		code fault.Code
	}{
		{"member", authz.FormsManage, ""},
		{"admin", authz.FormsManage, ""},
		{"viewer", authz.FormsView, ""},
		{"viewer", authz.FormsManage, fault.Forbidden},
		{"outsider", authz.FormsView, fault.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+string(tt.a), func(t *testing.T) {
			_, err := forms.Get(ctx, b.callers[tt.who], form.ID, tt.a)
			if fault.CodeOf(err) != tt.code && !(tt.code == "" && err == nil) {
				t.Fatalf("err %v, want %q", err, tt.code)
			}
		})
	}
	in := feedbackForm("Renamed")
	in.Slug = form.Slug
	if _, err := forms.Update(ctx, b.callers["viewer"], form.ID, in); fault.CodeOf(err) != fault.Forbidden {
		t.Fatalf("a viewer changed the form: %v", err)
	}
	if _, err := forms.SetPublished(ctx, b.callers["outsider"], form.ID, true); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("an outsider published the form: %v", err)
	}
	if err := forms.Delete(ctx, b.callers["outsider"], form.ID); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("an outsider deleted the form: %v", err)
	}
	if list, err := forms.List(ctx, b.callers["outsider"], store.FormFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("an outsider lists %d forms, %v", len(list), err)
	}
	if list, err := forms.List(ctx, b.callers["viewer"], store.FormFilter{}); err != nil || len(list) != 1 {
		t.Fatalf("a viewer lists %d forms, %v", len(list), err)
	}
}

// TestFormsValidation checks that Create and Update refuse a bad schema naming the field, that an empty form is not
// published, and that a draft is not public.
func TestFormsValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupForms(t)
	forms, owner := b.app.Forms, b.callers["owner"]
	bad := feedbackForm("Bad")
	bad.Fields[0].Name = "1st"
	_, err := forms.Create(ctx, owner, bad)
	wantFault(t, err, fault.Invalid, "fields.0.name")

	empty := app.NewFormInput()
	empty.Name, empty.Slug = "Empty", "empty"
	form, err := forms.Create(ctx, owner, empty)
	if err != nil {
		t.Fatal(err)
	}
	_, err = forms.Create(ctx, owner, empty)
	wantFault(t, err, fault.Invalid, "slug")
	_, err = forms.SetPublished(ctx, owner, form.ID, true)
	wantFault(t, err, fault.Conflict, "")
	if _, err := forms.Public(ctx, "empty"); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("a draft is public: %v", err)
	}
	in := feedbackForm("Empty no more")
	in.Slug, in.Settings.RedirectURL = "empty", "javascript:alert(1)"
	_, err = forms.Update(ctx, owner, form.ID, in)
	wantFault(t, err, fault.Invalid, "settings.redirect_url")
	in.Settings.RedirectURL = ""
	if _, err := forms.Update(ctx, owner, form.ID, in); err != nil {
		t.Fatal(err)
	}
	if _, err := forms.SetPublished(ctx, owner, form.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, err := forms.Public(ctx, "empty"); err != nil || got.ID != form.ID {
		t.Fatalf("published form: %+v, %v", got, err)
	}
	if _, err := forms.Public(ctx, "../EMPTY"); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("a malformed address: %v", err)
	}
}

// TestFormsSubmissions accepts public submissions (one refused by the schema), then reads, exports and deletes
// them as the organization would, a file of a deleted form leaving storage at once.
func TestFormsSubmissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupForms(t)
	forms, owner, viewer, outsider := b.app.Forms, b.callers["owner"], b.callers["viewer"], b.callers["outsider"]
	in := feedbackForm("Applications")
	in.Published, in.Settings.SubmissionLimit = true, new(1)
	in.Fields = append(in.Fields, store.FormField{Name: "cv", Label: "CV", Type: store.FieldFile})
	form, err := forms.Create(ctx, owner, in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = forms.Accept(ctx, form, app.PublicSubmission{Values: url.Values{"email": {"not an address"}}})
	wantFault(t, err, fault.Invalid, "email")
	obj, err := b.files.PutObject(ctx, "cv.txt", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	cv := &store.ReceivedFile{ID: uuid.New(), Field: "cv", StorageKey: obj.Key, Filename: "cv.txt",
		ContentType: "text/plain", Size: obj.Size, SHA256: obj.SHA256}
	sub, err := forms.Accept(ctx, form, app.PublicSubmission{Values: url.Values{"email": {"ada@example.com"}},
		Files: map[string]*store.ReceivedFile{"cv": cv}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = forms.Accept(ctx, form, app.PublicSubmission{Values: url.Values{"email": {"bob@example.com"}}})
	if !errors.Is(err, store.ErrFormClosed) {
		t.Fatalf("a submission past the limit: %v", err)
	}

	if subs, err := forms.Submissions(ctx, viewer, form.ID, store.SubmissionFilter{}); err != nil || len(subs) != 1 {
		t.Fatalf("a viewer lists %d submissions, %v", len(subs), err)
	}
	if _, err := forms.Submissions(ctx, outsider, form.ID, store.SubmissionFilter{}); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("an outsider lists submissions: %v", err)
	}
	d, err := forms.Submission(ctx, viewer, form.ID, sub.ID)
	if err != nil || len(d.Files) != 1 || d.Form.ID != form.ID {
		t.Fatalf("detail %+v, %v", d, err)
	}
	if f, err := forms.SubmissionFile(ctx, viewer, form.ID, sub.ID, cv.ID); err != nil || f.StorageKey != obj.Key {
		t.Fatalf("file %+v, %v", f, err)
	}
	if _, err := forms.SubmissionFile(ctx, viewer, form.ID, sub.ID, uuid.New()); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("an unknown file: %v", err)
	}
	if _, err := forms.Submission(ctx, outsider, form.ID, sub.ID); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("an outsider reads a submission: %v", err)
	}
	if err := forms.DeleteSubmission(ctx, viewer, form.ID, sub.ID); fault.CodeOf(err) != fault.Forbidden {
		t.Fatalf("a viewer deletes a submission: %v", err)
	}

	export, err := forms.Export(ctx, viewer, form.ID, store.SubmissionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	exported := 0
	for page, err := range export.Pages {
		if err != nil {
			t.Fatal(err)
		}
		exported += len(page)
	}
	var audited int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'form.submissions.export'").
		Scan(&audited); err != nil || exported != 1 || audited != 1 {
		t.Fatalf("exported %d, audited %d, %v", exported, audited, err)
	}

	if err := forms.Delete(ctx, owner, form.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.files.Stat(ctx, obj.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the deleted form's file is still stored: %v", err)
	}
	if _, err := forms.Public(ctx, form.Slug); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("a deleted form is public: %v", err)
	}
}
