package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/sql/store"
)

// TestRenderAlertOfAStoredTrigger: a message about trigger data kept in the file storage shows what the store gave
// of its body, says it is cut and of how many bytes, and a whole short body is not called cut.
func TestRenderAlertOfAStoredTrigger(t *testing.T) {
	t.Parallel()
	a := store.Alert{OrganizationID: uuid.New(), Event: "failed", WorkflowName: "Orders", Occurrences: 1,
		Trigger: json.RawMessage(`{"text":"xxxx`), TriggerCut: true, TriggerStoredSize: 5000}
	r := renderAlert("https://cm.example.com", a, false, 1024)
	var w WebhookNotification
	if err := json.Unmarshal(webhookPayload("k", r), &w); err != nil {
		t.Fatal(err)
	}
	if w.Trigger != `{"text":"xxxx` || !w.TriggerTruncated || w.TriggerSize != 5000 ||
		!strings.Contains(r.Text, "Trigger data (the first 13 of 5000 bytes):") || !strings.Contains(r.HTML, "the first 13 of 5000 bytes") {
		t.Errorf("cut stored body: %+v\n%s", w, r.Text)
	}
	a.Trigger, a.TriggerCut = json.RawMessage(`{"n":1}`), false
	r = renderAlert("https://cm.example.com", a, false, 1024)
	if r.Trigger != `{"n":1}` || r.Truncated || strings.Contains(r.Text, "the first") {
		t.Errorf("whole stored body: %+v", r)
	}
	r = renderAlert("https://cm.example.com", a, false, 3) // cut by NOTIFICATION_TRIGGER_MAX_BYTES
	if r.Trigger != `{"n` || !r.Truncated || r.Size != 5000 {
		t.Errorf("a stored body cut at the message's limit: %+v", r)
	}
}
