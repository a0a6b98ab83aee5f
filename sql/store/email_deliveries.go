package store

import (
	"context"
	"time"

	"github.com/google/uuid"

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
	// Status is sending, sent or failed; a message left sending was interrupted by a stopping worker.
	Status     string    `json:"status"`
	Recipients []string  `json:"recipients"`
	Subject    string    `json:"subject"`
	MessageID  string    `json:"message_id,omitempty"`
	SMTPReply  string    `json:"smtp_reply,omitempty"`
	Error      string    `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// EmailDeliveryStart implements actions.RunRecords: the record is written before the message is sent, so that a
// send interrupted by a crash leaves a trace.
func (s *Store) EmailDeliveryStart(ctx context.Context, d actions.EmailDelivery) (uuid.UUID, error) {
	p := db.EmailDeliveryCreateParams{OrganizationID: d.OrganizationID, ExecutionID: d.ExecutionID,
		IntegrationID: d.IntegrationID, Recipients: d.Recipients, Subject: d.Subject}
	if d.NodeID != "" {
		p.NodeID = &d.NodeID
	}
	if p.Recipients == nil {
		p.Recipients = []string{}
	}
	id, err := s.q.EmailDeliveryCreate(ctx, p)
	return id, interpret(err, "e-mail delivery")
}

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
