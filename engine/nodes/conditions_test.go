package nodes_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
)

func TestIfCondition(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "condition.if", []configCase{
		{cfg: `{"condition":"input.total > 100"}`},
		{cfg: `{}`, wantField: "config.condition", wantMsg: "is required"},
		{cfg: `{"condition":""}`, wantField: "config.condition", wantMsg: "minLength"},
		{cfg: `{"condition":"input.total >"}`, wantField: "config.condition", wantMsg: "unexpected"},
	})
	checkOutputs(t, "condition.if", []outputCase{
		{name: "true", cfg: `{"condition":"input.total > 100"}`, input: `{"total":150}`, want: `{"total":150}`, wantPort: "true"},
		{name: "false", cfg: `{"condition":"input.total > 100"}`, input: `{"total":5}`, want: `{"total":5}`, wantPort: "false"},
		{name: "null is false", cfg: `{"condition":"input.flag"}`, input: `{}`, want: `{}`, wantPort: "false"},
		{name: "not a boolean", cfg: `{"condition":"input.total"}`, input: `{"total":1}`, wantErr: "not true or false"},
	})
}

func TestSwitchCondition(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "condition.switch", []configCase{
		{cfg: `{"cases":[{"port":"a","condition":"true"}]}`},
		{cfg: `{"cases":[]}`, wantField: "config.cases", wantMsg: "minItems"},
		{cfg: `{"cases":[{"port":"default","condition":"true"}]}`, wantField: "config.cases.0.port", wantMsg: "not"},
		{cfg: `{"cases":[{"port":"error","condition":"true"}]}`, wantField: "config.cases.0.port", wantMsg: "not"},
		{cfg: `{"cases":[{"port":"a b","condition":"true"}]}`, wantField: "config.cases.0.port", wantMsg: "pattern"},
		{cfg: `{"cases":[{"port":"a"}]}`, wantField: "config.cases.0.condition", wantMsg: "is required"},
		{cfg: `{"cases":[{"port":"a","condition":"true"},{"port":"a","condition":"false"}]}`, wantField: "config.cases.1.port", wantMsg: "earlier case"},
		{cfg: `{"cases":[{"port":"a","condition":"true"},{"port":"b","condition":"nope("}]}`, wantField: "config.cases.1.condition", wantMsg: "unexpected"},
	})
	cfg := `{"cases":[{"port":"big","condition":"input.n > 100"},{"port":"mid","condition":"input.n > 10"}]}`
	checkOutputs(t, "condition.switch", []outputCase{
		{name: "first match wins", cfg: cfg, input: `{"n":500}`, want: `{"n":500}`, wantPort: "big"},
		{name: "second case", cfg: cfg, input: `{"n":50}`, want: `{"n":50}`, wantPort: "mid"},
		{name: "default", cfg: cfg, input: `{"n":1}`, want: `{"n":1}`, wantPort: "default"},
		{name: "error", cfg: cfg, input: `{"n":"x"}`, wantErr: "invalid operation"},
	})
	nt, _ := registry.Lookup("condition.switch")
	got := nt.PortsFor(json.RawMessage(cfg))
	if len(got) != 3 || got[0] != "big" || got[1] != "mid" || got[2] != "default" {
		t.Errorf("PortsFor = %v", got)
	}
}

func TestLoopCondition(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "condition.loop", []configCase{
		{cfg: `{"items":"input.list"}`},
		{cfg: `{"items":"input.list","concurrency":32,"max_iterations":100000}`},
		{cfg: `{}`, wantField: "config.items", wantMsg: "is required"},
		{cfg: `{"items":"input.list","concurrency":0}`, wantField: "config.concurrency", wantMsg: "minimum"},
		{cfg: `{"items":"input.list","concurrency":33}`, wantField: "config.concurrency", wantMsg: "maximum"},
		{cfg: `{"items":"input.list","max_iterations":100001}`, wantField: "config.max_iterations", wantMsg: "maximum"},
		{cfg: `{"items":"input."}`, wantField: "config.items", wantMsg: "unexpected"},
	})
	// The loop's body and results are covered by the engine's run tests; here, what the node hands the engine.
	nt, _ := registry.Lookup("condition.loop")
	if !nt.Loop || len(nt.Ports) != 2 {
		t.Fatalf("type %+v", nt)
	}
	run, err := nt.Compile(json.RawMessage(`{"items":"input.list","concurrency":3,"max_iterations":2}`), &engine.Compiler{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		input   any
		want    int
		wantErr bool
	}{
		{map[string]any{"list": []any{1.0, 2.0}}, 2, false},
		{map[string]any{}, 0, false},
		{map[string]any{"list": []any{1.0, 2.0, 3.0}}, 0, true},
		{map[string]any{"list": "x"}, 0, true},
	} {
		out, err := run.Run(context.Background(), engine.Input{Data: tc.input, Env: &engine.Env{}})
		if tc.wantErr {
			if err == nil || !engine.IsPermanent(err) {
				t.Errorf("input %v: err %v", tc.input, err)
			}
			continue
		}
		if err != nil || out.Loop == nil || len(out.Loop.Items) != tc.want || out.Loop.Concurrency != 3 {
			t.Errorf("input %v: %+v %v", tc.input, out.Loop, err)
		}
	}
}

func TestDelayCondition(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "condition.delay", []configCase{
		{cfg: `{"duration":"1h30m"}`},
		{cfg: `{"until":"2025-04-01T09:00:00+02:00"}`},
		{cfg: `{"until":"trigger.body.at"}`},
		{cfg: `{}`, wantField: "config", wantMsg: "set one of: duration, until"},
		{cfg: `{"duration":"1h","until":"x"}`, wantField: "config", wantMsg: "set only one of"},
		{cfg: `{"duration":"soon"}`, wantField: "config.duration", wantMsg: "pattern"},
		{cfg: `{"duration":"0s"}`, wantField: "config.duration", wantMsg: "must be between"},
		{cfg: `{"duration":"9000h"}`, wantField: "config.duration", wantMsg: "must be between"},
		{cfg: `{"until":"2025-13-01 nope"}`, wantField: "config.until", wantMsg: "unexpected token"},
	})
	nt, _ := registry.Lookup("condition.delay")
	if !nt.Waits {
		t.Fatal("delay must be a waiting type")
	}
	env := &engine.Env{}
	// Expressions are checked against the real clock (Env without an executor), so use times near now.
	soon := time.Now().Add(48 * time.Hour).Truncate(time.Second).UTC()
	soonText := soon.Format(time.RFC3339)
	for _, tc := range []struct {
		cfg     string
		input   any
		want    time.Time
		wantErr string
	}{
		{cfg: `{"until":"2030-01-02T03:04:05Z"}`, want: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		{cfg: `{"until":"input.at"}`, input: map[string]any{"at": soonText}, want: soon},
		{cfg: `{"until":"input.at"}`, input: map[string]any{"at": float64(soon.Unix())}, want: soon},
		{cfg: `{"until":"date(input.at)"}`, input: map[string]any{"at": soonText}, want: soon},
		{cfg: `{"until":"input.at"}`, input: map[string]any{"at": "tomorrow"}, wantErr: "not an RFC 3339 time"},
		{cfg: `{"until":"input.at"}`, input: map[string]any{"at": true}, wantErr: "not a time"},
		{cfg: `{"until":"input.at"}`, input: map[string]any{"at": "2099-01-01T00:00:00Z"}, wantErr: "more than"},
	} {
		run, err := nt.Compile(json.RawMessage(tc.cfg), &engine.Compiler{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := run.Run(context.Background(), engine.Input{Data: tc.input, Env: env})
		if tc.wantErr != "" {
			if err == nil || !engine.IsPermanent(err) {
				t.Errorf("%s %v: err %v", tc.cfg, tc.input, err)
			}
			continue
		}
		if err != nil || !out.ParkUntil.Equal(tc.want) {
			t.Errorf("%s %v: park until %v (%v), want %v", tc.cfg, tc.input, out.ParkUntil, err, tc.want)
		}
	}
	res, run := runNode(t, "condition.delay", `{"duration":"15m"}`, `{"a":1}`)
	if res.Status != engine.ExecutionWaiting || !res.ResumeAt.Equal(testNow.Add(15*time.Minute)) || run.Status != engine.NodeRunning {
		t.Errorf("result %+v run %+v", res, run)
	}
}
