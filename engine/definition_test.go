package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDefinition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, d *Definition)
	}{
		{
			name: "DESIGN.md's example",
			in: `{"nodes":[
  {"id":"hook","type":"trigger.webhook","name":"Order in","position":{"x":0,"y":0},"config":{}},
  {"id":"big","type":"condition.if","config":{"condition":"input.total > 100"}},
  {"id":"mail","type":"action.email","config":{"to":"{{ trigger.body.email }}","subject":"Big order"},
   "retry":{"max_attempts":3,"backoff":"exponential"},"timeout":"30s","on_error":"stop"}],
 "edges":[{"from":"hook","to":"big"},{"from":"big","port":"true","to":"mail"}]}`,
			check: func(t *testing.T, d *Definition) {
				if len(d.Nodes) != 3 || len(d.Edges) != 2 {
					t.Fatalf("got %d nodes, %d edges", len(d.Nodes), len(d.Edges))
				}
				mail := d.Nodes[2]
				if mail.Timeout.Std() != 30*time.Second || mail.Retry.MaxAttempts != 3 || mail.Retry.Backoff != "exponential" || mail.OnError != "stop" {
					t.Errorf("mail node %+v", mail)
				}
				if d.Nodes[0].Name != "Order in" || d.Edges[1].Port != "true" {
					t.Errorf("nodes %+v edges %+v", d.Nodes, d.Edges)
				}
				if string(d.Nodes[1].Config) != `{"condition":"input.total > 100"}` {
					t.Errorf("config %s", d.Nodes[1].Config)
				}
			},
		},
		{name: "unknown field", in: `{"nodes":[{"id":"a","type":"t","on_eror":"stop"}]}`, wantErr: `unknown field "on_eror"`},
		{name: "free-form config", in: `{"nodes":[{"id":"a","type":"t","config":{"anything":{"goes":1}}}]}`},
		{name: "not JSON", in: `{"nodes":`, wantErr: "not valid JSON"},
		{name: "empty", in: ``, wantErr: "empty"},
		{name: "trailing data", in: `{"nodes":[]} {}`, wantErr: "after its closing brace"},
		{name: "numeric duration", in: `{"nodes":[{"id":"a","type":"t","timeout":30}]}`, wantErr: `a duration must be a string`},
		{name: "bad duration", in: `{"nodes":[{"id":"a","type":"t","timeout":"30 seconds"}]}`, wantErr: `invalid duration "30 seconds"`},
		{name: "too large", in: `{"nodes":[],"x":"` + strings.Repeat("a", MaxDefinitionBytes) + `"}`, wantErr: "more than the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := ParseDefinition([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestDefinitionRoundTrip(t *testing.T) {
	t.Parallel()
	d := Definition{
		Nodes: []Node{{ID: "a", Type: "trigger.webhook", Position: Position{X: 1.5, Y: -2}, Config: json.RawMessage(`{"auth":"none"}`),
			Retry: &RetryPolicy{MaxAttempts: 2, InitialInterval: Duration(time.Second), MaxInterval: Duration(time.Minute)}, Timeout: Duration(90 * time.Second), OnError: OnErrorRoute}},
		Edges: []Edge{{From: "a", Port: "error", To: "b"}},
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"nodes":[{"id":"a","type":"trigger.webhook","position":{"x":1.5,"y":-2},"config":{"auth":"none"},"retry":{"max_attempts":2,"initial_interval":"1s","max_interval":"1m0s"},"timeout":"1m30s","on_error":"error"}],"edges":[{"from":"a","port":"error","to":"b"}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	back, err := ParseDefinition(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b2) != string(b) {
		t.Errorf("round trip changed the definition:\n%s\n%s", b, b2)
	}
}
