package handlers

import (
	"net/http"

	"github.com/concertmaster/concertmaster/static"
)

// staticHandler serves the embedded assets. They change only with a new binary, so browsers may keep them for a
// day; the bundle names in static/dist carry content hashes where a longer life matters.
func staticHandler() http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(static.FS))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}
