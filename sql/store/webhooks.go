package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/platform/batch"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Webhook is a workflow's public endpoint: POST /hooks/{Token}, signed with Secret.
type Webhook struct {
	ID         uuid.UUID
	WorkflowID uuid.UUID
	Token      string
	Secret     string
	// PreviousSecretExpiresAt is when the secret replaced by the last rotation stops working.
	PreviousSecretExpiresAt *time.Time
	CreatedAt               time.Time
}

// secretAAD binds a sealed webhook secret to its workflow: a ciphertext copied to another row does not open.
func secretAAD(workflowID uuid.UUID) []byte { return append([]byte("webhook:"), workflowID[:]...) }

func newWebhookToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + hex.EncodeToString(b)
}

// WebhookEnsure returns a workflow's webhook, creating it (token and secret) the first time.
func (s *Store) WebhookEnsure(ctx context.Context, by Actor, keys *secrets.Keyring, orgID, workflowID uuid.UUID) (Webhook, error) {
	row, err := s.q.WebhookGetByWorkflow(ctx, db.WebhookGetByWorkflowParams{WorkflowID: workflowID, OrganizationID: orgID})
	if err == nil {
		return webhookFromRow(keys, row)
	}
	if err != pgx.ErrNoRows {
		return Webhook{}, interpret(err, "webhook")
	}
	secret := newWebhookSecret()
	sealed, err := keys.Seal([]byte(secret), secretAAD(workflowID))
	if err != nil {
		return Webhook{}, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err = q.WebhookCreate(ctx, db.WebhookCreateParams{OrganizationID: orgID, WorkflowID: workflowID,
			Token: newWebhookToken(), SecretCiphertext: sealed})
		if err != nil {
			return interpret(err, "webhook")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "webhook.create", TargetType: "workflow",
			TargetID: workflowID.String()})
	})
	if err != nil {
		return Webhook{}, err
	}
	return webhookFromRow(keys, row)
}

// WebhookFind returns a workflow's webhook, nil while it has none; unlike WebhookEnsure it never creates one, so
// merely looking at a workflow writes nothing.
func (s *Store) WebhookFind(ctx context.Context, keys *secrets.Keyring, orgID, workflowID uuid.UUID) (*Webhook, error) {
	row, err := s.q.WebhookGetByWorkflow(ctx, db.WebhookGetByWorkflowParams{WorkflowID: workflowID, OrganizationID: orgID})
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, interpret(err, "webhook")
	}
	hook, err := webhookFromRow(keys, row)
	return &hook, err
}

// WebhookRotate gives a webhook a new secret; the old one keeps working for grace, so senders can switch over.
func (s *Store) WebhookRotate(ctx context.Context, by Actor, keys *secrets.Keyring, orgID, workflowID uuid.UUID, grace time.Duration) (Webhook, error) {
	if _, err := s.WebhookEnsure(ctx, by, keys, orgID, workflowID); err != nil {
		return Webhook{}, err
	}
	sealed, err := keys.Seal([]byte(newWebhookSecret()), secretAAD(workflowID))
	if err != nil {
		return Webhook{}, err
	}
	var row db.Webhook
	err = s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err = q.WebhookRotateSecret(ctx, db.WebhookRotateSecretParams{WorkflowID: workflowID, OrganizationID: orgID,
			SecretCiphertext: sealed, PreviousExpiresAt: ptrTo(time.Now().Add(grace))})
		if err != nil {
			return interpret(err, "webhook")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "webhook.rotate_secret",
			TargetType: "workflow", TargetID: workflowID.String(), After: map[string]any{"grace": grace.String()}})
	})
	if err != nil {
		return Webhook{}, err
	}
	return webhookFromRow(keys, row)
}

func webhookFromRow(keys *secrets.Keyring, r db.Webhook) (Webhook, error) {
	secret, err := keys.Open(r.SecretCiphertext, secretAAD(r.WorkflowID))
	if err != nil {
		return Webhook{}, fmt.Errorf("open webhook secret: %w", err)
	}
	return Webhook{ID: r.ID, WorkflowID: r.WorkflowID, Token: r.Token, Secret: string(secret),
		PreviousSecretExpiresAt: r.PreviousSecretExpiresAt, CreatedAt: r.CreatedAt}, nil
}

// WebhookTarget is what accepting a call to a webhook needs.
type WebhookTarget struct {
	WebhookID      uuid.UUID
	OrganizationID uuid.UUID
	WorkflowID     uuid.UUID
	VersionID      uuid.UUID
	Version        int32
	Priority       int16
	// Secrets are the secrets a signature may use: the current one, and the previous one during its grace.
	Secrets [][]byte
}

// WebhookTargetByToken resolves a token. An unknown token, or one of an inactive or archived workflow, is NotFound.
func (s *Store) WebhookTargetByToken(ctx context.Context, keys *secrets.Keyring, token string) (WebhookTarget, error) {
	r, err := s.q.WebhookTarget(ctx, token)
	if err != nil {
		return WebhookTarget{}, interpret(err, "webhook")
	}
	t := WebhookTarget{WebhookID: r.WebhookID, OrganizationID: r.OrganizationID, WorkflowID: r.WorkflowID,
		VersionID: r.VersionID, Version: r.Version, Priority: r.Priority}
	current, err := keys.Open(r.SecretCiphertext, secretAAD(r.WorkflowID))
	if err != nil {
		return WebhookTarget{}, fmt.Errorf("open webhook secret: %w", err)
	}
	t.Secrets = append(t.Secrets, current)
	if r.PreviousSecretCiphertext != nil && r.PreviousSecretExpiresAt != nil && time.Now().Before(*r.PreviousSecretExpiresAt) {
		if previous, err := keys.Open(r.PreviousSecretCiphertext, secretAAD(r.WorkflowID)); err == nil {
			t.Secrets = append(t.Secrets, previous)
		}
	}
	return t, nil
}

// IdempotentResponse is the first answer given to an Idempotency-Key.
type IdempotentResponse struct {
	StatusCode int
	Body       json.RawMessage
}

// ExecutionCreateIdempotent creates an execution unless key was used in scope within ttl, in which case it returns
// the first answer (replayed true) and creates nothing. The key and the execution commit together. A signed call
// also claims its nonce (nil for an unsigned one) in that transaction, after the key: the same key answers again
// whatever its signature, while a new key on a signature already accepted is a replay (a Conflict, and the key
// stays free) — the key is not signed, so a replayer could otherwise pick a fresh one for each try.
func (s *Store) ExecutionCreateIdempotent(ctx context.Context, in NewExecution, scope, key string, ttl time.Duration, nonce *WebhookNonce) (IdempotentResponse, bool, error) {
	if err := in.prepare(ctx); err != nil {
		return IdempotentResponse{}, false, err
	}
	first := IdempotentResponse{StatusCode: 202}
	first.Body, _ = json.Marshal(map[string]any{"execution_id": in.ID})
	var replay *IdempotentResponse
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		_, err := q.IdempotencyKeyClaim(ctx, db.IdempotencyKeyClaimParams{OrganizationID: in.OrganizationID,
			Scope: scope, Key: key, StatusCode: int32(first.StatusCode), Response: first.Body,
			ExpiresAt: time.Now().Add(ttl)})
		if err == pgx.ErrNoRows {
			prev, err := q.IdempotencyKeyGet(ctx, db.IdempotencyKeyGetParams{OrganizationID: in.OrganizationID,
				Scope: scope, Key: key})
			if err != nil {
				return interpret(err, "idempotency key")
			}
			replay = &IdempotentResponse{StatusCode: int(prev.StatusCode), Body: prev.Response}
			return nil
		}
		if err != nil {
			return interpret(err, "idempotency key")
		}
		if nonce != nil {
			refused, err := claimNoncesTx(ctx, q, []*WebhookNonce{nonce})
			if err != nil {
				return err
			}
			if refused[0] != nil {
				return refused[0]
			}
		}
		_, err = s.executionCreateTx(ctx, tx, q, in, nil)
		return err
	})
	if err != nil {
		return IdempotentResponse{}, false, err
	}
	if replay != nil {
		return *replay, true, nil
	}
	return first, false, nil
}

// WebhookNonce makes a signed webhook call single-use: the call claims it with its execution, and a call with a
// nonce already claimed and unexpired is a replay, refused without creating anything. ExpiresAt is when its
// signature can no longer verify, after which the row is pruned.
type WebhookNonce struct {
	WebhookID uuid.UUID
	Value     []byte
	ExpiresAt time.Time
}

func (n *WebhookNonce) key() string { return string(n.WebhookID[:]) + string(n.Value) }

// replayError is the answer to a replayed signed call; acceptedAt is zero when the first call's row is gone.
func replayError(acceptedAt time.Time) error {
	if acceptedAt.IsZero() {
		return fault.New(fault.Conflict, "this signed request was already accepted; send a new timestamp and signature")
	}
	return fault.New(fault.Conflict, "this signed request was already accepted at %s; send a new timestamp and signature",
		acceptedAt.UTC().Format(time.RFC3339))
}

// claimNoncesTx claims nonces (nil entries are calls without one, left alone) in one statement, whatever their
// number: the group commit must not pay a round trip per call. refused[i] is the replay error of entry i, nil when
// it was claimed. Within nonces, the first of several entries with the same nonce claims it and the others are
// replays. A second statement runs only when some nonce was already held, to say since when.
func claimNoncesTx(ctx context.Context, q *db.Queries, nonces []*WebhookNonce) (refused []error, err error) {
	refused = make([]error, len(nonces))
	first := map[string]int{}
	var params db.WebhookNonceClaimManyParams
	for i, n := range nonces {
		if n == nil {
			continue
		}
		if _, seen := first[n.key()]; seen {
			continue
		}
		first[n.key()] = i
		params.WebhookIds = append(params.WebhookIds, n.WebhookID)
		params.Nonces = append(params.Nonces, n.Value)
		params.ExpiresAt = append(params.ExpiresAt, n.ExpiresAt)
	}
	if len(first) == 0 {
		return refused, nil
	}
	rows, err := q.WebhookNonceClaimMany(ctx, params)
	if err != nil {
		return nil, interpret(err, "webhook nonces")
	}
	claimed := make(map[string]bool, len(rows))
	for _, r := range rows {
		claimed[(&WebhookNonce{WebhookID: r.WebhookID, Value: r.Nonce}).key()] = true
	}
	var held db.WebhookNonceAcceptedAtParams
	for i, n := range nonces {
		if n == nil {
			continue
		}
		if !claimed[n.key()] && first[n.key()] == i {
			held.WebhookIds = append(held.WebhookIds, n.WebhookID)
			held.Nonces = append(held.Nonces, n.Value)
		}
	}
	acceptedAt := map[string]time.Time{}
	if len(held.Nonces) > 0 {
		rows, err := q.WebhookNonceAcceptedAt(ctx, held)
		if err != nil {
			return nil, interpret(err, "webhook nonces")
		}
		for _, r := range rows {
			acceptedAt[(&WebhookNonce{WebhookID: r.WebhookID, Value: r.Nonce}).key()] = r.AcceptedAt
		}
	}
	now := time.Now()
	for i, n := range nonces {
		switch {
		case n == nil:
		case !claimed[n.key()]:
			refused[i] = replayError(acceptedAt[n.key()])
		case first[n.key()] != i:
			// Its twin in this group claims the nonce, and is accepted when the group commits.
			refused[i] = replayError(now)
		}
	}
	return refused, nil
}

// WebhookDelivery is one call to a webhook, for its deliveries log.
type WebhookDelivery struct {
	OrganizationID uuid.UUID
	WebhookID      uuid.UUID
	StatusCode     int
	SizeBytes      int
	ExecutionID    *uuid.UUID
	RemoteIP       netip.Addr
	At             time.Time
}

// WebhookIDOf returns the id of a workflow's webhook, uuid.Nil when it has none yet.
func (s *Store) WebhookIDOf(ctx context.Context, orgID, workflowID uuid.UUID) (uuid.UUID, error) {
	row, err := s.q.WebhookGetByWorkflow(ctx, db.WebhookGetByWorkflowParams{WorkflowID: workflowID, OrganizationID: orgID})
	if err == pgx.ErrNoRows {
		return uuid.Nil, nil
	}
	if err != nil {
		return uuid.Nil, interpret(err, "webhook")
	}
	return row.ID, nil
}

// WebhookDeliveries returns a webhook's latest deliveries.
func (s *Store) WebhookDeliveries(ctx context.Context, orgID, webhookID uuid.UUID, limit int) ([]WebhookDelivery, error) {
	rows, err := s.q.WebhookDeliveryList(ctx, db.WebhookDeliveryListParams{WebhookID: webhookID, OrganizationID: orgID,
		MaxRows: int32(clampLimit(limit))})
	if err != nil {
		return nil, interpret(err, "webhook deliveries")
	}
	out := make([]WebhookDelivery, len(rows))
	for i, r := range rows {
		out[i] = WebhookDelivery{OrganizationID: r.OrganizationID, WebhookID: r.WebhookID, StatusCode: int(r.StatusCode),
			SizeBytes: int(r.SizeBytes), ExecutionID: r.ExecutionID, At: r.CreatedAt}
		if r.RemoteIp != nil {
			out[i].RemoteIP = *r.RemoteIp
		}
	}
	return out, nil
}

// DeliveryLog writes webhook deliveries in the background, in groups: the log must not cost the hot path a commit,
// and losing its last lines in a crash is acceptable. It is a service.Service; Stop writes what it holds.
type DeliveryLog struct {
	store  *Store
	logger *slog.Logger
	batch  *batch.Batcher[WebhookDelivery, struct{}]
}

// NewDeliveryLog returns a log; it must be started. A group is written 100 ms after its first delivery, or once it
// holds 1,000; up to 8,192 more wait meanwhile.
func (s *Store) NewDeliveryLog(arch *service.Archetype) *DeliveryLog {
	l := &DeliveryLog{store: s, logger: arch.Logger}
	l.batch = batch.New(batch.Config{Window: 100 * time.Millisecond, MaxSize: 1000, Queue: 8192,
		FlushTimeout: 10 * time.Second, Clock: arch.Clock}, l.write)
	return l
}

// Start implements service.Service.
func (l *DeliveryLog) Start(ctx context.Context) error { return l.batch.Start(ctx) }

// Stop implements service.Service.
func (l *DeliveryLog) Stop() { l.batch.Stop() }

// Add queues a delivery; under a flood beyond the buffer it is dropped rather than slow the webhook.
func (l *DeliveryLog) Add(d WebhookDelivery) { l.batch.Offer(d) }

// write writes a group of deliveries in one statement; a failure is logged, and nobody waits for it.
func (l *DeliveryLog) write(ctx context.Context, deliveries []WebhookDelivery, _ []batch.Result[struct{}]) {
	rows := make([]db.WebhookDeliveriesCreateParams, len(deliveries))
	for i, d := range deliveries {
		rows[i] = db.WebhookDeliveriesCreateParams{OrganizationID: d.OrganizationID, WebhookID: d.WebhookID,
			StatusCode: int32(d.StatusCode), SizeBytes: int32(d.SizeBytes), ExecutionID: d.ExecutionID, CreatedAt: d.At}
		if d.RemoteIP.IsValid() {
			ip := d.RemoteIP
			rows[i].RemoteIp = &ip
		}
	}
	if _, err := l.store.q.WebhookDeliveriesCreate(ctx, rows); err != nil {
		l.logger.Warn("writing webhook deliveries failed", "count", len(rows), "error", err)
	}
}

func ptrTo[T any](v T) *T { return &v }
