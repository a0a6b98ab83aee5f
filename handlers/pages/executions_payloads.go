package pages

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// executionPayloadPage is GET /executions/{id}/payloads/{key}, the "load full" link of a large value on the
// execution page: the API's payload route (handlers/api/payloads) for a signed-in browser. Same authorization,
// app.Executions.OpenPayload: whoever may see the execution, and only a value that execution refers to.
func (s *Handlers) executionPayloadPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	body, err := s.deps.App.Executions.OpenPayload(r.Context(), s.Caller(r), id, r.PathValue("key"))
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.Copy(w, body)
}

// payloadView is the page's view of a value kept in the file storage, nil for a value held in its row.
func payloadView(execID uuid.UUID, raw json.RawMessage) *views.PayloadView {
	ref := store.ParsePayloadRef(raw)
	if ref == nil {
		return nil
	}
	return &views.PayloadView{Size: byteSize(ref.Size), Preview: ref.Preview,
		URL: "/executions/" + execID.String() + "/payloads/" + ref.Key}
}
