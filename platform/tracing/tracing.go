// Package tracing is the process's OpenTelemetry tracing: off (a no-op tracer, no exporter) unless
// OTEL_EXPORTER_OTLP_ENDPOINT is set, else spans exported over OTLP/HTTP in batches. One trace follows a trigger
// from its HTTP request through the ingest group commit, across the queue (the W3C traceparent is stored with the
// execution, TraceParent and WithTraceParent), through the worker's job and each node's run, into the HTTP node's
// outgoing calls (Transport). The span names and attributes are listed in the README ("Observability").
//
// Nothing here is global: the Tracing value is built once in cmd/concertmaster and handed to whoever starts spans.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// InstrumentationName names the tracer of every span this process starts.
const InstrumentationName = "github.com/concertmaster/concertmaster"

// Attribute keys of the spans (documented in the README).
const (
	AttrExecutionID    = attribute.Key("concertmaster.execution.id")
	AttrWorkflowID     = attribute.Key("concertmaster.workflow.id")
	AttrOrganizationID = attribute.Key("concertmaster.organization.id")
	AttrRequestID      = attribute.Key("concertmaster.request.id")
	AttrStatus         = attribute.Key("concertmaster.execution.status")
	AttrTriggerKind    = attribute.Key("concertmaster.trigger.kind")
	AttrNodeID         = attribute.Key("concertmaster.node.id")
	AttrNodeType       = attribute.Key("concertmaster.node.type")
	AttrNodeStatus     = attribute.Key("concertmaster.node.status")
	AttrNodeAttempt    = attribute.Key("concertmaster.node.attempt")
	AttrJobAttempt     = attribute.Key("concertmaster.job.attempt")
)

// Config is what New needs.
type Config struct {
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL (http://collector:4318), to which
	// /v1/traces is added as the OpenTelemetry specification says. Empty: tracing is off.
	Endpoint string
	// Version is the service.version resource attribute.
	Version string
}

// Tracing starts spans and propagates their context. The zero value is not usable; New returns one, Off a no-op.
type Tracing struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	sdk      *sdktrace.TracerProvider
	enabled  bool
}

// Off returns tracing that records nothing: a no-op tracer and no exporter.
func Off() *Tracing {
	p := noop.NewTracerProvider()
	return &Tracing{provider: p, tracer: p.Tracer(InstrumentationName), prop: propagation.TraceContext{}}
}

// New returns the process's tracing: Off when cfg.Endpoint is empty, else spans exported over OTLP/HTTP in batches.
// The standard OTEL_* variables the SDK reads (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION,
// OTEL_TRACES_SAMPLER and _ARG, OTEL_BSP_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) apply as well.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if cfg.Endpoint == "" {
		return Off(), nil
	}
	endpoint, err := TracesURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "concertmaster"),
			attribute.String("service.version", cfg.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{provider: sdk, tracer: sdk.Tracer(InstrumentationName), prop: propagation.TraceContext{},
		sdk: sdk, enabled: true}, nil
}

// TracesURL is the OTLP/HTTP traces URL of a collector's base URL (OTEL_EXPORTER_OTLP_ENDPOINT).
func TracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: want an http or https URL like http://collector:4318, got %q", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	return u.String(), nil
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t.enabled }

// Tracer is the tracer every span of the process comes from.
func (t *Tracing) Tracer() trace.Tracer { return t.tracer }

// Shutdown exports the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// ForceFlush exports the spans buffered so far (tests wait for them).
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.ForceFlush(ctx)
}

// TraceParent is the W3C traceparent of the span ctx carries, to store with work handed to another process; "" when
// ctx carries no recording span (tracing off), so nothing is stored.
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// WithTraceParent returns ctx continuing the trace a stored traceparent names (a remote parent); ctx as it is when
// traceparent is empty or malformed.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Fail marks a span failed with a message.
func Fail(span trace.Span, msg string) {
	span.SetStatus(codes.Error, msg)
}

// Middleware starts the server span of each request: it continues a caller's traceparent, is named after the
// route the mux matched ("POST /hooks/{token}", never the path, which may hold a secret), and carries the request
// id. next must set r.Pattern as the mux does (the span's name is set once the request has been served).
func (t *Tracing) Middleware(requestID func(context.Context) string, next http.Handler) http.Handler {
	if !t.enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method),
				AttrRequestID.String(requestID(r.Context()))))
		defer span.End()
		rec := &statusWriter{ResponseWriter: w}
		inner := r.WithContext(ctx)
		next.ServeHTTP(rec, inner)
		r.Pattern = inner.Pattern // set by the mux on the request it routed
		if r.Pattern != "" {
			span.SetName(r.Pattern)
			span.SetAttributes(attribute.String("http.route", r.Pattern))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", rec.code()))
		if rec.code() >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.code()))
		}
	})
}

// statusWriter remembers a response's status for the server span.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushing server-sent events).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Transport wraps an outgoing transport so that each request carries the traceparent of the span its context
// holds (the HTTP node's run); base itself when tracing is off.
func (t *Tracing) Transport(base http.RoundTripper) http.RoundTripper {
	if !t.enabled {
		return base
	}
	return propagatingTransport{base: base, prop: t.prop}
}

type propagatingTransport struct {
	base http.RoundTripper
	prop propagation.TextMapPropagator
}

func (p propagatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return p.base.RoundTrip(r)
	}
	r = r.Clone(r.Context()) // a RoundTripper must not modify the request it is given
	p.prop.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	return p.base.RoundTrip(r)
}
