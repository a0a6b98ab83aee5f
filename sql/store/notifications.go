package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// NotificationChannel is where alerts go: e-mail, a signed webhook, Slack, Teams or the in-app bell. Its secrets
// (the destination URL, the signing secret) stay sealed; only app opens them, to send.
type NotificationChannel struct {
	ID             uuid.UUID       `json:"id"`
	OrganizationID uuid.UUID       `json:"organization_id"`
	Name           string          `json:"name"`
	Kind           string          `json:"kind"`
	Config         json.RawMessage `json:"config"`
	Sealed         []byte          `json:"-"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

func channelFromRow(r db.NotificationChannel) NotificationChannel {
	return NotificationChannel{ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, Kind: r.Kind,
		Config: r.Config, Sealed: r.SecretCiphertext, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// NotificationChannelSave creates a channel (create true, with the id its secrets were sealed for) or updates one
// of its organization; a nil Sealed keeps the sealed secrets.
func (s *Store) NotificationChannelSave(ctx context.Context, ch NotificationChannel, create bool, by Actor) (NotificationChannel, error) {
	var out NotificationChannel
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var row db.NotificationChannel
		var err error
		action := "notification_channel.updated"
		if create {
			action = "notification_channel.created"
			row, err = q.NotificationChannelCreate(ctx, db.NotificationChannelCreateParams{ID: ch.ID, OrganizationID: ch.OrganizationID,
				Name: ch.Name, Kind: ch.Kind, Config: ch.Config, SecretCiphertext: ch.Sealed, CreatedBy: by.UserID})
		} else {
			row, err = q.NotificationChannelUpdate(ctx, db.NotificationChannelUpdateParams{ID: ch.ID,
				OrganizationID: ch.OrganizationID, Name: ch.Name, Config: ch.Config, SecretCiphertext: ch.Sealed})
		}
		if err != nil {
			return interpret(err, "notification channel")
		}
		out = channelFromRow(row)
		return audit(ctx, q, by, auditRecord{OrganizationID: &ch.OrganizationID, Action: action,
			TargetType: "notification_channel", TargetID: out.ID.String(),
			After: map[string]any{"name": out.Name, "kind": out.Kind, "config": out.Config}})
	})
	return out, err
}

// NotificationChannelID is a new channel's id, drawn before its secrets are sealed for it.
func NotificationChannelID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// NotificationChannelGet reads a channel of orgID.
func (s *Store) NotificationChannelGet(ctx context.Context, orgID, id uuid.UUID) (NotificationChannel, error) {
	row, err := s.q.NotificationChannelGet(ctx, db.NotificationChannelGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return NotificationChannel{}, interpret(err, "notification channel")
	}
	return channelFromRow(row), nil
}

// NotificationChannelList lists the channels of orgID by name.
func (s *Store) NotificationChannelList(ctx context.Context, orgID uuid.UUID) ([]NotificationChannel, error) {
	rows, err := s.q.NotificationChannelList(ctx, orgID)
	if err != nil {
		return nil, interpret(err, "notification channels")
	}
	out := make([]NotificationChannel, len(rows))
	for i, r := range rows {
		out[i] = channelFromRow(r)
	}
	return out, nil
}

// NotificationChannelDelete deletes a channel of orgID (and its deliveries).
func (s *Store) NotificationChannelDelete(ctx context.Context, orgID, id uuid.UUID, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		n, err := q.NotificationChannelDelete(ctx, db.NotificationChannelDeleteParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "notification channel")
		}
		if n == 0 {
			return fault.New(fault.NotFound, "The notification channel does not exist.")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "notification_channel.deleted",
			TargetType: "notification_channel", TargetID: id.String()})
	})
}

// NotificationRule says when a workflow (or, WorkflowID nil, every workflow of the organization) alerts which
// channels. See migrations/0011_notifications.sql for the meaning of each threshold per event.
type NotificationRule struct {
	ID                 uuid.UUID   `json:"id"`
	OrganizationID     uuid.UUID   `json:"organization_id"`
	WorkflowID         *uuid.UUID  `json:"workflow_id,omitempty"`
	Event              string      `json:"event"`
	ThresholdSeconds   int         `json:"threshold_seconds"`
	ThresholdCount     int         `json:"threshold_count"`
	ThresholdPercent   int         `json:"threshold_percent"`
	GroupWindowSeconds int         `json:"group_window_seconds"`
	CooldownSeconds    int         `json:"cooldown_seconds"`
	NotifyRecovery     bool        `json:"notify_recovery"`
	Digest             bool        `json:"digest"`
	Enabled            bool        `json:"enabled"`
	ChannelIDs         []uuid.UUID `json:"channel_ids"`
	CreatedAt          time.Time   `json:"created_at"`
	UpdatedAt          time.Time   `json:"updated_at"`
}

func ruleFromRow(r db.NotificationRule, channels []uuid.UUID) NotificationRule {
	if channels == nil {
		channels = []uuid.UUID{}
	}
	return NotificationRule{ID: r.ID, OrganizationID: r.OrganizationID, WorkflowID: r.WorkflowID, Event: r.Event,
		ThresholdSeconds: int(r.ThresholdSeconds), ThresholdCount: int(r.ThresholdCount),
		ThresholdPercent: int(r.ThresholdPercent), GroupWindowSeconds: int(r.GroupWindowSeconds),
		CooldownSeconds: int(r.CooldownSeconds), NotifyRecovery: r.NotifyRecovery, Digest: r.Digest,
		Enabled: r.Enabled, ChannelIDs: channels, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// NotificationRuleSave creates a rule (ID zero) or updates one of its organization, with its channels, which must
// all be the organization's (else Invalid, naming channel_ids). A rule's workflow never changes.
func (s *Store) NotificationRuleSave(ctx context.Context, r NotificationRule, by Actor) (NotificationRule, error) {
	var out NotificationRule
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var row db.NotificationRule
		var err error
		action := "notification_rule.updated"
		if r.ID == uuid.Nil {
			action = "notification_rule.created"
			row, err = q.NotificationRuleCreate(ctx, db.NotificationRuleCreateParams{OrganizationID: r.OrganizationID,
				WorkflowID: r.WorkflowID, Event: r.Event, ThresholdSeconds: int32(r.ThresholdSeconds),
				ThresholdCount: int32(r.ThresholdCount), ThresholdPercent: int32(r.ThresholdPercent),
				GroupWindowSeconds: int32(r.GroupWindowSeconds), CooldownSeconds: int32(r.CooldownSeconds),
				NotifyRecovery: r.NotifyRecovery, Digest: r.Digest, Enabled: r.Enabled, CreatedBy: by.UserID})
		} else {
			row, err = q.NotificationRuleUpdate(ctx, db.NotificationRuleUpdateParams{ID: r.ID, OrganizationID: r.OrganizationID,
				Event: r.Event, ThresholdSeconds: int32(r.ThresholdSeconds), ThresholdCount: int32(r.ThresholdCount),
				ThresholdPercent: int32(r.ThresholdPercent), GroupWindowSeconds: int32(r.GroupWindowSeconds),
				CooldownSeconds: int32(r.CooldownSeconds), NotifyRecovery: r.NotifyRecovery, Digest: r.Digest,
				Enabled: r.Enabled})
		}
		if err != nil {
			return interpret(err, "notification rule")
		}
		if err := q.NotificationRuleChannelsClear(ctx, db.NotificationRuleChannelsClearParams{RuleID: row.ID,
			OrganizationID: r.OrganizationID}); err != nil {
			return interpret(err, "notification rule")
		}
		n, err := q.NotificationRuleChannelsAdd(ctx, db.NotificationRuleChannelsAddParams{RuleID: row.ID,
			OrganizationID: r.OrganizationID, ChannelIds: r.ChannelIDs})
		if err != nil {
			return interpret(err, "notification rule")
		}
		if int(n) != len(uniqueIDs(r.ChannelIDs)) {
			return fault.Fields("A channel is not valid.", fault.FieldError{Field: "channel_ids", Message: "Every channel must be one of the organization's channels."})
		}
		out = ruleFromRow(row, uniqueIDs(r.ChannelIDs))
		return audit(ctx, q, by, auditRecord{OrganizationID: &r.OrganizationID, Action: action,
			TargetType: "notification_rule", TargetID: out.ID.String(), After: out})
	})
	return out, err
}

func uniqueIDs(ids []uuid.UUID) []uuid.UUID {
	seen := map[uuid.UUID]bool{}
	out := []uuid.UUID{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// NotificationRuleGet reads a rule of orgID with its channels.
func (s *Store) NotificationRuleGet(ctx context.Context, orgID, id uuid.UUID) (NotificationRule, error) {
	row, err := s.q.NotificationRuleGet(ctx, db.NotificationRuleGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return NotificationRule{}, interpret(err, "notification rule")
	}
	rules, err := s.withChannels(ctx, orgID, []db.NotificationRule{row})
	if err != nil {
		return NotificationRule{}, err
	}
	return rules[0], nil
}

// NotificationRuleList lists the rules of one workflow of orgID, or the organization's own when workflowID is nil.
func (s *Store) NotificationRuleList(ctx context.Context, orgID uuid.UUID, workflowID *uuid.UUID) ([]NotificationRule, error) {
	rows, err := s.q.NotificationRuleList(ctx, db.NotificationRuleListParams{OrganizationID: orgID, WorkflowID: workflowID})
	if err != nil {
		return nil, interpret(err, "notification rules")
	}
	return s.withChannels(ctx, orgID, rows)
}

func (s *Store) withChannels(ctx context.Context, orgID uuid.UUID, rows []db.NotificationRule) ([]NotificationRule, error) {
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	links, err := s.q.NotificationRuleChannelIDs(ctx, db.NotificationRuleChannelIDsParams{OrganizationID: orgID, RuleIds: ids})
	if err != nil {
		return nil, interpret(err, "notification rules")
	}
	byRule := map[uuid.UUID][]uuid.UUID{}
	for _, l := range links {
		byRule[l.RuleID] = append(byRule[l.RuleID], l.ChannelID)
	}
	out := make([]NotificationRule, len(rows))
	for i, r := range rows {
		out[i] = ruleFromRow(r, byRule[r.ID])
	}
	return out, nil
}

// NotificationRuleDelete deletes a rule of orgID.
func (s *Store) NotificationRuleDelete(ctx context.Context, orgID, id uuid.UUID, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		n, err := q.NotificationRuleDelete(ctx, db.NotificationRuleDeleteParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "notification rule")
		}
		if n == 0 {
			return fault.New(fault.NotFound, "The notification rule does not exist.")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "notification_rule.deleted",
			TargetType: "notification_rule", TargetID: id.String()})
	})
}

// Alert is a notification as its messages show it: one rule's event on one workflow, with how many times it
// happened between FirstAt and LastAt.
type Alert struct {
	ID              uuid.UUID  `json:"id"`
	OrganizationID  uuid.UUID  `json:"organization_id"`
	RuleID          *uuid.UUID `json:"rule_id,omitempty"`
	WorkflowID      *uuid.UUID `json:"workflow_id,omitempty"`
	WorkflowName    string     `json:"workflow_name"`
	Event           string     `json:"event"`
	Occurrences     int        `json:"occurrences"`
	FirstAt         time.Time  `json:"first_at"`
	LastAt          time.Time  `json:"last_at"`
	LastExecutionID *uuid.UUID `json:"last_execution_id,omitempty"`
	Detail          string     `json:"detail,omitempty"`
	// Trigger is the body of the last execution's trigger (a webhook's or a manual run's body, never its headers),
	// for messages to excerpt up to NOTIFICATION_TRIGGER_MAX_BYTES; nil when there is none. Trigger data kept in
	// the file storage is never read for a message, nor its reference passed on (its receivers cannot follow it):
	// Trigger is then the start of the body as the reference's preview shows it, and TriggerCut says whether it
	// stops short of the body's end.
	Trigger    json.RawMessage `json:"-"`
	TriggerCut bool            `json:"-"`
	// TriggerStoredSize is the size of trigger data kept in the file storage (the whole trigger's, headers
	// included); 0 when it is in its row.
	TriggerStoredSize int64 `json:"-"`
	// The rule's thresholds, which the message names ("slower than 30 s").
	ThresholdSeconds int `json:"-"`
	ThresholdCount   int `json:"-"`
	ThresholdPercent int `json:"-"`
}

// AlertGet reads an alert of orgID for its messages.
func (s *Store) AlertGet(ctx context.Context, orgID, id uuid.UUID) (Alert, error) {
	r, err := s.q.NotificationGet(ctx, db.NotificationGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return Alert{}, interpret(err, "notification")
	}
	a := Alert{ID: r.ID, OrganizationID: r.OrganizationID, RuleID: r.RuleID, WorkflowID: r.WorkflowID,
		WorkflowName: r.WorkflowName, Event: r.Event, Occurrences: int(r.Occurrences), FirstAt: r.FirstAt,
		LastAt: r.LastAt, LastExecutionID: r.LastExecutionID, Detail: r.Detail,
		ThresholdSeconds: int(r.ThresholdSeconds), ThresholdCount: int(r.ThresholdCount),
		ThresholdPercent: int(r.ThresholdPercent), Trigger: r.TriggerBody}
	if ref := ParsePayloadRef(a.Trigger); ref != nil {
		var body string
		body, a.TriggerCut = ref.BodyStart()
		a.Trigger, a.TriggerStoredSize = json.RawMessage(body), ref.Size
	}
	return a, nil
}

// UserNotification is an alert in one user's bell.
type UserNotification struct {
	ID     uuid.UUID  `json:"id"`
	Alert  Alert      `json:"notification"`
	ReadAt *time.Time `json:"read_at,omitempty"`
	At     time.Time  `json:"created_at"`
}

// UserNotificationList lists a user's in-app notifications in orgID, newest first.
func (s *Store) UserNotificationList(ctx context.Context, orgID, userID uuid.UUID, limit int) ([]UserNotification, error) {
	rows, err := s.q.UserNotificationList(ctx, db.UserNotificationListParams{UserID: userID, OrganizationID: orgID,
		MaxRows: int32(limit)})
	if err != nil {
		return nil, interpret(err, "notifications")
	}
	out := make([]UserNotification, len(rows))
	for i, r := range rows {
		out[i] = UserNotification{ID: r.ID, ReadAt: r.ReadAt, At: r.CreatedAt, Alert: Alert{ID: r.NotificationID,
			OrganizationID: orgID, WorkflowID: r.WorkflowID, WorkflowName: r.WorkflowName, Event: r.Event,
			Occurrences: int(r.Occurrences), FirstAt: r.FirstAt, LastAt: r.LastAt,
			LastExecutionID: r.LastExecutionID, Detail: r.Detail}}
	}
	return out, nil
}

// UserNotificationUnread counts a user's unread in-app notifications in orgID.
func (s *Store) UserNotificationUnread(ctx context.Context, orgID, userID uuid.UUID) (int, error) {
	n, err := s.q.UserNotificationUnreadCount(ctx, db.UserNotificationUnreadCountParams{UserID: userID, OrganizationID: orgID})
	return int(n), interpret(err, "notifications")
}

// UserNotificationMarkRead marks one of a user's notifications read (id set) or all of them (id nil).
func (s *Store) UserNotificationMarkRead(ctx context.Context, orgID, userID uuid.UUID, id *uuid.UUID, now time.Time) error {
	if id == nil {
		_, err := s.q.UserNotificationMarkAllRead(ctx, db.UserNotificationMarkAllReadParams{Now: &now, UserID: userID,
			OrganizationID: orgID})
		return interpret(err, "notifications")
	}
	n, err := s.q.UserNotificationMarkRead(ctx, db.UserNotificationMarkReadParams{Now: &now, ID: *id, UserID: userID,
		OrganizationID: orgID})
	if err != nil {
		return interpret(err, "notification")
	}
	if n == 0 {
		return fault.New(fault.NotFound, "The notification does not exist.")
	}
	return nil
}

// OutgoingMessage is one message on its way (or sent, or given up): to a channel, or an account mail.
type OutgoingMessage struct {
	ID             uuid.UUID  `json:"id"`
	OrganizationID *uuid.UUID `json:"organization_id,omitempty"`
	Kind           string     `json:"kind"`
	ChannelID      *uuid.UUID `json:"channel_id,omitempty"`
	NotificationID *uuid.UUID `json:"notification_id,omitempty"`
	InvitationID   *uuid.UUID `json:"invitation_id,omitempty"`
	Recipient      string     `json:"recipient"`
	Subject        string     `json:"subject"`
	Sealed         []byte     `json:"-"`
	MessageKey     string     `json:"-"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastError      string     `json:"last_error,omitempty"`
	SentAt         *time.Time `json:"sent_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
}

func messageFromRow(r db.OutgoingMessage) OutgoingMessage {
	m := OutgoingMessage{ID: r.ID, OrganizationID: r.OrganizationID, Kind: r.Kind, ChannelID: r.ChannelID,
		NotificationID: r.NotificationID, InvitationID: r.InvitationID, Recipient: r.Recipient, Subject: r.Subject,
		Sealed: r.BodyCiphertext, MessageKey: r.MessageKey, Status: r.Status, Attempts: int(r.Attempts),
		SentAt: r.SentAt, CreatedAt: r.CreatedAt}
	if r.LastError != nil {
		m.LastError = *r.LastError
	}
	return m
}

// QueueOutbox is the River queue of outgoing messages.
const QueueOutbox = "outbox"

// OutboxArgs is the River job that sends one outgoing message; the row is the source of truth.
type OutboxArgs struct {
	MessageID uuid.UUID `json:"message_id"`
}

// Kind implements river.JobArgs.
func (OutboxArgs) Kind() string { return "outbox_send" }

// OutboxMaxAttempts is how many times a message is tried (River's backoff between: 1 s, 16 s, 81 s … about 9 hours
// in all).
const OutboxMaxAttempts = 12

func (s *Store) outgoingCreateTx(ctx context.Context, tx pgx.Tx, q *db.Queries, m OutgoingMessage) (OutgoingMessage, error) {
	if m.MessageKey == "" {
		m.MessageKey = uuid.NewString()
	}
	row, err := q.OutgoingMessageCreate(ctx, db.OutgoingMessageCreateParams{OrganizationID: m.OrganizationID,
		Kind: m.Kind, ChannelID: m.ChannelID, NotificationID: m.NotificationID, InvitationID: m.InvitationID,
		Recipient: m.Recipient, Subject: m.Subject, BodyCiphertext: m.Sealed, MessageKey: m.MessageKey})
	if err != nil {
		return OutgoingMessage{}, interpret(err, "outgoing message")
	}
	if _, err := s.jobs.InsertTx(ctx, tx, OutboxArgs{MessageID: row.ID},
		&river.InsertOpts{Queue: QueueOutbox, MaxAttempts: OutboxMaxAttempts}); err != nil {
		return OutgoingMessage{}, fault.Wrap(err, fault.Internal, "enqueue outgoing message")
	}
	return messageFromRow(row), nil
}

// OutgoingMessageEnqueue records a message and its River job in one transaction.
func (s *Store) OutgoingMessageEnqueue(ctx context.Context, m OutgoingMessage) (OutgoingMessage, error) {
	var out OutgoingMessage
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		out, err = s.outgoingCreateTx(ctx, tx, q, m)
		return err
	})
	return out, err
}

// OutgoingMessageGet reads a message for its job.
func (s *Store) OutgoingMessageGet(ctx context.Context, id uuid.UUID) (OutgoingMessage, error) {
	row, err := s.q.OutgoingMessageGet(ctx, id)
	if err != nil {
		return OutgoingMessage{}, interpret(err, "outgoing message")
	}
	return messageFromRow(row), nil
}

// OutgoingMessageRecord records an attempt: status sent, retrying or failed, with the error of a failed attempt.
func (s *Store) OutgoingMessageRecord(ctx context.Context, id uuid.UUID, status string, attempts int, lastError string) error {
	return interpret(s.q.OutgoingMessageRecord(ctx, db.OutgoingMessageRecordParams{ID: id, Status: status,
		Attempts: int32(attempts), LastError: nonEmpty(lastError)}), "outgoing message")
}

// OutgoingMessageListForChannel lists a channel's latest messages, newest first.
func (s *Store) OutgoingMessageListForChannel(ctx context.Context, orgID, channelID uuid.UUID, limit int) ([]OutgoingMessage, error) {
	rows, err := s.q.OutgoingMessageListForChannel(ctx, db.OutgoingMessageListForChannelParams{OrganizationID: &orgID,
		ChannelID: &channelID, MaxRows: int32(limit)})
	if err != nil {
		return nil, interpret(err, "outgoing messages")
	}
	out := make([]OutgoingMessage, len(rows))
	for i, r := range rows {
		out[i] = messageFromRow(r)
	}
	return out, nil
}

// MailStatus is the delivery state of an account mail.
type MailStatus struct {
	Status    string `json:"status"`
	LastError string `json:"last_error,omitempty"`
}

// InvitationMailStatus gives the latest mail's status of each of orgID's invitations that has one.
func (s *Store) InvitationMailStatus(ctx context.Context, orgID uuid.UUID, invitationIDs []uuid.UUID) (map[uuid.UUID]MailStatus, error) {
	rows, err := s.q.OutgoingMessageForInvitations(ctx, db.OutgoingMessageForInvitationsParams{OrganizationID: &orgID,
		InvitationIds: invitationIDs})
	if err != nil {
		return nil, interpret(err, "invitation mails")
	}
	out := map[uuid.UUID]MailStatus{}
	for _, r := range rows {
		if r.InvitationID != nil {
			out[*r.InvitationID] = MailStatus{Status: r.Status, LastError: r.LastError}
		}
	}
	return out, nil
}

// OutgoingMessagesUnsettled counts the messages still queued or waiting for a retry (tests wait on it).
func (s *Store) OutgoingMessagesUnsettled(ctx context.Context) (int, error) {
	n, err := s.q.OutgoingMessageUnsettledCount(ctx)
	return int(n), interpret(err, "outgoing messages")
}
