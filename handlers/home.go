package handlers

import (
	"net/http"

	"github.com/concertmaster/concertmaster/views"
)

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, views.Home(s.deps.Version))
}
