package api

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// WebhookInfo is the answer of GET /api/v1/workflows/{id}/webhook.
type WebhookInfo struct {
	URL                     string     `json:"url"`
	Secret                  string     `json:"secret"`
	SignatureHeader         string     `json:"signature_header"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// apiWorkflowWebhook is GET /api/v1/workflows/{id}/webhook: the URL and secret, for those who may edit the
// workflow (the secret lets its holder start runs). The webhook is created the first time it is asked for.
func (s *Handlers) apiWorkflowWebhook(w http.ResponseWriter, r *http.Request) {
	s.respondWebhook(w, r, false)
}

// apiWorkflowWebhookRotate is POST /api/v1/workflows/{id}/webhook/rotate: a new secret, the old one valid for a day.
func (s *Handlers) apiWorkflowWebhookRotate(w http.ResponseWriter, r *http.Request) {
	s.respondWebhook(w, r, true)
}

func (s *Handlers) respondWebhook(w http.ResponseWriter, r *http.Request, rotate bool) {
	id, err := httpx.PathID(r, "id")
	var hook store.Webhook
	switch {
	case err != nil:
	case rotate:
		hook, err = s.deps.App.Workflows.RotateWebhookSecret(r.Context(), s.Caller(r), id)
	default:
		hook, err = s.deps.App.Workflows.Webhook(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.Respond(w, http.StatusOK, WebhookInfo{URL: s.WebhookURL(hook), Secret: hook.Secret,
		SignatureHeader: httpx.SignatureHeader, PreviousSecretExpiresAt: hook.PreviousSecretExpiresAt})
}

// WebhookDeliveryJSON is one call of a webhook, as its deliveries log shows it.
type WebhookDeliveryJSON struct {
	At          time.Time  `json:"at"`
	StatusCode  int        `json:"status_code"`
	SizeBytes   int        `json:"size_bytes"`
	ExecutionID *uuid.UUID `json:"execution_id,omitempty"`
	RemoteIP    string     `json:"remote_ip,omitempty"`
}

// apiWorkflowWebhookDeliveries is GET /api/v1/workflows/{id}/webhook/deliveries: the latest calls (newest first),
// for those who may see the workflow.
func (s *Handlers) apiWorkflowWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var deliveries []store.WebhookDelivery
	if err == nil {
		var limit int
		if limit, err = httpx.QueryLimit(r.URL.Query().Get("limit")); err != nil {
			// A caller who may not see the workflow learns that, not what is wrong with their limit.
			if _, aerr := s.deps.App.Workflows.Authorized(r.Context(), s.Caller(r), id, authz.WorkflowView); aerr != nil {
				err = aerr
			}
		} else {
			deliveries, err = s.deps.App.Workflows.WebhookDeliveries(r.Context(), s.Caller(r), id, limit)
		}
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	items := []WebhookDeliveryJSON{}
	for _, d := range deliveries {
		item := WebhookDeliveryJSON{At: d.At, StatusCode: d.StatusCode, SizeBytes: d.SizeBytes, ExecutionID: d.ExecutionID}
		if d.RemoteIP.IsValid() {
			item.RemoteIP = d.RemoteIP.String()
		}
		items = append(items, item)
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"items": items})
}
