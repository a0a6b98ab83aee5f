package handlers

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the one route table of the application.
func (s *Server) routes() {
	s.handle("GET /healthz", http.HandlerFunc(s.healthz))
	s.handle("GET /readyz", http.HandlerFunc(s.readyz))
	s.handle("GET /metrics", promhttp.HandlerFor(s.deps.Metrics, promhttp.HandlerOpts{Registry: s.deps.Metrics}))
	s.handle("GET /static/", staticHandler())
	s.handle("GET /{$}", http.HandlerFunc(s.home))
}

// handle registers a route and remembers its pattern for Routes.
func (s *Server) handle(pattern string, h http.Handler) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, h)
}

// Routes lists the pattern of every registered route, for tests that walk all of them.
func (s *Server) Routes() []string {
	return append([]string(nil), s.patterns...)
}
