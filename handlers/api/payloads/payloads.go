// Package payloads serves the whole of an execution's large values (GET /api/v1/executions/{id}/payloads/{key},
// and the same for a signed-in browser at /executions/{id}/payloads/{key}): trigger data and node inputs and
// outputs above PAYLOAD_INLINE_LIMIT, whose rows and API responses hold only a reference with their size and a
// preview. An adapter over app.Executions.OpenPayload.
//
// It may import httpx and app; it imports no surface.
package payloads

import (
	"net/http"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
)

// Handlers serves the payload route over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

// Get streams a stored value as the JSON it is; whoever may see the execution may read it.
func (h *Handlers) Get(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		h.Problem(w, r, err)
		return
	}
	body, err := h.App.Executions.OpenPayload(r.Context(), h.Caller(r), id, r.PathValue("key"))
	if err != nil {
		h.Problem(w, r, err)
		return
	}
	httpx.SendPayload(w, body)
}
