package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/sql/store"
)

// renderedAlert is one alert as every channel kind shows it. Workflow names and errors are written by authors,
// so each format escapes them its own way: html/template for e-mail, Slack's three entities, Teams' Markdown.
type renderedAlert struct {
	Title, Text, HTML, Link string
	Alert                   store.Alert
	Test                    bool
	// Trigger is the excerpt of the last execution's trigger body, cut at the configured size or at the end of
	// the preview of trigger data kept in the file storage (Truncated says so; Size is then the size of what it was
	// cut from).
	Trigger   string
	Truncated bool
	Size      int64
}

// DefaultTriggerExcerptBytes is how much of a trigger's body a message carries unless configured
// (NOTIFICATION_TRIGGER_MAX_BYTES).
const DefaultTriggerExcerptBytes = 1024

// triggerExcerpt cuts a trigger body to max bytes (at a character boundary); max 0 leaves it out.
func triggerExcerpt(raw []byte, max int) (string, bool) {
	if max <= 0 || len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	if len(raw) <= max {
		return string(raw), false
	}
	cut := max
	for cut > 0 && raw[cut]&0xC0 == 0x80 {
		cut--
	}
	return string(raw[:cut]), true
}

// AlertTitle says what happened, grouping identical alerts: "47 failures of “Orders” in 5m0s".
func AlertTitle(a store.Alert) string {
	if a.Event == "digest" {
		return fmt.Sprintf("Daily digest: %d alerts", a.Occurrences)
	}
	name := "“" + a.WorkflowName + "”"
	span := a.LastAt.Sub(a.FirstAt).Round(time.Second)
	if a.Occurrences > 1 {
		noun := map[string]string{"failed": "failures", "succeeded": "successes", "canceled": "cancellations",
			"timed_out": "timeouts", "slow": "slow runs", "recovered": "recoveries"}[a.Event]
		if noun == "" {
			noun = "alerts (" + a.Event + ")"
		}
		return fmt.Sprintf("%d %s of %s in %s", a.Occurrences, noun, name, span)
	}
	switch a.Event {
	case "failed":
		return "Workflow " + name + " failed"
	case "succeeded":
		return "Workflow " + name + " succeeded"
	case "canceled":
		return "Workflow " + name + " was canceled"
	case "timed_out":
		return "Workflow " + name + " timed out"
	case "slow":
		return fmt.Sprintf("Workflow %s ran longer than %s", name, time.Duration(a.ThresholdSeconds)*time.Second)
	case "failure_streak":
		return fmt.Sprintf("Workflow %s failed %d times in a row", name, a.ThresholdCount)
	case "failure_rate":
		return fmt.Sprintf("Workflow %s fails more than %d%% of its runs", name, a.ThresholdPercent)
	case "schedule_missed":
		return "The schedule of workflow " + name + " did not fire"
	case "webhook_silent":
		return "The webhook of workflow " + name + " received nothing"
	case "recovered":
		return "Workflow " + name + " recovered: it succeeds again"
	}
	return "Workflow " + name + ": " + a.Event
}

// AlertLink is the page to open: the execution when there is one occurrence, else the workflow's executions.
func AlertLink(baseURL string, a store.Alert) string {
	if a.Event == "digest" {
		return baseURL + "/executions"
	}
	if a.Occurrences <= 1 && a.LastExecutionID != nil {
		return baseURL + "/executions/" + a.LastExecutionID.String()
	}
	if a.WorkflowID == nil {
		return baseURL + "/executions"
	}
	q := url.Values{"workflow_id": {a.WorkflowID.String()}}
	if a.Event == "failed" || a.Event == "timed_out" || a.Event == "failure_streak" || a.Event == "failure_rate" {
		q.Set("status", "failed")
	}
	return baseURL + "/executions?" + q.Encode()
}

var alertHTML = template.Must(template.New("alert").Parse(`<!doctype html><html><body style="font-family:sans-serif">
<h2 style="margin:0 0 12px">{{.Title}}</h2>
{{if .Alert.Detail}}<pre style="white-space:pre-wrap;background:#f4f4f5;padding:8px">{{.Alert.Detail}}</pre>{{end}}
{{if .Trigger}}<p>Trigger data{{if .Truncated}} (the first {{len .Trigger}} of {{.Size}} bytes){{end}}:</p>
<pre style="white-space:pre-wrap;background:#f4f4f5;padding:8px">{{.Trigger}}</pre>{{end}}
{{if gt .Alert.Occurrences 1}}<p>{{.Alert.Occurrences}} occurrences from {{.Alert.FirstAt.UTC.Format "2006-01-02 15:04:05"}} to {{.Alert.LastAt.UTC.Format "2006-01-02 15:04:05"}} UTC.</p>{{end}}
<p><a href="{{.Link}}">Open in ConcertMaster</a></p>
<p style="color:#71717a;font-size:12px">Sent by a notification rule of your organization on ConcertMaster.</p>
</body></html>`))

// renderAlert renders an alert (or a channel's test) for its messages, with up to maxTrigger bytes of the trigger.
func renderAlert(baseURL string, a store.Alert, test bool, maxTrigger int) renderedAlert {
	r := renderedAlert{Alert: a, Test: test}
	r.Trigger, r.Truncated = triggerExcerpt(a.Trigger, maxTrigger)
	r.Size = int64(len(a.Trigger))
	if a.TriggerStoredSize > 0 {
		r.Truncated, r.Size = r.Trigger != "" && (r.Truncated || a.TriggerCut), a.TriggerStoredSize
	}
	if test {
		r.Title, r.Link = "Test message from ConcertMaster", baseURL+"/"
		r.Alert.Detail = "This channel works: alerts of your notification rules will arrive like this."
	} else {
		r.Title, r.Link = AlertTitle(a), AlertLink(baseURL, a)
	}
	var text strings.Builder
	text.WriteString(r.Title + "\n\n")
	if r.Alert.Detail != "" {
		text.WriteString(r.Alert.Detail + "\n\n")
	}
	if r.Trigger != "" {
		cut := ""
		if r.Truncated {
			cut = fmt.Sprintf(" (the first %d of %d bytes)", len(r.Trigger), r.Size)
		}
		text.WriteString("Trigger data" + cut + ":\n" + r.Trigger + "\n\n")
	}
	if a.Occurrences > 1 {
		fmt.Fprintf(&text, "%d occurrences from %s to %s UTC.\n\n", a.Occurrences,
			a.FirstAt.UTC().Format("2006-01-02 15:04:05"), a.LastAt.UTC().Format("2006-01-02 15:04:05"))
	}
	text.WriteString("Open: " + r.Link + "\n")
	r.Text = text.String()
	var html bytes.Buffer
	_ = alertHTML.Execute(&html, r)
	r.HTML = html.String()
	return r
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to (<, >, &), so a workflow name cannot
// become a link or a mention.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// teamsEscape backslash-escapes the Markdown of Teams' message cards.
func teamsEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`,
		"`", "\\`", "<", "&lt;", ">", "&gt;", "#", `\#`).Replace(s)
}

// slackPayload is the body of a Slack-compatible incoming webhook (Mattermost and Rocket.Chat take it too).
func slackPayload(r renderedAlert) []byte {
	text := "*" + slackEscape(r.Title) + "*"
	if r.Alert.Detail != "" {
		text += "\n```" + slackEscape(strings.ReplaceAll(r.Alert.Detail, "```", "'''")) + "```"
	}
	text += "\n<" + r.Link + "|Open in ConcertMaster>"
	b, _ := json.Marshal(map[string]any{"text": text})
	return b
}

// teamsPayload is the body of a Microsoft Teams incoming webhook (a MessageCard).
func teamsPayload(r renderedAlert) []byte {
	card := map[string]any{"@type": "MessageCard", "@context": "https://schema.org/extensions",
		"summary": r.Title, "title": teamsEscape(r.Title), "text": teamsEscape(r.Alert.Detail),
		"potentialAction": []any{map[string]any{"@type": "OpenUri", "name": "Open in ConcertMaster",
			"targets": []any{map[string]any{"os": "default", "uri": r.Link}}}}}
	if r.Alert.Event == "recovered" {
		card["themeColor"] = "2EB67D"
	} else {
		card["themeColor"] = "E01E5A"
	}
	b, _ := json.Marshal(card)
	return b
}

// WebhookNotification is the JSON body of a signed outgoing webhook (documented in the README).
type WebhookNotification struct {
	// ID is the message's delivery id, the same on every retry (also in X-ConcertMaster-Delivery).
	ID             string     `json:"id"`
	Test           bool       `json:"test"`
	Event          string     `json:"event"`
	Title          string     `json:"title"`
	OrganizationID string     `json:"organization_id"`
	WorkflowID     string     `json:"workflow_id,omitempty"`
	WorkflowName   string     `json:"workflow_name,omitempty"`
	Occurrences    int        `json:"occurrences"`
	FirstAt        *time.Time `json:"first_at,omitempty"`
	LastAt         *time.Time `json:"last_at,omitempty"`
	ExecutionID    string     `json:"execution_id,omitempty"`
	Detail         string     `json:"detail,omitempty"`
	// Trigger is the start of the last execution's trigger body as text, cut at NOTIFICATION_TRIGGER_MAX_BYTES or
	// at the end of the preview of trigger data kept in the file storage (TriggerTruncated then true, and
	// TriggerSize the bytes it was cut from: the whole trigger's for stored data); headers and query are never
	// included.
	Trigger          string `json:"trigger,omitempty"`
	TriggerTruncated bool   `json:"trigger_truncated,omitempty"`
	TriggerSize      int64  `json:"trigger_size,omitempty"`
	Link             string `json:"link"`
}

func webhookPayload(key string, r renderedAlert) []byte {
	a := r.Alert
	w := WebhookNotification{ID: key, Test: r.Test, Event: a.Event, Title: r.Title,
		OrganizationID: a.OrganizationID.String(), WorkflowName: a.WorkflowName, Occurrences: a.Occurrences,
		Detail: a.Detail, Link: r.Link, Trigger: r.Trigger, TriggerTruncated: r.Truncated}
	if r.Truncated {
		w.TriggerSize = r.Size
	}
	if r.Test {
		w.Event = "test"
	} else {
		first, last := a.FirstAt.UTC(), a.LastAt.UTC()
		w.FirstAt, w.LastAt = &first, &last
	}
	if a.WorkflowID != nil {
		w.WorkflowID = a.WorkflowID.String()
	}
	if a.LastExecutionID != nil {
		w.ExecutionID = a.LastExecutionID.String()
	}
	b, _ := json.Marshal(w)
	return b
}
