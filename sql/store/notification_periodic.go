package store

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/sql/db"
)

// defaultScheduleGrace is how late a schedule may be before it counts as not fired, when its rule names no grace.
const defaultScheduleGrace = 5 * time.Minute

// periodic checks the time-based conditions of every enabled rule: a failure rate over a window, a schedule that
// did not fire, a webhook silent for a period. A condition alerts when it becomes true for a workflow, and may
// alert again once it was seen false.
func (r *evalRound) periodic() error {
	rules, err := r.q.NotificationRulesPeriodic(r.ctx)
	if err != nil || len(rules) == 0 {
		return interpret(err, "notification rules")
	}
	orgs := []uuid.UUID{}
	ruleIDs := make([]uuid.UUID, len(rules))
	for i, rule := range rules {
		orgs, ruleIDs[i] = append(orgs, rule.OrganizationID), rule.ID
	}
	if err := r.loadRules(orgs); err != nil {
		return err
	}
	states, err := r.q.NotificationRuleStatesOfRules(r.ctx, ruleIDs)
	if err != nil {
		return interpret(err, "notification rule states")
	}
	for _, s := range states {
		if _, ok := r.states[stateKey{s.RuleID, s.WorkflowID}]; !ok {
			r.states[stateKey{s.RuleID, s.WorkflowID}] = &ruleState{NotificationRuleState: s}
		}
	}
	for _, rule := range rules {
		conds, err := r.conditions(rule)
		if err != nil {
			return err
		}
		if err := r.settle(rule, conds); err != nil {
			return err
		}
	}
	return nil
}

// conditions returns, for each workflow the rule can judge, whether its condition holds now and what was measured.
func (r *evalRound) conditions(rule db.NotificationRule) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	switch rule.Event {
	case "failure_rate":
		window := time.Duration(max(rule.ThresholdSeconds, 60)) * time.Second
		counts, err := r.q.NotificationFailureCounts(r.ctx, db.NotificationFailureCountsParams{
			OrganizationID: rule.OrganizationID, Since: r.now.Add(-window)})
		if err != nil {
			return nil, interpret(err, "failure counts")
		}
		for _, c := range counts {
			out[c.WorkflowID] = ""
			if c.Total >= max(rule.ThresholdCount, 1) && int64(c.Failed)*100 >= int64(rule.ThresholdPercent)*int64(c.Total) && c.Failed > 0 {
				out[c.WorkflowID] = fmt.Sprintf("%d of %d executions failed (%d%%) in the last %s", c.Failed, c.Total,
					int64(c.Failed)*100/int64(c.Total), window)
			}
		}
	case "schedule_missed":
		grace := time.Duration(rule.ThresholdSeconds) * time.Second
		if grace <= 0 {
			grace = defaultScheduleGrace
		}
		schedules, err := r.q.NotificationSchedules(r.ctx, rule.OrganizationID)
		if err != nil {
			return nil, interpret(err, "schedules")
		}
		for _, s := range schedules {
			out[s.WorkflowID] = ""
			if late := r.now.Sub(s.NextRunAt); late >= grace {
				out[s.WorkflowID] = "the run due at " + s.NextRunAt.UTC().Format(time.RFC3339) + " has not started"
			}
		}
	case "webhook_silent":
		period := time.Duration(max(rule.ThresholdSeconds, 60)) * time.Second
		hooks, err := r.q.NotificationWebhookLastCalls(r.ctx, rule.OrganizationID)
		if err != nil {
			return nil, interpret(err, "webhooks")
		}
		for _, h := range hooks {
			out[h.WorkflowID] = ""
			if silent := r.now.Sub(h.LastCall); silent >= period {
				out[h.WorkflowID] = "no call since " + h.LastCall.UTC().Format(time.RFC3339)
			}
		}
	}
	return out, nil
}

// settle alerts the workflows whose condition became true and forgets those whose condition is false (or which
// the rule no longer judges).
func (r *evalRound) settle(rule db.NotificationRule, conds map[uuid.UUID]string) error {
	applies := func(workflow uuid.UUID) bool {
		for _, e := range r.effective(rule.OrganizationID, workflow) {
			if e.ID == rule.ID {
				return true
			}
		}
		return false
	}
	full := db.NotificationRulesForOrgsRow{}
	for _, candidate := range r.rules[rule.OrganizationID] {
		if candidate.ID == rule.ID {
			full = candidate
		}
	}
	for k, st := range r.states {
		if k.rule == rule.ID && st.ConditionActive && conds[k.workflow] == "" {
			st.ConditionActive, st.dirty = false, true
		}
	}
	for workflow, detail := range conds {
		if detail == "" || !applies(workflow) {
			continue
		}
		st := r.state(full, workflow)
		if st.ConditionActive {
			continue
		}
		st.ConditionActive, st.dirty = true, true
		if failureEvents[rule.Event] {
			st.Failing = true
		}
		if err := r.occurrence(full, workflow, rule.Event, nil, detail, st); err != nil {
			return err
		}
	}
	return nil
}
