package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

const (
	testSecretKey     = "integration-test-secret-key-0123456789abcdef"
	testPreviousKey   = "integration-test-previous-key-0123456789abcd"
	smtpConfigJSON    = `{"host":"smtp.example.com","port":587,"username":"mailer","from":"Shop <shop@example.com>"}`
	smtpSecretsJSON   = `{"password":"hunter2"}`
	httpBearerConfig  = `{"auth":"bearer","base_url":"https://api.example.com"}`
	httpBearerSecrets = `{"token":"tok-123"}`
)

type integrationBundle struct {
	store        *store.Store
	integrations *store.IntegrationStore
	org, other   store.Organization
	user         store.User
}

func integrationSetup(t *testing.T, keys *secrets.Keyring) integrationBundle {
	t.Helper()
	pool, _ := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	user, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "ada@example.com", Name: "Ada",
		PasswordHash: "x", OrganizationName: "Acme", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "eve@example.com", Name: "Eve",
		PasswordHash: "x", OrganizationName: "Evil Corp", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	if keys == nil {
		keys = mustKeyring(t, testSecretKey, "")
	}
	return integrationBundle{store: st, integrations: store.NewIntegrationStore(st, keys), org: org, other: other, user: user}
}

func mustKeyring(t *testing.T, current, previous string) *secrets.Keyring {
	t.Helper()
	k, err := secrets.NewKeyring("integrations", current, previous)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (b integrationBundle) create(t *testing.T, name, kind, config, secretJSON string) store.Integration {
	t.Helper()
	in, err := b.integrations.Create(context.Background(), store.NewIntegration{OrganizationID: b.org.ID, Name: name,
		Kind: kind, Config: json.RawMessage(config), Secrets: json.RawMessage(secretJSON), CreatedBy: &b.user.ID},
		store.Actor{UserID: &b.user.ID, RequestID: "test"})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return in
}

func TestIntegrationsKeepSecretsSealedAndScoped(t *testing.T) {
	t.Parallel()
	b := integrationSetup(t, nil)
	ctx := context.Background()
	smtp := b.create(t, "Mail", actions.KindSMTP, smtpConfigJSON, smtpSecretsJSON)
	if !smtp.HasSecrets || strings.Contains(string(smtp.Config), "hunter2") {
		t.Fatalf("created %+v", smtp)
	}

	// The row holds ciphertext only.
	var sealed []byte
	if err := b.store.Pool().QueryRow(ctx, "SELECT secret_ciphertext FROM integrations WHERE id = $1", smtp.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if len(sealed) == 0 || bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatalf("secret stored in the clear: %q", sealed)
	}

	got, err := b.integrations.Get(ctx, b.org.ID, smtp.ID)
	if err != nil || strings.Contains(string(got.Config), "hunter2") || got.Name != "Mail" {
		t.Fatalf("get %+v %v", got, err)
	}
	list, err := b.integrations.List(ctx, b.org.ID, store.IntegrationFilter{})
	if err != nil || len(list) != 1 || strings.Contains(string(list[0].Config), "hunter2") {
		t.Fatalf("list %+v %v", list, err)
	}
	if l, _ := b.integrations.List(ctx, b.org.ID, store.IntegrationFilter{Kind: actions.KindHTTP}); len(l) != 0 {
		t.Errorf("kind filter: %+v", l)
	}

	// The runtime gets config and secrets merged; another organization gets nothing.
	run, err := b.integrations.IntegrationForRun(ctx, b.org.ID, smtp.ID)
	if err != nil {
		t.Fatal(err)
	}
	var settings actions.SMTPSettings
	if err := json.Unmarshal(run.Settings, &settings); err != nil || settings.Password != "hunter2" || settings.Host != "smtp.example.com" {
		t.Fatalf("settings for run %s: %v", run.Settings, err)
	}
	for name, call := range map[string]func() error{
		"get":     func() error { _, err := b.integrations.Get(ctx, b.other.ID, smtp.ID); return err },
		"secrets": func() error { _, err := b.integrations.Secrets(ctx, b.other.ID, smtp.ID); return err },
		"run":     func() error { _, err := b.integrations.IntegrationForRun(ctx, b.other.ID, smtp.ID); return err },
		"delete":  func() error { return b.integrations.Delete(ctx, b.other.ID, smtp.ID, store.SystemActor) },
		"update": func() error {
			_, err := b.integrations.Update(ctx, store.IntegrationUpdate{OrganizationID: b.other.ID, ID: smtp.ID,
				Name: "stolen", Config: json.RawMessage(smtpConfigJSON)}, store.SystemActor)
			return err
		},
	} {
		if err := call(); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("cross-tenant %s: %v", name, err)
		}
	}

	// The audit log records the change without the secret.
	var audited string
	if err := b.store.Pool().QueryRow(ctx, "SELECT after::text FROM audit_log WHERE action = 'integration.created'").Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(audited, "hunter2") || !strings.Contains(audited, "Mail") {
		t.Errorf("audit row %s", audited)
	}

	// Update without secrets keeps them; a patch replaces one; null removes it.
	up, err := b.integrations.Update(ctx, store.IntegrationUpdate{OrganizationID: b.org.ID, ID: smtp.ID, Name: "Mail 2",
		Config: json.RawMessage(smtpConfigJSON), RateLimit: 10, RateInterval: time.Minute}, store.SystemActor)
	if err != nil || up.Name != "Mail 2" || up.RateLimit != 10 || up.RateInterval != time.Minute {
		t.Fatalf("update %+v %v", up, err)
	}
	if s, _ := b.integrations.Secrets(ctx, b.org.ID, smtp.ID); string(s) != smtpSecretsJSON {
		t.Errorf("secrets after update %s", s)
	}
	if _, err := b.integrations.Update(ctx, store.IntegrationUpdate{OrganizationID: b.org.ID, ID: smtp.ID, Name: "Mail 2",
		Config: json.RawMessage(smtpConfigJSON), Secrets: json.RawMessage(`{"password":"correct horse"}`)}, store.SystemActor); err != nil {
		t.Fatal(err)
	}
	if s, _ := b.integrations.Secrets(ctx, b.org.ID, smtp.ID); string(s) != `{"password":"correct horse"}` {
		t.Errorf("secrets after patch %s", s)
	}
	run, _ = b.integrations.IntegrationForRun(ctx, b.org.ID, smtp.ID)
	if run.RateLimit != 0 {
		t.Errorf("rate limit not cleared: %+v", run)
	}

	if err := b.integrations.Delete(ctx, b.org.ID, smtp.ID, store.SystemActor); err != nil {
		t.Fatal(err)
	}
	if _, err := b.integrations.Get(ctx, b.org.ID, smtp.ID); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("after delete: %v", err)
	}
}

func TestIntegrationsRefuseInvalidSettings(t *testing.T) {
	t.Parallel()
	b := integrationSetup(t, nil)
	ctx := context.Background()
	for name, in := range map[string]store.NewIntegration{
		"unknown kind":       {Kind: "ftp", Config: json.RawMessage(`{}`)},
		"bad smtp":           {Kind: actions.KindSMTP, Config: json.RawMessage(`{"host":"","from":"x"}`)},
		"secret in config":   {Kind: actions.KindSMTP, Config: json.RawMessage(`{"host":"h","from":"a@b.c","password":"p"}`), Secrets: json.RawMessage(`{"password":"p"}`)},
		"bearer no token":    {Kind: actions.KindHTTP, Config: json.RawMessage(`{"auth":"bearer"}`)},
		"not an object":      {Kind: actions.KindHTTP, Config: json.RawMessage(`[1]`)},
		"rate without range": {Kind: actions.KindHTTP, Config: json.RawMessage(`{"auth":"none"}`), RateLimit: 5},
	} {
		in.OrganizationID, in.Name = b.org.ID, name
		if _, err := b.integrations.Create(ctx, in, store.SystemActor); fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	b.create(t, "API", actions.KindHTTP, httpBearerConfig, httpBearerSecrets)
	_, err := b.integrations.Create(ctx, store.NewIntegration{OrganizationID: b.org.ID, Name: "API", Kind: actions.KindHTTP,
		Config: json.RawMessage(httpBearerConfig), Secrets: json.RawMessage(httpBearerSecrets)}, store.SystemActor)
	if fault.CodeOf(err) != fault.Conflict {
		t.Errorf("duplicate name: %v", err)
	}
}

func TestIntegrationSecretsSurviveKeyRotation(t *testing.T) {
	t.Parallel()
	// Sealed under the key that becomes SECRET_KEY_PREVIOUS.
	b := integrationSetup(t, mustKeyring(t, testPreviousKey, ""))
	ctx := context.Background()
	in := b.create(t, "API", actions.KindHTTP, httpBearerConfig, httpBearerSecrets)

	newOnly := store.NewIntegrationStore(b.store, mustKeyring(t, testSecretKey, ""))
	if _, err := newOnly.IntegrationForRun(ctx, b.org.ID, in.ID); fault.CodeOf(err) != fault.Unavailable ||
		!strings.Contains(err.Error(), "SECRET_KEY_PREVIOUS") {
		t.Fatalf("without the previous key: %v", err)
	}

	rotating := mustKeyring(t, testSecretKey, testPreviousKey)
	during := store.NewIntegrationStore(b.store, rotating)
	run, err := during.IntegrationForRun(ctx, b.org.ID, in.ID)
	if err != nil || !strings.Contains(string(run.Settings), "tok-123") {
		t.Fatalf("with the previous key: %s %v", run.Settings, err)
	}
	// A write re-seals under the new key, after which the previous key is no longer needed.
	if _, err := during.Update(ctx, store.IntegrationUpdate{OrganizationID: b.org.ID, ID: in.ID, Name: "API",
		Config: json.RawMessage(httpBearerConfig)}, store.SystemActor); err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	_ = b.store.Pool().QueryRow(ctx, "SELECT secret_ciphertext FROM integrations WHERE id = $1", in.ID).Scan(&sealed)
	if rotating.NeedsReseal(sealed) {
		t.Error("update did not re-seal under the new key")
	}
	if run, err := newOnly.IntegrationForRun(ctx, b.org.ID, in.ID); err != nil || !strings.Contains(string(run.Settings), "tok-123") {
		t.Fatalf("after re-seal, new key alone: %v", err)
	}

	// A sealed value copied onto another integration's row does not open there.
	other := b.create(t, "API 2", actions.KindHTTP, `{"auth":"none"}`, "")
	if _, err := b.store.Pool().Exec(ctx, "UPDATE integrations SET secret_ciphertext = $1 WHERE id = $2", sealed, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := newOnly.IntegrationForRun(ctx, b.org.ID, other.ID); err == nil || !errors.Is(err, secrets.ErrCorrupt) {
		t.Errorf("copied ciphertext: %v", err)
	}
}

func TestRateLimitIsSharedByWorkers(t *testing.T) {
	t.Parallel()
	b := integrationSetup(t, nil)
	in := b.create(t, "API", actions.KindHTTP, `{"auth":"none"}`, "")
	const limit, attempts = 7, 40
	// Two workers, each with its own limiter over the same database, race for one window.
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		limiter := b.store.IntegrationRateLimiter()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < attempts/2; i++ {
				ok, wait, err := limiter.Allow(context.Background(), actions.IntegrationRateKey(in.ID.String()), limit, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok && (wait <= 0 || wait > time.Hour) {
					t.Errorf("refused with wait %s", wait)
				}
				if ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// Windows are hour-aligned on the database's clock; the test could straddle a boundary, so count per window.
	rows, err := b.store.Pool().Query(context.Background(), "SELECT used FROM integration_rate_windows WHERE integration_id = $1", in.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var used int
		_ = rows.Scan(&used)
		if used > limit {
			t.Errorf("a window counted %d requests, over the limit of %d", used, limit)
		}
		total += used
	}
	if allowed < limit || allowed > 2*limit || allowed != total {
		t.Errorf("allowed %d (windows counted %d), limit %d", allowed, total, limit)
	}
}

func TestIntegrationRateLimiterRefunds(t *testing.T) {
	t.Parallel()
	b := integrationSetup(t, nil)
	ctx := context.Background()
	l := b.store.IntegrationRateLimiter()
	// A window of a year: the test cannot straddle two of them (windows are aligned on the database's clock).
	const window = 365 * 24 * time.Hour
	allows := func(key string) bool {
		t.Helper()
		ok, _, err := l.Allow(ctx, key, 2, window)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	refund := func(key string) {
		t.Helper()
		if err := l.Refund(ctx, key); err != nil {
			t.Fatal(err)
		}
	}

	full := actions.IntegrationRateKey(b.create(t, "Full", actions.KindHTTP, `{"auth":"none"}`, "").ID.String())
	if !allows(full) || !allows(full) || allows(full) {
		t.Fatal("a limit of 2 did not hold")
	}
	refund(full)
	if !allows(full) || allows(full) {
		t.Error("a refund did not free exactly one place")
	}

	// A refund of the window's only request, and refunds with nothing counted, leave the full limit.
	once := actions.IntegrationRateKey(b.create(t, "Once", actions.KindHTTP, `{"auth":"none"}`, "").ID.String())
	allows(once)
	for range 3 {
		refund(once)
	}
	if !allows(once) || !allows(once) || allows(once) {
		t.Error("refunds below zero gave credit")
	}

	if _, _, err := l.Allow(ctx, "hook:x", 2, window); err == nil {
		t.Error("a key that is not an integration's was counted")
	}
}

func TestUploadsAndDeliveriesAreScopedAndSwept(t *testing.T) {
	t.Parallel()
	b := integrationSetup(t, nil)
	ctx := context.Background()
	files, err := storage.NewLocal(t.TempDir(), storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exec := b.execution(t)

	obj, err := files.PutObject(ctx, "orders.csv", "text/csv", strings.NewReader("a,b\n1,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	future := time.Now().Add(time.Hour)
	id, err := b.store.ExportCreate(ctx, actions.ExportedFile{OrganizationID: b.org.ID, ExecutionID: &exec, StorageKey: obj.Key,
		Filename: "orders.csv", ContentType: "text/csv", Size: obj.Size, SHA256: obj.SHA256, ExpiresAt: &future})
	if err != nil {
		t.Fatal(err)
	}
	up, err := b.store.UploadGet(ctx, b.org.ID, id)
	if err != nil || up.Source != store.UploadSourceExport || up.Size != obj.Size || !bytes.Equal(up.SHA256, obj.SHA256) {
		t.Fatalf("upload %+v %v", up, err)
	}
	if _, err := b.store.UploadGet(ctx, b.other.ID, id); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("cross-tenant get: %v", err)
	}
	if f, err := b.store.FileByStorageKey(ctx, b.org.ID, obj.Key); err != nil || f.ID != id {
		t.Errorf("by key: %+v %v", f, err)
	}
	if _, err := b.store.FileByStorageKey(ctx, b.other.ID, obj.Key); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("cross-tenant by key: %v", err)
	}
	if list, err := b.store.UploadListForExecution(ctx, b.org.ID, exec); err != nil || len(list) != 1 {
		t.Errorf("for execution: %+v %v", list, err)
	}

	// An expired file is invisible at once and gone after the sweep, file included.
	old, _ := files.PutObject(ctx, "old.json", "application/json", strings.NewReader("[]"))
	oldID, err := b.store.ExportCreate(ctx, actions.ExportedFile{OrganizationID: b.org.ID, StorageKey: old.Key,
		Filename: "old.json", ContentType: "application/json", Size: old.Size, SHA256: old.SHA256, ExpiresAt: &past})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.UploadGet(ctx, b.org.ID, oldID); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("expired file still visible: %v", err)
	}
	n, err := b.store.SweepExpiredUploads(ctx, files, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("sweep %d %v", n, err)
	}
	if _, err := files.Open(ctx, old.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("expired file not deleted: %v", err)
	}
	if _, err := files.Open(ctx, obj.Key); err != nil {
		t.Errorf("live file deleted: %v", err)
	}

	// Deliveries: started, finished, listed for their execution only in their organization.
	intg := b.create(t, "Mail", actions.KindSMTP, smtpConfigJSON, smtpSecretsJSON)
	claim, err := b.store.EmailDeliveryStart(ctx, actions.EmailDelivery{OrganizationID: b.org.ID, ExecutionID: &exec,
		NodeID: "mail", IntegrationID: &intg.ID, Recipients: []string{"bob@example.com"}, Subject: "Hi"})
	if err != nil || !claim.Send || claim.Previous != "" {
		t.Fatal(claim, err)
	}
	did := claim.ID
	if err := b.store.EmailDeliveryFinish(ctx, b.org.ID, did, actions.EmailDeliveryResult{Status: actions.DeliverySent,
		MessageID: "<x@example.com>", SMTPReply: "250 queued"}); err != nil {
		t.Fatal(err)
	}
	ds, err := b.store.EmailDeliveryListForExecution(ctx, b.org.ID, exec)
	if err != nil || len(ds) != 1 || ds[0].Status != "sent" || ds[0].MessageID != "<x@example.com>" || ds[0].NodeID != "mail" {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	if ds, _ := b.store.EmailDeliveryListForExecution(ctx, b.other.ID, exec); len(ds) != 0 {
		t.Errorf("cross-tenant deliveries: %+v", ds)
	}
}

// execution creates a workflow and one execution of it, returning the execution's id.
func (b integrationBundle) execution(t *testing.T) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	wf, err := b.store.WorkflowCreate(ctx, store.Actor{}, store.NewWorkflow{OrganizationID: b.org.ID, Name: fmt.Sprintf("wf-%s", uuid.NewString()[:8]),
		Definition: json.RawMessage(definition), AuthorID: &b.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	head, err := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	e, err := b.store.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: wf.ID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual", TriggerData: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}
