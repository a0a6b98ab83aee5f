package handlers

import (
	"net/http"

	"github.com/a-h/templ"
)

// render writes a templ component as the response, logging (not showing) a rendering failure.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		loggerFrom(r.Context(), s.deps.Logger).Error("render page", "error", err)
	}
}
