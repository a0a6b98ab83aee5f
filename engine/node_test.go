package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestInputLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	in := Input{NodeID: "mail", Env: &Env{Execution: ExecutionInfo{ID: "e-7"}}, Services: &Services{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}}
	in.Logger().Info("sent")
	if got := buf.String(); !strings.Contains(got, `"node_id":"mail"`) || !strings.Contains(got, `"execution_id":"e-7"`) {
		t.Errorf("log line %s", got)
	}
	// Without a logger, logging is a no-op rather than a nil dereference.
	Input{}.Logger().Info("dropped")
}

func TestEnvWithoutExecution(t *testing.T) {
	t.Parallel()
	var e *Env
	if _, ok := e.Output("x"); ok {
		t.Error("nil Env has outputs")
	}
	if time.Since(e.Now()) > time.Minute {
		t.Error("nil Env has no clock")
	}
	if _, ok := (&Env{}).Output("x"); ok {
		t.Error("Env without scope has outputs")
	}
}

func TestDefaultSleep(t *testing.T) {
	t.Parallel()
	if err := sleep(context.Background(), time.Millisecond); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	if err := sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("zero wait on a canceled context: %v", err)
	}
}

func TestAdapters(t *testing.T) {
	t.Parallel()
	var got NodeRun
	if err := RecorderFunc(func(_ context.Context, r NodeRun) error { got = r; return nil }).RecordNode(context.Background(), NodeRun{NodeID: "a"}); err != nil || got.NodeID != "a" {
		t.Error("RecorderFunc")
	}
	var ev NodeEvent
	ObserverFunc(func(_ context.Context, e NodeEvent) { ev = e }).ObserveNode(context.Background(), NodeEvent{Kind: NodeEventStarted})
	if ev.Kind != NodeEventStarted {
		t.Error("ObserverFunc")
	}
	if ConfigError("f", "bad").Error() != "f: bad" {
		t.Error("FieldError.Error")
	}
}
