package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// RuleInput is a notification rule as a form or the API gives it. Thresholds by event: slow takes
// threshold_seconds (the duration); failure_streak threshold_count (failures in a row); failure_rate
// threshold_percent over threshold_seconds (the window, at least 60) with at least threshold_count executions;
// schedule_missed threshold_seconds (the grace, 300 when 0); webhook_silent threshold_seconds (the period, at least
// 60).
type RuleInput struct {
	Event              string      `json:"event" form:"event" validate:"required,oneof=failed succeeded canceled timed_out slow failure_streak failure_rate schedule_missed webhook_silent recovered"`
	ThresholdSeconds   int         `json:"threshold_seconds" form:"threshold_seconds" validate:"min=0,max=2592000"`
	ThresholdCount     int         `json:"threshold_count" form:"threshold_count" validate:"min=0,max=100000"`
	ThresholdPercent   int         `json:"threshold_percent" form:"threshold_percent" validate:"min=0,max=100"`
	GroupWindowSeconds *int        `json:"group_window_seconds,omitempty" form:"group_window_seconds" validate:"omitempty,min=0,max=86400"`
	CooldownSeconds    int         `json:"cooldown_seconds" form:"cooldown_seconds" validate:"min=0,max=604800"`
	NotifyRecovery     *bool       `json:"notify_recovery,omitempty" form:"notify_recovery"`
	Digest             bool        `json:"digest" form:"digest"`
	Enabled            *bool       `json:"enabled,omitempty" form:"enabled"`
	ChannelIDs         []uuid.UUID `json:"channel_ids" form:"channel_ids" validate:"max=20"`
}

// DefaultGroupWindow is how long identical alerts are collected into one message when a rule does not say.
const DefaultGroupWindow = 60

// Check validates a rule: its event, and the thresholds and window that event needs, naming each bad field.
func (in RuleInput) Check() error {
	err := validate.Struct(in)
	var extra []*fault.FieldError
	need := func(field, message string) { extra = append(extra, &fault.FieldError{Field: field, Message: message}) }
	switch in.Event {
	case "slow":
		if in.ThresholdSeconds <= 0 {
			need("threshold_seconds", "name how long a run may take")
		}
	case "failure_streak":
		if in.ThresholdCount < 2 {
			need("threshold_count", "must be 2 or more")
		}
	case "failure_rate":
		if in.ThresholdPercent <= 0 {
			need("threshold_percent", "must be between 1 and 100")
		}
		if in.ThresholdSeconds < 60 {
			need("threshold_seconds", "the window must be at least 60 seconds")
		}
	case "webhook_silent":
		if in.ThresholdSeconds < 60 {
			need("threshold_seconds", "the period must be at least 60 seconds")
		}
	}
	if len(in.ChannelIDs) == 0 && (in.Enabled == nil || *in.Enabled) {
		need("channel_ids", "choose at least one channel")
	}
	return validate.Join(err, extra...)
}

func (in RuleInput) rule(org uuid.UUID, workflow *uuid.UUID) store.NotificationRule {
	r := store.NotificationRule{OrganizationID: org, WorkflowID: workflow, Event: in.Event,
		ThresholdSeconds: in.ThresholdSeconds, ThresholdCount: in.ThresholdCount, ThresholdPercent: in.ThresholdPercent,
		GroupWindowSeconds: DefaultGroupWindow, CooldownSeconds: in.CooldownSeconds, NotifyRecovery: true,
		Digest: in.Digest, Enabled: true, ChannelIDs: in.ChannelIDs}
	if in.GroupWindowSeconds != nil {
		r.GroupWindowSeconds = *in.GroupWindowSeconds
	}
	if in.NotifyRecovery != nil {
		r.NotifyRecovery = *in.NotifyRecovery
	}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	if r.ChannelIDs == nil {
		r.ChannelIDs = []uuid.UUID{}
	}
	return r
}

// authorizeRules checks that the caller may manage the rules of a workflow (editing it) or, workflow nil, the
// organization's (admins and owners).
func (n *Notifications) authorizeRules(ctx context.Context, c Caller, workflow *uuid.UUID, a authz.Action) error {
	if workflow == nil {
		if a == authz.WorkflowEdit {
			a = authz.IntegrationsManage
		} else {
			a = authz.MembersView
		}
		return authz.Authorize(c.Principal, a, authz.Org(c.Principal.OrgID))
	}
	_, _, err := n.workflows.authorized(ctx, c, *workflow, a)
	return err
}

// Rules lists the rules of a workflow (workflow set) or the organization's own.
func (n *Notifications) Rules(ctx context.Context, c Caller, workflow *uuid.UUID) ([]store.NotificationRule, error) {
	if err := n.authorizeRules(ctx, c, workflow, authz.WorkflowView); err != nil {
		return nil, err
	}
	return n.store.NotificationRuleList(ctx, c.Principal.OrgID, workflow)
}

// CreateRule adds a rule to a workflow (workflow set) or to the organization.
func (n *Notifications) CreateRule(ctx context.Context, c Caller, workflow *uuid.UUID, in RuleInput) (store.NotificationRule, error) {
	if err := n.authorizeRules(ctx, c, workflow, authz.WorkflowEdit); err != nil {
		return store.NotificationRule{}, err
	}
	if err := in.Check(); err != nil {
		return store.NotificationRule{}, err
	}
	return n.store.NotificationRuleSave(ctx, in.rule(c.Principal.OrgID, workflow), c.Actor)
}

// UpdateRule replaces a rule's settings.
func (n *Notifications) UpdateRule(ctx context.Context, c Caller, id uuid.UUID, in RuleInput) (store.NotificationRule, error) {
	current, err := n.store.NotificationRuleGet(ctx, c.Principal.OrgID, id)
	if err != nil {
		return store.NotificationRule{}, err
	}
	if err := n.authorizeRules(ctx, c, current.WorkflowID, authz.WorkflowEdit); err != nil {
		return store.NotificationRule{}, err
	}
	if err := in.Check(); err != nil {
		return store.NotificationRule{}, err
	}
	r := in.rule(c.Principal.OrgID, current.WorkflowID)
	r.ID = id
	return n.store.NotificationRuleSave(ctx, r, c.Actor)
}

// DeleteRule deletes a rule.
func (n *Notifications) DeleteRule(ctx context.Context, c Caller, id uuid.UUID) error {
	current, err := n.store.NotificationRuleGet(ctx, c.Principal.OrgID, id)
	if err != nil {
		return err
	}
	if err := n.authorizeRules(ctx, c, current.WorkflowID, authz.WorkflowEdit); err != nil {
		return err
	}
	return n.store.NotificationRuleDelete(ctx, c.Principal.OrgID, id, c.Actor)
}

// Inbox is a user's bell: the latest in-app notifications and how many are unread.
type Inbox struct {
	Items  []store.UserNotification
	Unread int
}

// Inbox reads the caller's own in-app notifications in their organization.
func (n *Notifications) Inbox(ctx context.Context, c Caller, limit int) (Inbox, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		return Inbox{}, err
	}
	limit = min(max(limit, 1), 200)
	items, err := n.store.UserNotificationList(ctx, p.OrgID, p.UserID, limit)
	if err != nil {
		return Inbox{}, err
	}
	unread, err := n.store.UserNotificationUnread(ctx, p.OrgID, p.UserID)
	return Inbox{Items: items, Unread: unread}, err
}

// Unread counts the caller's unread in-app notifications.
func (n *Notifications) Unread(ctx context.Context, c Caller) (int, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		return 0, err
	}
	return n.store.UserNotificationUnread(ctx, p.OrgID, p.UserID)
}

// MarkRead marks one of the caller's notifications read (id set) or all of them.
func (n *Notifications) MarkRead(ctx context.Context, c Caller, id *uuid.UUID) error {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		return err
	}
	return n.store.UserNotificationMarkRead(ctx, p.OrgID, p.UserID, id, n.now())
}

// Rule reads one rule of the caller's organization.
func (n *Notifications) Rule(ctx context.Context, c Caller, id uuid.UUID) (store.NotificationRule, error) {
	rule, err := n.store.NotificationRuleGet(ctx, c.Principal.OrgID, id)
	if err != nil {
		return store.NotificationRule{}, err
	}
	if err := n.authorizeRules(ctx, c, rule.WorkflowID, authz.WorkflowView); err != nil {
		return store.NotificationRule{}, err
	}
	return rule, nil
}
