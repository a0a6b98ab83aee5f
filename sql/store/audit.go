package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/sql/db"
)

// Actor is who makes a change and from where. Every store method that changes state takes one and writes the audit
// row inside the transaction of the change itself: a change that rolls back leaves no audit row, and an audit row
// that cannot be written rolls the change back.
type Actor struct {
	// UserID is nil for the system (a command-line set-up, a background job) and for anonymous requests.
	UserID *uuid.UUID
	// TokenID is set when the request authenticated with a personal API token.
	TokenID   *uuid.UUID
	RemoteIP  netip.Addr
	RequestID string
}

// SystemActor is the actor of changes made outside any request, such as `concertmaster user create`.
var SystemActor = Actor{RequestID: "cli"}

// auditRecord is what a store method says about its change. Before and After are small summaries marshaled to JSON;
// they never hold secrets (password hashes, token hashes, ciphertexts).
type auditRecord struct {
	OrganizationID *uuid.UUID
	Action         string
	TargetType     string
	TargetID       string
	Before, After  any
}

// audit writes one audit row with q, which must be the transaction's queries of the change it records.
func audit(ctx context.Context, q *db.Queries, by Actor, rec auditRecord) error {
	params := db.AuditCreateParams{
		OrganizationID: rec.OrganizationID,
		ActorUserID:    by.UserID,
		ActorTokenID:   by.TokenID,
		Action:         rec.Action,
		TargetType:     rec.TargetType,
		TargetID:       rec.TargetID,
		RequestID:      by.RequestID,
	}
	if by.RemoteIP.IsValid() {
		ip := by.RemoteIP
		params.RemoteIp = &ip
	}
	var err error
	if params.Before, err = auditJSON(rec.Before); err != nil {
		return err
	}
	if params.After, err = auditJSON(rec.After); err != nil {
		return err
	}
	if err := q.AuditCreate(ctx, params); err != nil {
		return fmt.Errorf("audit %s: %w", rec.Action, err)
	}
	return nil
}

func auditJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit summary: %w", err)
	}
	return b, nil
}

// AuditEntry is one row of the audit log as the audit page and API show it.
type AuditEntry struct {
	ID             uuid.UUID       `json:"id"`
	OrganizationID *uuid.UUID      `json:"organization_id,omitempty"`
	ActorUserID    *uuid.UUID      `json:"actor_user_id,omitempty"`
	ActorTokenID   *uuid.UUID      `json:"actor_token_id,omitempty"`
	ActorEmail     string          `json:"actor_email,omitempty"`
	ActorName      string          `json:"actor_name,omitempty"`
	Action         string          `json:"action"`
	TargetType     string          `json:"target_type,omitempty"`
	TargetID       string          `json:"target_id,omitempty"`
	RemoteIP       *netip.Addr     `json:"remote_ip,omitempty"`
	RequestID      string          `json:"request_id,omitempty"`
	Before         json.RawMessage `json:"before,omitempty"`
	After          json.RawMessage `json:"after,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
}

// AuditFilter narrows an audit listing; zero fields do not filter. Cursor continues a previous page.
type AuditFilter struct {
	OrganizationID uuid.UUID
	// ActionPrefix matches actions starting with it: "member." finds every membership change.
	ActionPrefix  string
	ActorUserID   *uuid.UUID
	CreatedFrom   *time.Time
	CreatedBefore *time.Time
	Cursor        *AuditCursor
	Limit         int
}

// AuditCursor is the keyset position after the last entry of a page.
type AuditCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// AuditList returns one page of an organization's audit log, newest first, and the cursor of the next page (nil on
// the last page).
func (s *Store) AuditList(ctx context.Context, f AuditFilter) ([]AuditEntry, *AuditCursor, error) {
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	orgID := f.OrganizationID
	params := db.AuditListParams{
		OrganizationID: &orgID, ActorUserID: f.ActorUserID, CreatedFrom: f.CreatedFrom,
		CreatedBefore: f.CreatedBefore, MaxRows: int32(limit + 1),
	}
	if f.ActionPrefix != "" {
		params.Action = &f.ActionPrefix
	}
	if f.Cursor != nil {
		params.CursorCreatedAt, params.CursorID = &f.Cursor.CreatedAt, &f.Cursor.ID
	}
	rows, err := s.q.AuditList(ctx, params)
	if err != nil {
		return nil, nil, interpret(err, "audit log")
	}
	var next *AuditCursor
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next = &AuditCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	entries := make([]AuditEntry, len(rows))
	for i, r := range rows {
		entries[i] = AuditEntry{ID: r.ID, OrganizationID: r.OrganizationID, ActorUserID: r.ActorUserID,
			ActorTokenID: r.ActorTokenID, ActorEmail: r.ActorEmail, ActorName: r.ActorName, Action: r.Action,
			TargetType: r.TargetType, TargetID: r.TargetID, RemoteIP: r.RemoteIp, RequestID: r.RequestID,
			Before: r.Before, After: r.After, CreatedAt: r.CreatedAt}
	}
	return entries, next, nil
}

// AuditEvent records an event that changes no row of its own (a sign-out), in its own small transaction.
func (s *Store) AuditEvent(ctx context.Context, by Actor, orgID *uuid.UUID, action, targetType, targetID string) error {
	return audit(ctx, s.q, by, auditRecord{OrganizationID: orgID, Action: action, TargetType: targetType, TargetID: targetID})
}
