package nodes_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

func TestTriggersOutputTheTriggerData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ typ, cfg string }{
		{"trigger.webhook", `{}`},
		{"trigger.form", `{"form_id":"f1"}`},
		{"trigger.schedule", `{"every":"1m"}`},
		{"trigger.file_upload", `{}`},
		{"trigger.error", `{}`},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			plan, err := engine.Compile(&engine.Definition{Nodes: []engine.Node{{ID: "t", Type: tc.typ, Config: json.RawMessage(tc.cfg)}}}, registry)
			if err != nil {
				t.Fatal(err)
			}
			trig := `{"body":{"a":1},"method":"POST"}`
			res, err := executor.Run(t.Context(), plan, engine.RunInput{Trigger: json.RawMessage(trig)})
			if err != nil || res.Status != engine.ExecutionSucceeded {
				t.Fatal(err, res.Error)
			}
			if string(res.NodeRuns[0].Output) != trig || string(res.Output) != trig {
				t.Errorf("output %s", res.NodeRuns[0].Output)
			}
		})
	}
}

func TestWebhookConfig(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "trigger.webhook", []configCase{
		{cfg: `{}`},
		{cfg: `{"auth":"basic","response":"result","timeout_seconds":120,"allow_get":true}`},
		{cfg: `{"auth":"header","header_name":"X-Token"}`},
		{cfg: `{"auth":"header"}`, wantField: "config.header_name", wantMsg: "is required"},
		{cfg: `{"auth":"oauth"}`, wantField: "config.auth", wantMsg: "must be one of"},
		{cfg: `{"response":"later"}`, wantField: "config.response", wantMsg: "must be one of"},
		{cfg: `{"timeout_seconds":0}`, wantField: "config.timeout_seconds", wantMsg: "minimum"},
		{cfg: `{"timeout_seconds":301}`, wantField: "config.timeout_seconds", wantMsg: "maximum"},
		{cfg: `{"header_name":"bad header"}`, wantField: "config.header_name", wantMsg: "pattern"},
		{cfg: `{"secret":"x"}`, wantField: "config.secret", wantMsg: "not a known setting"},
	})
	c, err := nodes.ParseWebhookConfig(nil)
	if err != nil || c.Auth != nodes.WebhookAuthHMAC || c.Response != nodes.WebhookRespondAccepted || c.TimeoutSeconds != 30 || c.AllowGet {
		t.Errorf("defaults %+v %v", c, err)
	}
	c, err = nodes.ParseWebhookConfig(json.RawMessage(`{"auth":"none","response":"result","timeout_seconds":5}`))
	if err != nil || c.Auth != nodes.WebhookAuthNone || c.Response != nodes.WebhookRespondResult || c.TimeoutSeconds != 5 {
		t.Errorf("parsed %+v %v", c, err)
	}
}

func TestFormConfig(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "trigger.form", []configCase{
		{cfg: `{"form_id":"contact"}`},
		{cfg: `{}`, wantField: "config.form_id", wantMsg: "is required"},
		{cfg: `{"form_id":""}`, wantField: "config.form_id", wantMsg: "minLength"},
	})
}

func TestErrorConfig(t *testing.T) {
	t.Parallel()
	const id = "0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e"
	checkConfigs(t, "trigger.error", []configCase{
		{cfg: `{}`},
		{cfg: `{"watch":"any","max_trigger_bytes":0}`},
		{cfg: `{"watch":"workflow","workflow_id":"` + id + `","max_trigger_bytes":65536}`},
		{cfg: `{"watch":"workflow"}`, wantField: "config.workflow_id", wantMsg: "is required"},
		{cfg: `{"watch":"workflow","workflow_id":"orders"}`, wantField: "config.workflow_id", wantMsg: "pattern"},
		{cfg: `{"workflow_id":"` + id + `"}`, wantField: "config.workflow_id", wantMsg: `only used with watch "workflow"`},
		{cfg: `{"watch":"all"}`, wantField: "config.watch", wantMsg: "must be one of"},
		{cfg: `{"max_trigger_bytes":65537}`, wantField: "config.max_trigger_bytes", wantMsg: "maximum"},
	})
	c, err := nodes.ParseErrorConfig(nil)
	if err != nil || c.Watch != nodes.ErrorWatchAny || c.MaxTriggerBytes != nodes.DefaultErrorTriggerBytes {
		t.Errorf("defaults %+v %v", c, err)
	}
}

// TestErrorTriggerData: the trigger data of an error workflow names the failure, classifies its error, and keeps
// the failed execution's trigger data only within the limit, previewing it (cut on a character) beyond.
func TestErrorTriggerData(t *testing.T) {
	t.Parallel()
	f := nodes.FailedExecution{ID: "e1", WorkflowID: "w1", WorkflowName: "Orders", Version: 3, TriggerKind: "webhook",
		TriggerData: json.RawMessage(`{"body":{"name":"Zoë"}}`), Error: `node "mail" failed: 550`, FailedNodeID: "mail",
		FailedNodeName: "Mail", FailedNodeType: "action.email", Link: "https://cm.example.com/executions/e1"}
	decode := func(raw json.RawMessage) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	full, err := nodes.ErrorTriggerData(f, 1000)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(full)
	if m["error"].(map[string]any)["code"] != nodes.ErrorCodeNodeFailed || m["node"].(map[string]any)["type"] != "action.email" ||
		m["execution"].(map[string]any)["url"] != f.Link || m["workflow"].(map[string]any)["name"] != "Orders" ||
		m["trigger"].(map[string]any)["body"] == nil || m["trigger_truncated"] != false {
		t.Errorf("full: %s", full)
	}
	cut, _ := nodes.ErrorTriggerData(f, 20) // inside "ë" (bytes 19 and 20)
	m = decode(cut)
	if m["trigger"] != nil || m["trigger_truncated"] != true || m["trigger_preview"] != `{"body":{"name":"Zo` {
		t.Errorf("truncated: %s", cut)
	}
	f.FailedNodeID, f.Error = "", engine.ErrExecutionTimedOut
	timedOut, _ := nodes.ErrorTriggerData(f, 0)
	m = decode(timedOut)
	if m["error"].(map[string]any)["code"] != nodes.ErrorCodeTimedOut || m["node"] != nil || m["trigger_preview"] != "" {
		t.Errorf("timed out: %s", timedOut)
	}
}

func TestFileUploadConfig(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "trigger.file_upload", []configCase{
		{cfg: `{}`},
		{cfg: `{"accept":["image/*","application/pdf","*/*"],"max_bytes":1024}`},
		{cfg: `{"accept":["pdf"]}`, wantField: "config.accept.0", wantMsg: "pattern"},
		{cfg: `{"max_bytes":0}`, wantField: "config.max_bytes", wantMsg: "minimum"},
		{cfg: `{"max_bytes":2147483648}`, wantField: "config.max_bytes", wantMsg: "maximum"},
	})
	c, err := nodes.ParseFileUploadConfig(json.RawMessage(`{"accept":["image/*","text/csv"]}`))
	if err != nil || c.MaxBytes != nodes.DefaultUploadBytes {
		t.Fatalf("%+v %v", c, err)
	}
	for mt, want := range map[string]bool{
		"image/png": true, "IMAGE/PNG": true, "text/csv; charset=utf-8": true, "text/plain": false,
		"application/pdf": false, "not a type": false,
	} {
		if got := c.Accepts(mt); got != want {
			t.Errorf("Accepts(%q) = %v", mt, got)
		}
	}
	if !(nodes.FileUploadConfig{}).Accepts("anything/at-all") {
		t.Error("no accept list accepts everything")
	}
}

func TestScheduleConfig(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "trigger.schedule", []configCase{
		{cfg: `{"cron":"*/5 * * * *"}`},
		{cfg: `{"cron":"0 9 * * 1-5","timezone":"Europe/Paris"}`},
		{cfg: `{"cron":"@daily"}`},
		{cfg: `{"every":"90s"}`},
		{cfg: `{}`, wantField: "config", wantMsg: "set one of: cron, every"},
		{cfg: `{"cron":"* * * * *","every":"1m"}`, wantField: "config", wantMsg: "set only one of: cron, every"},
		{cfg: `{"cron":"61 * * * *"}`, wantField: "config.cron", wantMsg: "invalid cron expression"},
		{cfg: `{"cron":"* * * * * *"}`, wantField: "config.cron", wantMsg: "invalid cron expression"},
		{cfg: `{"cron":"@every 5m"}`, wantField: "config.cron", wantMsg: "use the every field"},
		{cfg: `{"cron":"* * * * *","timezone":"Mars/Olympus"}`, wantField: "config.timezone", wantMsg: "unknown timezone"},
		{cfg: `{"every":"500ms"}`, wantField: "config.every", wantMsg: "at least 1s"},
		{cfg: `{"every":"5 minutes"}`, wantField: "config.every", wantMsg: "pattern"},
		{cfg: `{"every":"1m","timezone":"UTC"}`, wantField: "config.timezone", wantMsg: "cron schedules only"},
	})
}

func TestNextRun(t *testing.T) {
	t.Parallel()
	paris, _ := time.LoadLocation("Europe/Paris")
	tests := []struct {
		cfg   string
		after time.Time
		want  time.Time
	}{
		{`{"cron":"*/15 * * * *"}`, time.Date(2025, 3, 1, 12, 7, 30, 0, time.UTC), time.Date(2025, 3, 1, 12, 15, 0, 0, time.UTC)},
		{`{"cron":"*/15 * * * *"}`, time.Date(2025, 3, 1, 12, 15, 0, 0, time.UTC), time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)},
		// 09:00 in Paris on a weekday; 2025-03-01 is a Saturday.
		{`{"cron":"0 9 * * 1-5","timezone":"Europe/Paris"}`, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2025, 3, 3, 9, 0, 0, 0, paris)},
		{`{"cron":"@daily"}`, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)},
		{`{"every":"1h"}`, time.Date(2025, 3, 1, 12, 20, 0, 0, time.UTC), time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC)},
		{`{"every":"1h"}`, time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC)},
		// A local time of day survives the change to summer time: 09:00 in Paris is 08:00 UTC, then 07:00 UTC.
		{`{"cron":"0 9 * * *","timezone":"Europe/Paris"}`, time.Date(2025, 3, 29, 12, 0, 0, 0, time.UTC), time.Date(2025, 3, 30, 7, 0, 0, 0, time.UTC)},
		// When clocks fall back, 02:30 comes twice in Paris; the schedule fires at the first one only …
		{`{"cron":"30 2 * * *","timezone":"Europe/Paris"}`, time.Date(2025, 10, 25, 12, 0, 0, 0, time.UTC), time.Date(2025, 10, 26, 0, 30, 0, 0, time.UTC)},
		{`{"cron":"30 2 * * *","timezone":"Europe/Paris"}`, time.Date(2025, 10, 26, 0, 30, 5, 0, time.UTC), time.Date(2025, 10, 27, 1, 30, 0, 0, time.UTC)},
		// … and an every-15-minutes schedule still runs through both hours.
		{`{"cron":"*/15 * * * *","timezone":"Europe/Paris"}`, time.Date(2025, 10, 26, 0, 50, 0, 0, time.UTC), time.Date(2025, 10, 26, 1, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := nodes.NextRun(json.RawMessage(tt.cfg), tt.after)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("NextRun(%s, %v) = %v %v, want %v", tt.cfg, tt.after, got, err, tt.want)
		}
	}
	_, err := nodes.NextRun(json.RawMessage(`{"cron":"nope"}`), time.Now())
	var fe *engine.FieldError
	if !errors.As(err, &fe) || fe.Field != "cron" {
		t.Errorf("err %v", err)
	}
}
