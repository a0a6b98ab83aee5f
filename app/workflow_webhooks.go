package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/sql/store"
)

// WebhookSecretGrace is how long a rotated-out webhook secret still verifies, so senders can switch over.
const WebhookSecretGrace = 24 * time.Hour

// Webhook returns a workflow's webhook with its secret, made the first time it is asked for. It takes editing the
// workflow: the secret lets its holder start runs.
func (w *Workflows) Webhook(ctx context.Context, c Caller, id uuid.UUID) (store.Webhook, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowEdit)
	if err != nil {
		return store.Webhook{}, err
	}
	return w.store.WebhookEnsure(ctx, c.Actor, w.webhookKeys, wf.OrganizationID, wf.ID)
}

// RotateWebhookSecret gives a workflow's webhook a new secret; the old one verifies for WebhookSecretGrace more.
func (w *Workflows) RotateWebhookSecret(ctx context.Context, c Caller, id uuid.UUID) (store.Webhook, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowEdit)
	if err != nil {
		return store.Webhook{}, err
	}
	return w.store.WebhookRotate(ctx, c.Actor, w.webhookKeys, wf.OrganizationID, wf.ID, WebhookSecretGrace)
}

// WebhookDeliveries lists the latest calls of a workflow's webhook, newest first, at most limit; none while it
// has no webhook. It takes seeing the workflow.
func (w *Workflows) WebhookDeliveries(ctx context.Context, c Caller, id uuid.UUID, limit int) ([]store.WebhookDelivery, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowView)
	if err != nil {
		return nil, err
	}
	return w.deliveries(ctx, wf, limit)
}

func (w *Workflows) deliveries(ctx context.Context, wf store.Workflow, limit int) ([]store.WebhookDelivery, error) {
	hook, err := w.store.WebhookIDOf(ctx, wf.OrganizationID, wf.ID)
	if err != nil || hook == uuid.Nil {
		return nil, err
	}
	return w.store.WebhookDeliveries(ctx, wf.OrganizationID, hook, limit)
}
