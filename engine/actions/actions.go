// Package actions holds the node types that change the world: action.email, action.http, action.database and
// action.file_export, together with what they run on: the integrations they use (SMTP servers, HTTP credentials,
// PostgreSQL databases), the SSRF guard every outbound connection goes through, integrations' rate limits shared
// by all workers (over platform/ratelimit), and the per-execution engine.Services that the worker hands them
// (NewServicesFactory).
//
// The node types reach the platform only through the fields of engine.Services: the e-mail delivery record comes
// back in the Mailer's receipt, files' records from Storage, connection pools stay behind Databases, and a rate
// limit or a response cache is a field of its own. A caller leaving a field nil gets a node that fails naming
// what is missing (or, for the response cache, one that caches nothing), never one that quietly does less.
package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
)

// Types returns the action node types.
func Types() []engine.NodeType {
	return []engine.NodeType{
		EmailAction(),
		HTTPAction(),
		DatabaseAction(),
		FileExportAction(),
	}
}

// Register adds the action node types to reg.
func Register(reg *engine.Registry) error {
	for _, t := range Types() {
		if err := reg.Register(t); err != nil {
			return err
		}
	}
	return nil
}

// IntegrationSource resolves an organization's integrations for the runtime; sql/store's IntegrationStore
// implements it. An integration of another organization is reported as not found.
type IntegrationSource interface {
	IntegrationForRun(ctx context.Context, orgID, id uuid.UUID) (engine.Integration, error)
}

// EmailDelivery is the record of one message, written before it is sent.
type EmailDelivery struct {
	OrganizationID uuid.UUID
	ExecutionID    *uuid.UUID
	NodeID         string
	IntegrationID  *uuid.UUID
	Recipients     []string
	Subject        string
	// IdempotencyKey is the sending node run's key: every attempt and every resumed pass of the run shares one
	// delivery record, which tells them what became of the message before. Empty: a record of its own.
	IdempotencyKey string
	// ResendIfUnknown: a message an earlier pass left sending (it may or may not have gone) is sent again, with
	// the same Message-ID, instead of failing the node (action.email's resend_if_unknown).
	ResendIfUnknown bool
}

// Delivery statuses, as the email_deliveries table has them.
const (
	DeliverySending = "sending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
	// DeliveryUnknown: a message an earlier pass left sending, not sent again; whether it went is unknown.
	DeliveryUnknown = "unknown"
)

// EmailDeliveryClaim is what EmailDeliveryStart found and did.
type EmailDeliveryClaim struct {
	ID uuid.UUID
	// Previous is the status the run's record had before ("" when there was none): DeliverySent (the message went;
	// MessageID and SMTPReply are its receipt), DeliveryFailed, DeliverySending or DeliveryUnknown.
	Previous  string
	MessageID string
	SMTPReply string
	// Send says the record is (again) sending, committed, and the message is to be sent now. It is false when it
	// went already (Previous sent) and when whether it went is unknown and ResendIfUnknown was not set (the record
	// is then DeliveryUnknown).
	Send bool
}

// EmailDeliveryResult is what became of a message.
type EmailDeliveryResult struct {
	// Status is DeliverySent or DeliveryFailed.
	Status    string
	MessageID string
	SMTPReply string
	Error     string
}

// ExportedFile is the uploads row of a file a node stored.
type ExportedFile struct {
	OrganizationID uuid.UUID
	WorkflowID     *uuid.UUID
	ExecutionID    *uuid.UUID
	StorageKey     string
	Filename       string
	ContentType    string
	Size           int64
	SHA256         []byte
	ExpiresAt      *time.Time
}

// StoredFile is what a node may know of a file of its organization: enough to attach it to an e-mail.
type StoredFile struct {
	ID          uuid.UUID
	StorageKey  string
	Filename    string
	ContentType string
	Size        int64
}

// RunRecords is what the runtime writes and reads besides integrations; sql/store's Store implements it.
type RunRecords interface {
	// EmailDeliveryStart records, and commits, that a message is about to be sent, before the SMTP transaction
	// begins; with an idempotency key it first looks at what earlier attempts of the run left (EmailDeliveryClaim).
	EmailDeliveryStart(ctx context.Context, d EmailDelivery) (EmailDeliveryClaim, error)
	EmailDeliveryFinish(ctx context.Context, orgID, id uuid.UUID, r EmailDeliveryResult) error
	// ExportCreate records a file a node exported (an uploads row with source "export").
	ExportCreate(ctx context.Context, f ExportedFile) (uuid.UUID, error)
	// FileByStorageKey finds a live (unexpired) file of the organization by its storage key.
	FileByStorageKey(ctx context.Context, orgID uuid.UUID, key string) (StoredFile, error)
}

// decodeConfig reads a schema-checked config into its struct, refusing unknown fields again so that a schema
// that forgot additionalProperties cannot hide a typo.
func decodeConfig[T any](cfg json.RawMessage) (T, error) {
	var v T
	if len(cfg) == 0 || string(cfg) == "null" {
		cfg = json.RawMessage(`{}`)
	}
	dec := json.NewDecoder(bytes.NewReader(cfg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("config: %w", err)
	}
	return v, nil
}

// parseDurationField reads an optional duration from a config, reporting a bad one against its field.
func parseDurationField(field, s string, def, maxDur time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, engine.ConfigError(field, fmt.Sprintf("%q is not a duration such as \"30s\" or \"5m\"", s))
	}
	if d > maxDur {
		return 0, engine.ConfigError(field, fmt.Sprintf("must be at most %s", maxDur))
	}
	return d, nil
}

// describe names a value's JSON type for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64, int, int64, json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
