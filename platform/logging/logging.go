// Package logging carries the logger of the work being done (a request, with its request id) in its context, so
// that every layer below the HTTP edge logs with the same attributes without being handed a logger per call.
package logging

import (
	"context"
	"log/slog"
	"sync"
)

type contextKey struct{}

// With returns ctx carrying logger.
func With(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, contextKey{}, logger)
}

// From returns the logger ctx carries, or fallback when it carries none (work outside a request).
func From(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(contextKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request being served, so that the layers below the HTTP edge can
// record it with what the request creates (an execution keeps the id of the request that triggered it).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the id of the request ctx serves, or "" outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Annotations are attributes the layers below add to the line that ends a piece of work: the access log line of a
// request carries the ids of the executions the request created, so its 202 and its executions meet in the logs.
type Annotations struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

type annotationsKey struct{}

// WithAnnotations returns ctx collecting annotations, and the collection.
func WithAnnotations(ctx context.Context) (context.Context, *Annotations) {
	a := &Annotations{}
	return context.WithValue(ctx, annotationsKey{}, a), a
}

// Annotate adds a string attribute to the line ending the work ctx belongs to; a key given again is joined to the
// values before it with commas (a form post that starts several executions). Without a collection it does nothing.
func Annotate(ctx context.Context, key, value string) {
	a, ok := ctx.Value(annotationsKey{}).(*Annotations)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.attrs {
		if a.attrs[i].Key == key {
			a.attrs[i].Value = slog.StringValue(a.attrs[i].Value.String() + "," + value)
			return
		}
	}
	a.attrs = append(a.attrs, slog.String(key, value))
}

// Attrs returns the annotations collected so far.
func (a *Annotations) Attrs() []slog.Attr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]slog.Attr(nil), a.attrs...)
}
