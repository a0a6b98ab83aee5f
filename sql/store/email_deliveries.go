package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/sql/db"
)

// EmailDelivery is the record of one message an action.email node sent (or tried to), shown on its execution.
type EmailDelivery struct {
	ID             uuid.UUID  `json:"id"`
	OrganizationID uuid.UUID  `json:"organization_id"`
	ExecutionID    *uuid.UUID `json:"execution_id,omitempty"`
	NodeID         string     `json:"node_id,omitempty"`
	IntegrationID  *uuid.UUID `json:"integration_id,omitempty"`
	// Status is sending, sent, failed or unknown: a message left sending was interrupted by a stopping worker, and
	// becomes unknown when the node run resumes (it may have been delivered).
	Status     string    `json:"status"`
	Recipients []string  `json:"recipients"`
	Subject    string    `json:"subject"`
	MessageID  string    `json:"message_id,omitempty"`
	SMTPReply  string    `json:"smtp_reply,omitempty"`
	Error      string    `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// EmailDeliveryStart implements actions.RunRecords: the record is written, and committed, before the message is
// sent, so that a send interrupted by a crash leaves a trace, and a resumed run of the same node finds it by its
// idempotency key and does not send blindly again: a message recorded sent is not sent again, one that failed is,
// and one left sending (the process stopped between handing it over and recording the answer) is marked unknown
// and not sent, unless the node opted into sending it again (ResendIfUnknown). Each attempt that sends has a row
// of its own, so the execution page lists every attempt.
func (s *Store) EmailDeliveryStart(ctx context.Context, d actions.EmailDelivery) (actions.EmailDeliveryClaim, error) {
	p := db.EmailDeliveryCreateParams{OrganizationID: d.OrganizationID, ExecutionID: d.ExecutionID,
		IntegrationID: d.IntegrationID, Recipients: d.Recipients, Subject: d.Subject, IdempotencyKey: nonEmpty(d.IdempotencyKey)}
	if d.NodeID != "" {
		p.NodeID = &d.NodeID
	}
	if p.Recipients == nil {
		p.Recipients = []string{}
	}
	var claim actions.EmailDeliveryClaim
	err := s.inTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		claim = actions.EmailDeliveryClaim{Send: true}
		if d.IdempotencyKey != "" {
			if err := q.EmailDeliveryLockKey(ctx, d.IdempotencyKey); err != nil {
				return interpret(err, "e-mail delivery")
			}
			prev, err := q.EmailDeliveryLatestForKey(ctx, db.EmailDeliveryLatestForKeyParams{OrganizationID: d.OrganizationID,
				IdempotencyKey: &d.IdempotencyKey})
			switch {
			case err == nil:
				resend(d, prev, &claim)
				if prev.Status == actions.DeliverySending {
					// Left by a pass that stopped mid-send: whether it went stays unknown, resent or not.
					if err := q.EmailDeliveryMarkUnknown(ctx, db.EmailDeliveryMarkUnknownParams{ID: prev.ID,
						OrganizationID: d.OrganizationID, Error: &unknownDeliveryError}); err != nil {
						return interpret(err, "e-mail delivery")
					}
				}
			case !errors.Is(err, pgx.ErrNoRows):
				return interpret(err, "e-mail delivery")
			}
		}
		if !claim.Send {
			return nil
		}
		id, err := q.EmailDeliveryCreate(ctx, p)
		claim.ID = id
		return interpret(err, "e-mail delivery")
	})
	return claim, err
}

// resend decides, from the latest delivery of the run's message, whether this attempt sends it: not when it was
// sent (the claim then carries its receipt), nor when it may have been (sending or unknown) unless the node said
// to resend then.
func resend(d actions.EmailDelivery, prev db.EmailDeliveryLatestForKeyRow, claim *actions.EmailDeliveryClaim) {
	claim.Previous = prev.Status
	switch {
	case prev.Status == actions.DeliverySent:
		claim.ID, claim.MessageID, claim.SMTPReply, claim.Send = prev.ID, deref(prev.MessageID), deref(prev.SmtpReply), false
	case prev.Status == actions.DeliveryFailed || d.ResendIfUnknown:
		claim.Send = true
	default:
		claim.ID, claim.Send = prev.ID, false
	}
}

// unknownDeliveryError is the error of a delivery marked unknown.
var unknownDeliveryError = "the worker stopped after handing this message to the SMTP server and before recording " +
	"the answer; it may have been delivered"

// EmailDeliveryFinish implements actions.RunRecords.
func (s *Store) EmailDeliveryFinish(ctx context.Context, orgID, id uuid.UUID, r actions.EmailDeliveryResult) error {
	return interpret(s.q.EmailDeliveryFinish(ctx, db.EmailDeliveryFinishParams{ID: id, OrganizationID: orgID,
		Status: r.Status, MessageID: nonEmpty(r.MessageID), SmtpReply: nonEmpty(r.SMTPReply), Error: nonEmpty(r.Error)}),
		"e-mail delivery")
}

// EmailDeliveryListForExecution lists an execution's messages, oldest first, for its page.
func (s *Store) EmailDeliveryListForExecution(ctx context.Context, orgID, executionID uuid.UUID) ([]EmailDelivery, error) {
	rows, err := s.q.EmailDeliveryListForExecution(ctx, db.EmailDeliveryListForExecutionParams{OrganizationID: orgID,
		ExecutionID: executionID})
	if err != nil {
		return nil, interpret(err, "e-mail deliveries")
	}
	out := make([]EmailDelivery, len(rows))
	for i, r := range rows {
		out[i] = EmailDelivery{ID: r.ID, OrganizationID: r.OrganizationID, ExecutionID: r.ExecutionID,
			NodeID: deref(r.NodeID), IntegrationID: r.IntegrationID, Status: r.Status, Recipients: r.Recipients,
			Subject: r.Subject, MessageID: deref(r.MessageID), SMTPReply: deref(r.SmtpReply), Error: deref(r.Error),
			CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
