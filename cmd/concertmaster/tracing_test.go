package main

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/concertmaster/concertmaster/handlers/httpx"
)

// otlpReceiver is a real OTLP/HTTP traces endpoint: it decodes the protobuf export requests the process sends.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP protobuf traces export", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		raw, err := io.ReadAll(body)
		var export coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &export)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) all() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...)
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// TestOneTraceFromWebhookToEveryNode runs serve with OTEL_EXPORTER_OTLP_ENDPOINT on a real OTLP receiver: one
// trace holds the webhook request's span, the ingest span, the execution's job span and a span for each of its
// nodes, each the child of the one before, and the HTTP node's call carries a traceparent of that trace, naming the
// node's span.
func TestOneTraceFromWebhookToEveryNode(t *testing.T) {
	t.Parallel()
	receiver := newOTLPReceiver(t)
	var targetMu sync.Mutex
	var traceparents []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetMu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		targetMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer target.Close()

	dbURL := migratedDatabase(t)
	pool := connectPool(t, dbURL)
	hook := activeWebhookWorkflow(t, pool, "Traced", fmt.Sprintf(`{"nodes":[
		 {"id":"hook","type":"trigger.webhook","config":{}},
		 {"id":"shape","type":"transform.data","config":{"jq":"{n: .body.n}"}},
		 {"id":"call","type":"action.http","config":{"method":"GET","url":%q}}],
		 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"call"}]}`, target.URL+"/orders"))
	base := startServe(t, map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0",
		"SECRET_KEY": testSecretKey, "LOG_LEVEL": "error", "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
		"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.URL, "OTEL_BSP_SCHEDULE_DELAY": "50"})

	body := []byte(`{"n":1}`)
	req, _ := http.NewRequest("POST", base+"/hooks/"+hook.Token, bytes.NewReader(body))
	req.Header.Set("X-Request-ID", "traced-call-1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpx.SignatureHeader, httpx.SignatureValue(hook.Secret, time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ack struct {
		ExecutionID string `json:"execution_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}

	// Wait for the node spans (exported in batches every 50 ms).
	byName := map[string]*tracepb.Span{}
	deadline := time.Now().Add(30 * time.Second)
	for len(byName) < 6 {
		if time.Now().After(deadline) {
			for _, s := range receiver.all() {
				t.Logf("%s %v %v", s.Name, s.Attributes, s.Status)
			}
			t.Fatalf("spans received: %v", names(receiver.all()))
		}
		time.Sleep(50 * time.Millisecond)
		clear(byName)
		for _, s := range receiver.all() {
			switch {
			case s.Name == "POST /hooks/{token}" && spanAttr(s, "concertmaster.request.id") == "traced-call-1",
				spanAttr(s, "concertmaster.execution.id") == ack.ExecutionID,
				strings.HasPrefix(s.Name, "node "):
				byName[s.Name] = s
			}
		}
	}
	request := byName["POST /hooks/{token}"]
	chain := [][2]string{{"execution.ingest", "POST /hooks/{token}"}, {"execution.run", "execution.ingest"},
		{"node trigger.webhook", "execution.run"}, {"node transform.data", "execution.run"}, {"node action.http", "execution.run"}}
	for _, link := range chain {
		child, parent := byName[link[0]], byName[link[1]]
		if child == nil || parent == nil {
			t.Fatalf("missing span %q or %q among %v", link[0], link[1], names(receiver.all()))
		}
		if !bytes.Equal(child.TraceId, request.TraceId) {
			t.Errorf("span %q is in trace %x, not the request's %x", link[0], child.TraceId, request.TraceId)
		}
		if !bytes.Equal(child.ParentSpanId, parent.SpanId) {
			t.Errorf("span %q's parent is %x, want %q (%x)", link[0], child.ParentSpanId, link[1], parent.SpanId)
		}
	}
	if got := spanAttr(byName["execution.run"], "concertmaster.execution.status"); got != "succeeded" {
		t.Errorf("execution.run status attribute = %q", got)
	}
	if got := spanAttr(byName["node action.http"], "concertmaster.node.id"); got != "call" {
		t.Errorf("node span's node id = %q", got)
	}

	targetMu.Lock()
	defer targetMu.Unlock()
	want := fmt.Sprintf("00-%s-%s-01", hex.EncodeToString(request.TraceId), hex.EncodeToString(byName["node action.http"].SpanId))
	if len(traceparents) != 1 || traceparents[0] != want {
		t.Errorf("the HTTP node's call carried traceparent %q, want %q", traceparents, want)
	}
}

func names(spans []*tracepb.Span) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}
