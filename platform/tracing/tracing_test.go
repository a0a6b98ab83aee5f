package tracing_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/concertmaster/concertmaster/platform/tracing"
)

// TestOffIsANoOp: without an endpoint there is no exporter, the middleware and the transport are the ones given,
// spans do not record and nothing is stored for the worker to continue.
func TestOffIsANoOp(t *testing.T) {
	tr, err := tracing.New(context.Background(), tracing.Config{})
	if err != nil || tr.Enabled() {
		t.Fatalf("New without endpoint = %v, %v; want tracing off", tr, err)
	}
	base := http.DefaultTransport
	if tr.Transport(base) != base {
		t.Error("the transport is wrapped while tracing is off")
	}
	h := &http.ServeMux{}
	if got := tr.Middleware(func(context.Context) string { return "" }, h); got != http.Handler(h) {
		t.Error("the middleware wraps requests while tracing is off")
	}
	ctx, span := tr.Tracer().Start(context.Background(), "x")
	if span.IsRecording() || tracing.TraceParent(ctx) != "" {
		t.Error("a span records, or a traceparent is stored, while tracing is off")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestTraceParentRoundTrip: what TraceParent stores, WithTraceParent continues.
func TestTraceParentRoundTrip(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ctx := tracing.WithTraceParent(context.Background(), tp)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsRemote() || sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("continued span context = %+v", sc)
	}
	if got := tracing.TraceParent(ctx); got != tp {
		t.Errorf("TraceParent = %q, want %q", got, tp)
	}
	if ctx := tracing.WithTraceParent(context.Background(), "garbage"); trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("a malformed traceparent was continued")
	}
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://collector:4318":       "http://collector:4318/v1/traces",
		"https://otel.example.com/x/": "https://otel.example.com/x/v1/traces",
		"collector:4318":              "",
		"ftp://collector":             "",
	} {
		got, err := tracing.TracesURL(in)
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT") {
				t.Errorf("%q: %q, %v; want an error naming the variable", in, got, err)
			}
		} else if got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
