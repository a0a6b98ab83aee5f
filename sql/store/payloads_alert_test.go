package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestAlertOfAStoredTrigger: an alert whose last execution's trigger data was kept in the file storage carries
// neither the storage's reference nor what follows the body (a webhook's headers): the start of the body as the
// reference's preview shows it, whether it is cut, and the stored size.
func TestAlertOfAStoredTrigger(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	files, err := storage.NewLocal(t.TempDir(), storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	b.store.UsePayloads(files, 1024)
	wf := b.workflow(t)
	head, err := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	alertOf := func(trigger string) store.Alert {
		t.Helper()
		e, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID,
			WorkflowID: wf.ID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "webhook",
			TriggerData: json.RawMessage(trigger)})
		if err != nil {
			t.Fatal(err)
		}
		if row, _ := b.store.ExecutionGet(ctx, b.org.ID, e.ID); store.ParsePayloadRef(row.TriggerData) == nil {
			t.Fatalf("the trigger data was not offloaded: %.100s", row.TriggerData)
		}
		var id uuid.UUID
		if err := b.store.Pool().QueryRow(ctx, `INSERT INTO notifications (organization_id, workflow_id, event, first_at,
			last_at, last_execution_id, send_at) VALUES ($1, $2, 'failed', now(), now(), $3, now()) RETURNING id`,
			b.org.ID, wf.ID, e.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		a, err := b.store.AlertGet(ctx, b.org.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if s := string(a.Trigger); strings.Contains(s, "$payload") || strings.Contains(s, "sha256") || strings.Contains(s, "secret") {
			t.Errorf("the alert carries the reference or the headers: %.200s", s)
		}
		if a.TriggerStoredSize != int64(len(trigger)) {
			t.Errorf("stored size %d, want %d", a.TriggerStoredSize, len(trigger))
		}
		return a
	}

	long := alertOf(`{"body":{"text":"` + strings.Repeat("x", 3000) + `"},"headers":{"authorization":"secret"}}`)
	if !long.TriggerCut || !strings.HasPrefix(string(long.Trigger), `{"text":"xxx`) || len(long.Trigger) > 1024 {
		t.Errorf("a long body: cut %v, %.100s", long.TriggerCut, long.Trigger)
	}
	short := alertOf(`{"body":{"n":1},"headers":{"authorization":"secret","x-padding":"` + strings.Repeat("p", 3000) + `"}}`)
	if short.TriggerCut || string(short.Trigger) != `{"n":1}` {
		t.Errorf("a short body before large headers: cut %v, %.100s", short.TriggerCut, short.Trigger)
	}
}
