package pages

import (
	"encoding/json"
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
	httpx.SendPayload(w, body)
}

// payloadView is the page's view of a value kept in the file storage, nil for a value held in its row.
func payloadView(execID uuid.UUID, raw json.RawMessage) *views.PayloadView {
	ref := store.ParsePayloadRef(raw)
	if ref == nil {
		return nil
	}
	return &views.PayloadView{Size: httpx.HumanBytes(ref.Size), Preview: ref.Preview,
		URL: "/executions/" + execID.String() + "/payloads/" + ref.Key}
}
