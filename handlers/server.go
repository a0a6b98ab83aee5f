// Package handlers is ConcertMaster's HTTP surface: routing, middleware, pages, the API, webhooks and public forms.
// A handler reads like a recipe: parse, authorize, call the engine or the store, render or redirect.
package handlers

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Pinger reports whether the database answers; /readyz uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is everything the HTTP layer needs, built once in cmd/concertmaster.
type Deps struct {
	Logger *slog.Logger
	DB     Pinger
	// Metrics is the registry served at /metrics; the HTTP metrics are registered in it by New.
	Metrics *prometheus.Registry
	Version string
}

// Server is the application's http.Handler.
type Server struct {
	deps    Deps
	mux     *http.ServeMux
	metrics *httpMetrics
	handler http.Handler
	// patterns lists the registered routes in registration order.
	patterns []string
}

// New builds the server with its routes and middleware.
func New(deps Deps) *Server {
	s := &Server{deps: deps, mux: http.NewServeMux(), metrics: newHTTPMetrics(deps.Metrics)}
	s.routes()
	s.handler = s.withRequestID(s.withObservation(s.withRecovery(s.mux)))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
