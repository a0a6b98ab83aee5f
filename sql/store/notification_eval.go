package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/db"
)

// How notification rules are evaluated.
//
// The workers' hot path writes nothing for notifications: an execution's end is one grouped UPDATE, as before.
// Instead one process at a time (the holder of a transaction-level advisory lock, taken anew each round, so that
// another process takes over the moment the evaluator's dies) reads the executions that finished since a cursor,
// in the order they finished (workflow_executions_finished_idx), and in the same transaction updates each rule's
// memory (failures in a row, failing or not), adds each matching execution to its rule's open alert, moves the
// cursor, and sends the alerts whose grouping window has closed: one outgoing message (and River job) per channel,
// or a row in each member's bell. So an execution's alerts are evaluated exactly once, and a crash mid-round
// evaluates the whole round again from the same cursor.
//
// The cursor trails the clock by Lag: finished_at is the finishing transaction's start time, so a commit that
// takes longer than Lag to land behind the cursor would be skipped. The workers' completions commit in
// milliseconds; the lag is seconds.
//
// The conditions that are about time rather than an execution (a failure rate over a window, a schedule that did
// not fire, a webhook that received nothing) are checked every PeriodicInterval by the same round. Each alerts once
// when it becomes true, and again only after it was seen false.

// notificationEvalLock is the advisory lock of the one evaluating process.
const notificationEvalLock int64 = 7_238_412_990_202

// NotificationEvaluatorConfig tunes the evaluator; zero fields take the defaults.
type NotificationEvaluatorConfig struct {
	// Interval between rounds (1 s).
	Interval time.Duration
	// PeriodicInterval between checks of the time-based conditions (30 s).
	PeriodicInterval time.Duration
	// Lag is how far behind the clock the cursor stays (5 s).
	Lag time.Duration
}

// NotificationEvaluator is the service that evaluates notification rules (see the comment above).
type NotificationEvaluator struct {
	*service.Loop
	store        *Store
	logger       *slog.Logger
	clock        clockwork.Clock
	cfg          NotificationEvaluatorConfig
	lastPeriodic time.Time
}

// NewNotificationEvaluator returns the evaluator; every worker process runs one and one of them evaluates.
func (s *Store) NewNotificationEvaluator(arch *service.Archetype, cfg NotificationEvaluatorConfig) *NotificationEvaluator {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.PeriodicInterval <= 0 {
		cfg.PeriodicInterval = 30 * time.Second
	}
	if cfg.Lag <= 0 {
		cfg.Lag = 5 * time.Second
	}
	e := &NotificationEvaluator{store: s, logger: arch.Logger, clock: arch.Clock, cfg: cfg}
	e.Loop = service.NewPeriodic(arch.Clock, cfg.Interval, func(ctx context.Context) {
		if err := e.Round(ctx); err != nil && ctx.Err() == nil {
			e.logger.Error("notifications: evaluation failed", "error", err)
		}
	})
	return e
}

// evalBatch bounds one scan of finished executions; a round scans up to evalScans of them.
const (
	evalBatch = 2000
	evalScans = 10
	dueBatch  = 500
)

// Round evaluates once, if this process holds the evaluation: the executions finished since the cursor, the
// time-based conditions when due, and the alerts due to be sent.
func (e *NotificationEvaluator) Round(ctx context.Context) error {
	now := e.clock.Now()
	return e.store.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var elected bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", notificationEvalLock).Scan(&elected); err != nil {
			return interpret(err, "notification evaluation")
		}
		if !elected {
			return nil
		}
		r := &evalRound{ctx: ctx, tx: tx, q: q, store: e.store, now: now, states: map[stateKey]*ruleState{},
			rules: map[uuid.UUID][]db.NotificationRulesForOrgsRow{}}
		if err := r.scan(now.Add(-e.cfg.Lag)); err != nil {
			return err
		}
		if e.lastPeriodic.IsZero() || now.Sub(e.lastPeriodic) >= e.cfg.PeriodicInterval {
			if err := r.periodic(); err != nil {
				return err
			}
			e.lastPeriodic = now
		}
		if err := r.dispatch(); err != nil {
			return err
		}
		return r.saveStates()
	})
}

type stateKey struct{ rule, workflow uuid.UUID }

type ruleState struct {
	db.NotificationRuleState
	dirty bool
}

// evalRound is one round's transaction and what it loaded.
type evalRound struct {
	ctx    context.Context
	tx     pgx.Tx
	q      *db.Queries
	store  *Store
	now    time.Time
	states map[stateKey]*ruleState
	// rules of each organization loaded so far.
	rules map[uuid.UUID][]db.NotificationRulesForOrgsRow
	// bells are the users whose bell changed.
	bells []uuid.UUID
}

// scan evaluates the executions finished after the cursor and at or before until.
func (r *evalRound) scan(until time.Time) error {
	cur, err := r.q.NotificationCursorGet(r.ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		// First round ever: alerts start from now, not from history.
		return interpret(r.q.NotificationCursorSet(r.ctx, db.NotificationCursorSetParams{FinishedAt: until,
			ExecutionID: uuid.Nil}), "notification cursor")
	}
	if err != nil {
		return interpret(err, "notification cursor")
	}
	moved := false
	for range evalScans {
		rows, err := r.q.NotificationFinishedSince(r.ctx, db.NotificationFinishedSinceParams{AfterFinishedAt: cur.FinishedAt,
			AfterID: cur.ExecutionID, Until: until, MaxRows: evalBatch})
		if err != nil {
			return interpret(err, "finished executions")
		}
		if len(rows) == 0 {
			break
		}
		if err := r.evaluate(rows); err != nil {
			return err
		}
		last := rows[len(rows)-1]
		cur.FinishedAt, cur.ExecutionID, moved = *last.FinishedAt, last.ID, true
		if len(rows) < evalBatch {
			break
		}
	}
	if !moved {
		return nil
	}
	return interpret(r.q.NotificationCursorSet(r.ctx, db.NotificationCursorSetParams{FinishedAt: cur.FinishedAt,
		ExecutionID: cur.ExecutionID}), "notification cursor")
}

// loadRules loads the rules of the organizations not loaded yet.
func (r *evalRound) loadRules(orgs []uuid.UUID) error {
	var missing []uuid.UUID
	for _, o := range orgs {
		if _, ok := r.rules[o]; !ok {
			missing = append(missing, o)
			r.rules[o] = nil
		}
	}
	if len(missing) == 0 {
		return nil
	}
	rows, err := r.q.NotificationRulesForOrgs(r.ctx, missing)
	if err != nil {
		return interpret(err, "notification rules")
	}
	for _, row := range rows {
		r.rules[row.OrganizationID] = append(r.rules[row.OrganizationID], row)
	}
	return nil
}

// effective returns the enabled rules that apply to a workflow: its own, and the organization's for the events
// it has no rule of its own for (a disabled one included: that mutes the organization's).
func (r *evalRound) effective(org, workflow uuid.UUID) []db.NotificationRulesForOrgsRow {
	own := map[string]bool{}
	for _, rule := range r.rules[org] {
		if rule.WorkflowID != nil && *rule.WorkflowID == workflow {
			own[rule.Event] = true
		}
	}
	var out []db.NotificationRulesForOrgsRow
	for _, rule := range r.rules[org] {
		if !rule.Enabled {
			continue
		}
		if (rule.WorkflowID != nil && *rule.WorkflowID == workflow) || (rule.WorkflowID == nil && !own[rule.Event]) {
			out = append(out, rule)
		}
	}
	return out
}

// loadStates loads the memory of rule and workflow pairs not loaded yet.
func (r *evalRound) loadStates(keys []stateKey) error {
	var ruleIDs, workflowIDs []uuid.UUID
	for _, k := range keys {
		if _, ok := r.states[k]; !ok {
			ruleIDs, workflowIDs = append(ruleIDs, k.rule), append(workflowIDs, k.workflow)
		}
	}
	if len(ruleIDs) == 0 {
		return nil
	}
	rows, err := r.q.NotificationRuleStatesGet(r.ctx, db.NotificationRuleStatesGetParams{RuleIds: ruleIDs, WorkflowIds: workflowIDs})
	if err != nil {
		return interpret(err, "notification rule states")
	}
	for _, row := range rows {
		r.states[stateKey{row.RuleID, row.WorkflowID}] = &ruleState{NotificationRuleState: row}
	}
	return nil
}

// state is the memory of a rule for a workflow, fresh when there is none.
func (r *evalRound) state(rule db.NotificationRulesForOrgsRow, workflow uuid.UUID) *ruleState {
	k := stateKey{rule.ID, workflow}
	st, ok := r.states[k]
	if !ok {
		st = &ruleState{NotificationRuleState: db.NotificationRuleState{RuleID: rule.ID, WorkflowID: workflow,
			OrganizationID: rule.OrganizationID}}
		r.states[k] = st
	}
	return st
}

func (r *evalRound) saveStates() error {
	for _, st := range r.states {
		if !st.dirty {
			continue
		}
		if err := r.q.NotificationRuleStateSave(r.ctx, db.NotificationRuleStateSaveParams(st.NotificationRuleState)); err != nil {
			return interpret(err, "notification rule state")
		}
	}
	if len(r.bells) == 0 {
		return nil
	}
	payload, _ := json.Marshal(r.bells)
	if len(payload) > 7000 { // NOTIFY's payload limit is 8000 bytes: beyond that, every listener re-reads
		payload = []byte("[]")
	}
	_, err := r.tx.Exec(r.ctx, "SELECT pg_notify($1, $2)", BellChannel, string(payload))
	return interpret(err, "bell notification")
}

// BellChannel is the NOTIFY channel that carries the ids of users whose bell changed ([] for "everyone re-read").
const BellChannel = "concertmaster_bells"

// failureEvents are the events after which a success is a recovery.
var failureEvents = map[string]bool{"failed": true, "timed_out": true, "failure_streak": true, "failure_rate": true}

// timedOutError is the error of an execution stopped by EXECUTION_TIMEOUT (engine.Executor).
const timedOutError = "execution timed out"

// maxDetail bounds what an alert keeps of an error.
const maxDetail = 1000

// evaluate applies the rules to finished executions, in the order they finished.
func (r *evalRound) evaluate(rows []db.NotificationFinishedSinceRow) error {
	var orgs []uuid.UUID
	for _, row := range rows {
		if row.HasRules {
			orgs = append(orgs, row.OrganizationID)
		}
	}
	if err := r.loadRules(orgs); err != nil {
		return err
	}
	var keys []stateKey
	for _, row := range rows {
		if row.HasRules {
			for _, rule := range r.effective(row.OrganizationID, row.WorkflowID) {
				keys = append(keys, stateKey{rule.ID, row.WorkflowID})
			}
		}
	}
	if err := r.loadStates(keys); err != nil {
		return err
	}
	for _, row := range rows {
		if !row.HasRules {
			continue
		}
		for _, rule := range r.effective(row.OrganizationID, row.WorkflowID) {
			if err := r.apply(rule, row); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply evaluates one rule on one finished execution.
func (r *evalRound) apply(rule db.NotificationRulesForOrgsRow, e db.NotificationFinishedSinceRow) error {
	st := r.state(rule, e.WorkflowID)
	failed, succeeded := e.Status == "failed", e.Status == "succeeded"
	fire := false
	detail := truncateDetail(e.Error, e.FailedNodeID)
	switch rule.Event {
	case "failed":
		fire = failed
	case "succeeded":
		fire, detail = succeeded, ""
	case "canceled":
		fire, detail = e.Status == "canceled", ""
	case "timed_out":
		fire = failed && e.Error == timedOutError
	case "slow":
		if e.StartedAt != nil && e.FinishedAt != nil {
			took := e.FinishedAt.Sub(*e.StartedAt)
			fire = took >= time.Duration(rule.ThresholdSeconds)*time.Second
			detail = "took " + took.Round(time.Millisecond).String()
		}
	case "failure_streak":
		if failed {
			st.ConsecutiveFailures++
			st.dirty = true
			fire = int(st.ConsecutiveFailures) == max(int(rule.ThresholdCount), 1)
		} else if succeeded && st.ConsecutiveFailures > 0 {
			st.ConsecutiveFailures, st.dirty = 0, true
		}
	case "recovered":
		if failed && !st.Failing {
			st.Failing, st.dirty = true, true
		} else if succeeded && st.Failing {
			st.Failing, st.dirty, fire, detail = false, true, true, ""
		}
	}
	if fire {
		if err := r.occurrence(rule, e.WorkflowID, rule.Event, &e.ID, detail, st); err != nil {
			return err
		}
		if failureEvents[rule.Event] {
			st.Failing, st.dirty = true, true
		}
	}
	if succeeded && failureEvents[rule.Event] && st.Failing {
		st.Failing, st.dirty = false, true
		if rule.NotifyRecovery {
			return r.occurrence(rule, e.WorkflowID, "recovered", &e.ID, "", st)
		}
	}
	return nil
}

func truncateDetail(errText, node string) string {
	if errText == "" {
		return ""
	}
	if node != "" {
		errText = "node " + node + ": " + errText
	}
	if len(errText) > maxDetail {
		cut := maxDetail
		for cut > 0 && errText[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			cut--
		}
		errText = errText[:cut] + "…"
	}
	return errText
}

// occurrence adds one occurrence of an event to the rule's open alert for the workflow, or opens one: it is sent
// when its grouping window closes, not before the rule's cooldown since its last message, and for a daily digest
// at the next midnight (UTC). A recovery is sent at once, but never before the failures it follows.
func (r *evalRound) occurrence(rule db.NotificationRulesForOrgsRow, workflow uuid.UUID, event string, execution *uuid.UUID, detail string, st *ruleState) error {
	open, err := r.q.NotificationOpen(r.ctx, db.NotificationOpenParams{RuleID: &rule.ID, WorkflowID: &workflow, Event: event})
	if err == nil {
		return interpret(r.q.NotificationAddOccurrence(r.ctx, db.NotificationAddOccurrenceParams{ID: open.ID, At: r.now,
			LastExecutionID: execution, Detail: detail}), "notification")
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return interpret(err, "notification")
	}
	sendAt := r.now.Add(time.Duration(rule.GroupWindowSeconds) * time.Second)
	switch {
	case rule.Digest:
		y, m, d := r.now.UTC().Date()
		sendAt = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	case event == "recovered":
		sendAt = r.now
		pending, err := r.q.NotificationOpen(r.ctx, db.NotificationOpenParams{RuleID: &rule.ID, WorkflowID: &workflow, Event: rule.Event})
		if err == nil && pending.SendAt.After(sendAt) {
			sendAt = pending.SendAt
		} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return interpret(err, "notification")
		}
	case st.LastSentAt != nil && rule.CooldownSeconds > 0:
		if next := st.LastSentAt.Add(time.Duration(rule.CooldownSeconds) * time.Second); next.After(sendAt) {
			sendAt = next
		}
	}
	_, err = r.q.NotificationInsert(r.ctx, db.NotificationInsertParams{OrganizationID: rule.OrganizationID,
		RuleID: &rule.ID, WorkflowID: &workflow, Event: event, At: r.now, LastExecutionID: execution,
		Detail: detail, SendAt: sendAt})
	return interpret(err, "notification")
}

// inAppRoles are the roles an in-app channel reaches unless its config names some.
var inAppRoles = []string{"owner", "admin", "member", "viewer"}

// dispatch sends the alerts that are due: a message and its job per channel, or a row in each reached bell.
func (r *evalRound) dispatch() error {
	due, err := r.q.NotificationsDue(r.ctx, db.NotificationsDueParams{Now: r.now, MaxRows: dueBatch})
	if err != nil {
		return interpret(err, "due notifications")
	}
	digests := map[uuid.UUID][]db.NotificationsDueRow{}
	var order []uuid.UUID
	for _, n := range due {
		if n.RuleID == nil {
			continue
		}
		if n.Digest {
			if _, seen := digests[*n.RuleID]; !seen {
				order = append(order, *n.RuleID)
			}
			digests[*n.RuleID] = append(digests[*n.RuleID], n)
			continue
		}
		if err := r.toChannels(n); err != nil {
			return err
		}
		if err := r.q.NotificationMarkSent(r.ctx, db.NotificationMarkSentParams{ID: n.ID, SentAt: &r.now}); err != nil {
			return interpret(err, "notification")
		}
		if n.WorkflowID != nil && n.Event != "recovered" {
			k := stateKey{*n.RuleID, *n.WorkflowID}
			if err := r.loadStates([]stateKey{k}); err != nil {
				return err
			}
			st, ok := r.states[k]
			if !ok {
				st = &ruleState{NotificationRuleState: db.NotificationRuleState{RuleID: k.rule, WorkflowID: k.workflow,
					OrganizationID: n.OrganizationID}}
				r.states[k] = st
			}
			now := r.now
			st.LastSentAt, st.dirty = &now, true
		}
	}
	for _, rule := range order {
		if err := r.digest(rule, digests[rule]); err != nil {
			return err
		}
	}
	return nil
}

// toChannels sends an alert to its rule's channels.
func (r *evalRound) toChannels(n db.NotificationsDueRow) error {
	channels, err := r.q.NotificationChannelsOfRule(r.ctx, db.NotificationChannelsOfRuleParams{RuleID: *n.RuleID,
		OrganizationID: n.OrganizationID})
	if err != nil {
		return interpret(err, "notification channels")
	}
	for _, ch := range channels {
		if err := r.deliver(n, ch); err != nil {
			return err
		}
	}
	return nil
}

// maxDigestLines bounds the alerts a digest lists one by one.
const maxDigestLines = 50

// digest sends a rule's due alerts as one message: a "digest" alert summing them up, one line each.
func (r *evalRound) digest(rule uuid.UUID, items []db.NotificationsDueRow) error {
	total := int32(0)
	first, last := items[0].FirstAt, items[0].LastAt
	var lines []string
	for i, n := range items {
		total += n.Occurrences
		if n.FirstAt.Before(first) {
			first = n.FirstAt
		}
		if n.LastAt.After(last) {
			last = n.LastAt
		}
		if i < maxDigestLines {
			lines = append(lines, fmt.Sprintf("%s: %s ×%d (%s – %s UTC)", n.WorkflowName, n.Event, n.Occurrences,
				n.FirstAt.UTC().Format("Jan 2 15:04"), n.LastAt.UTC().Format("Jan 2 15:04")))
		}
		if err := r.q.NotificationMarkSent(r.ctx, db.NotificationMarkSentParams{ID: n.ID, SentAt: &r.now}); err != nil {
			return interpret(err, "notification")
		}
	}
	if len(items) > maxDigestLines {
		lines = append(lines, fmt.Sprintf("… and %d more", len(items)-maxDigestLines))
	}
	row, err := r.q.NotificationDigestInsert(r.ctx, db.NotificationDigestInsertParams{OrganizationID: items[0].OrganizationID,
		RuleID: &rule, Occurrences: total, FirstAt: first, LastAt: last, Detail: strings.Join(lines, "\n"), SentAt: r.now})
	if err != nil {
		return interpret(err, "digest")
	}
	return r.toChannels(db.NotificationsDueRow{ID: row.ID, OrganizationID: row.OrganizationID, RuleID: row.RuleID,
		Event: row.Event, Occurrences: row.Occurrences, FirstAt: row.FirstAt, LastAt: row.LastAt})
}

// ChannelDestination is what a channel's config shows of where its messages go (recipients, a host).
type ChannelDestination struct {
	To    []string `json:"to,omitempty"`
	Host  string   `json:"host,omitempty"`
	Roles []string `json:"roles,omitempty"`
}

func (r *evalRound) deliver(n db.NotificationsDueRow, ch db.NotificationChannel) error {
	var dest ChannelDestination
	_ = json.Unmarshal(ch.Config, &dest)
	if ch.Kind == "in_app" {
		roles := dest.Roles
		if len(roles) == 0 {
			roles = inAppRoles
		}
		users, err := r.q.UserNotificationsFanOut(r.ctx, db.UserNotificationsFanOutParams{NotificationID: n.ID,
			OrganizationID: n.OrganizationID, Roles: roles})
		if err != nil {
			return interpret(err, "in-app notifications")
		}
		r.bells = append(r.bells, users...)
		return nil
	}
	recipient := dest.Host
	if ch.Kind == "email" {
		recipient = fmt.Sprint(joinComma(dest.To))
	}
	org, chID, nID := n.OrganizationID, ch.ID, n.ID
	_, err := r.store.outgoingCreateTx(r.ctx, r.tx, r.q, OutgoingMessage{OrganizationID: &org, Kind: "notification",
		ChannelID: &chID, NotificationID: &nID, Recipient: recipient})
	return err
}

func joinComma(list []string) string {
	out := ""
	for i, s := range list {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
