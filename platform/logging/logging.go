// Package logging carries the logger of the work being done (a request, with its request id) in its context, so
// that every layer below the HTTP edge logs with the same attributes without being handed a logger per call.
package logging

import (
	"context"
	"log/slog"
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
