package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

func (b testBundle) form(t *testing.T, slug string, settings store.FormSettings) store.Form {
	t.Helper()
	f, err := b.store.FormCreate(context.Background(), store.Actor{UserID: &b.user.ID}, b.org.ID, store.FormInput{
		Name: "Feedback", Slug: slug, Published: true, Settings: settings,
		Fields: []store.FormField{{Name: "text", Label: "Text", Type: store.FieldText}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func submit(ctx context.Context, st *store.Store, formID uuid.UUID, files ...store.ReceivedFile) (store.FormSubmission, []uuid.UUID, error) {
	return st.FormSubmit(ctx, store.NewFormSubmission{FormID: formID, Data: json.RawMessage(`{"text":"hi"}`), Files: files})
}

func TestFormSubmitHoldsTheLimitUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	limit := 3
	f := b.form(t, "limited", store.FormSettings{SubmissionLimit: &limit})

	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, closed := 0, 0
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := submit(ctx, b.store, f.ID)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case errors.Is(err, store.ErrFormClosed) && fault.CodeOf(err) == fault.Conflict:
				closed++
			default:
				t.Errorf("submit: %v", err)
			}
		}()
	}
	wg.Wait()
	if accepted != limit || closed != 12-limit {
		t.Fatalf("accepted %d and closed %d of 12 with a limit of %d", accepted, closed, limit)
	}
	got, err := b.store.FormGet(ctx, b.org.ID, f.ID)
	if err != nil || got.SubmissionCount != limit || !got.Closed(time.Now()) {
		t.Fatalf("form after the rush: %+v %v", got, err)
	}

	// Deleting a submission gives its place back.
	subs, err := b.store.FormSubmissionList(ctx, b.org.ID, f.ID, store.SubmissionFilter{})
	if err != nil || len(subs) != limit {
		t.Fatalf("list: %d %v", len(subs), err)
	}
	if _, err := b.store.FormSubmissionDelete(ctx, store.SystemActor, b.org.ID, f.ID, subs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := submit(ctx, b.store, f.ID); err != nil {
		t.Errorf("submit after a delete: %v", err)
	}
	// Another organization cannot delete it.
	if _, err := b.store.FormSubmissionDelete(ctx, store.SystemActor, uuid.New(), f.ID, subs[1].ID); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("cross-tenant delete: %v", err)
	}
}

func TestFormSubmitRefusesClosedAndUnpublishedForms(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	closedForm := b.form(t, "closed", store.FormSettings{CloseAt: &past})
	if _, _, err := submit(ctx, b.store, closedForm.ID); !errors.Is(err, store.ErrFormClosed) {
		t.Errorf("submit past the close date: %v", err)
	}
	draft := b.form(t, "draft", store.FormSettings{})
	if _, err := b.store.FormSetPublished(ctx, store.SystemActor, b.org.ID, draft.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := submit(ctx, b.store, draft.ID); !errors.Is(err, store.ErrFormClosed) {
		t.Errorf("submit to a draft: %v", err)
	}
	if n, err := b.store.FormSubmissionList(ctx, b.org.ID, draft.ID, store.SubmissionFilter{}); err != nil || len(n) != 0 {
		t.Errorf("a refused submission was stored: %v %v", n, err)
	}
}

func TestFormSubmitStartsOnlyActiveWorkflowsNamingTheForm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := b.form(t, "orders", store.FormSettings{})
	flow := func(formRef string, active bool) uuid.UUID {
		def := `{"nodes":[{"id":"f","type":"trigger.form","config":{"form_id":"` + formRef + `"}}],"edges":[]}`
		wf, err := b.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID, Name: "On " + formRef,
			Definition: json.RawMessage(def)})
		if err != nil {
			t.Fatal(err)
		}
		if active {
			if _, err := b.store.WorkflowSetActive(ctx, store.SystemActor, b.org.ID, wf.ID, true, nil); err != nil {
				t.Fatal(err)
			}
		}
		return wf.ID
	}
	byID, bySlug := flow(f.ID.String(), true), flow("orders", true)
	flow(f.ID.String(), false)
	flow("another-form", true)
	archived := flow(f.ID.String(), true)
	if _, err := b.store.WorkflowArchive(ctx, store.SystemActor, b.org.ID, archived); err != nil {
		t.Fatal(err)
	}

	sub, started, err := submit(ctx, b.store, f.ID)
	if err != nil || len(started) != 2 {
		t.Fatalf("started %v, %v", started, err)
	}
	execs, err := b.store.FormSubmissionExecutions(ctx, b.org.ID, sub.ID)
	if err != nil || len(execs) != 2 {
		t.Fatalf("executions of the submission: %v %v", execs, err)
	}
	seen := map[uuid.UUID]bool{}
	for _, e := range execs {
		seen[e.WorkflowID] = true
		exec, err := b.store.ExecutionGet(ctx, b.org.ID, e.ID)
		if err != nil || exec.TriggerKind != "form" || exec.Status != store.StatusQueued {
			t.Errorf("execution %+v %v", exec, err)
		}
		var trigger struct {
			FormID       uuid.UUID       `json:"form_id"`
			SubmissionID uuid.UUID       `json:"submission_id"`
			Data         json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(exec.TriggerData, &trigger); err != nil || trigger.FormID != f.ID ||
			trigger.SubmissionID != sub.ID || string(trigger.Data) != `{"text": "hi"}` {
			t.Errorf("trigger data %s (%v)", exec.TriggerData, err)
		}
	}
	if !seen[byID] || !seen[bySlug] {
		t.Errorf("started workflows %v, want %s and %s", seen, byID, bySlug)
	}
}

func TestDeletingFormsExpiresTheirFiles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := b.form(t, "files", store.FormSettings{})
	file := store.ReceivedFile{Field: "text", StorageKey: "0123456789abcdef0123456789abcdef", Filename: "a.txt",
		ContentType: "text/plain", Size: 2, SHA256: make([]byte, 32)}
	sub, _, err := submit(ctx, b.store, f.ID, file)
	if err != nil {
		t.Fatal(err)
	}
	files, err := b.store.FormSubmissionFiles(ctx, b.org.ID, sub.ID)
	if err != nil || len(files) != 1 || files[0].Source != store.UploadSourceForm || *files[0].FormSubmissionID != sub.ID {
		t.Fatalf("files %+v %v", files, err)
	}
	keys, err := b.store.FormDelete(ctx, store.SystemActor, b.org.ID, f.ID)
	if err != nil || len(keys) != 1 || keys[0] != file.StorageKey {
		t.Fatalf("delete: %v %v", keys, err)
	}
	// The file's row outlives the submission, expired, for the sweep to delete the file and then the row.
	expired, err := b.store.UploadsExpired(ctx, time.Now().Add(time.Second), 10)
	if err != nil || len(expired) != 1 || expired[0].StorageKey != file.StorageKey {
		t.Errorf("expired files %+v %v", expired, err)
	}
	if _, err := b.store.FormGet(ctx, b.org.ID, f.ID); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("deleted form: %v", err)
	}
}
