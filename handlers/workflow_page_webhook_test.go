package handlers

import (
	"strings"
	"testing"
)

// TestWorkflowPageShowsTheWebhookOnlyForAWebhookTrigger: the workflow's details show a webhook URL and secret only
// when its trigger is a webhook, and ask callers to sign their calls only when the trigger checks signatures.
func TestWorkflowPageShowsTheWebhookOnlyForAWebhookTrigger(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	for _, c := range []struct {
		name, trigger string
		url           bool
		auth          string
	}{
		{"schedule", `{"id":"tick","type":"trigger.schedule","config":{"cron":"0 9 * * 1-5"}}`, false, ""},
		{"signed webhook", `{"id":"hook","type":"trigger.webhook","config":{}}`, true, "hmac"},
		{"open webhook", `{"id":"hook","type":"trigger.webhook","config":{"auth":"none"}}`, true, "none"},
		{"header webhook", `{"id":"hook","type":"trigger.webhook","config":{"auth":"header","header_name":"X-Key"}}`, true, "header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wf := h.workflowIn(w.orgA.ID, owner, c.name, `{"nodes":[`+c.trigger+`],"edges":[]}`)
			if c.url {
				h.webhookOf(w.orgA.ID, wf) // made on request, never by opening the page
			}
			resp := h.pageAs(owner, w.orgA.ID, "GET", "/workflows/"+wf.ID.String(), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, resp.body)
			}
			doc := resp.doc(t)
			if got := doc.Find("#webhook-url").Length() == 1; got != c.url {
				t.Errorf("webhook URL shown: %v, want %v", got, c.url)
			}
			signs := strings.Contains(resp.body, "Sign each call")
			if signs != (c.auth == "hmac") {
				t.Errorf("asks callers to sign: %v, with authentication %q", signs, c.auth)
			}
			if c.auth != "" {
				if got, _ := doc.Find("[data-webhook-auth]").Attr("data-webhook-auth"); got != c.auth {
					t.Errorf("authentication note for %q, want %q", got, c.auth)
				}
			}
		})
	}
}
