// Package bundle moves a team between instances: Export writes an organization's workflows (with every version),
// forms, integrations and notification channels and rules as one versioned JSON document, and Import writes such a
// document into the caller's organization in one transaction, under new ids with every reference between its
// items remapped. Secrets never travel: integrations and channels that had some arrive marked as needing
// credentials, for the importer to enter again.
//
// It is a use case of the application layer (like package app): it takes an app.Caller, authorizes with
// app/authz, validates with the same code a save uses, and leaves transactions and the audit row to sql/store.
package bundle

import (
	"encoding/json"
	"time"

	"github.com/concertmaster/concertmaster/sql/store"
)

// Format and Version identify a bundle document; Import refuses any other.
const (
	Format  = "concertmaster.bundle"
	Version = 1
)

// MaxBytes is the largest bundle Import reads (the HTTP surfaces refuse a larger body with 413).
const MaxBytes = 20 << 20

// Bundle is the document. Ids are those of the exporting instance: they only tie the items together (a form to the
// workflows it triggers, a node to its integration, a rule to its workflow and channels) and are replaced on import.
type Bundle struct {
	Format       string        `json:"format"`
	Version      int           `json:"version"`
	ExportedAt   time.Time     `json:"exported_at"`
	Organization string        `json:"organization,omitempty"`
	Workflows    []Workflow    `json:"workflows"`
	Forms        []Form        `json:"forms"`
	Integrations []Integration `json:"integrations"`
	Channels     []Channel     `json:"notification_channels"`
	Rules        []Rule        `json:"notification_rules"`
}

// Workflow is a workflow with its versions, oldest first; it is imported inactive.
type Workflow struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Description      string `json:"description,omitempty"`
	Priority         int16  `json:"priority,omitempty"`
	ConcurrencyLimit *int32 `json:"concurrency_limit,omitempty"`
	// Archived marks a workflow archived where it was exported; it is imported archived (hidden, its triggers off).
	Archived bool              `json:"archived,omitempty"`
	Versions []WorkflowVersion `json:"versions"`
}

// WorkflowVersion is one saved definition of a workflow.
type WorkflowVersion struct {
	Definition json.RawMessage `json:"definition"`
	Message    string          `json:"message,omitempty"`
}

// Form is a form's schema and settings; its address (slug) is kept unless another form of the instance holds it.
type Form struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Slug        string             `json:"slug"`
	Description string             `json:"description,omitempty"`
	Fields      []store.FormField  `json:"fields"`
	Settings    store.FormSettings `json:"settings"`
	Published   bool               `json:"published"`
}

// Integration is an integration's settings without its secrets. NeedsCredentials says it had secrets, which the
// importer must enter again before it works.
type Integration struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Kind             string          `json:"kind"`
	Config           json.RawMessage `json:"config"`
	RateLimit        int             `json:"rate_limit,omitempty"`
	RateIntervalMS   int64           `json:"rate_interval_ms,omitempty"`
	NeedsCredentials bool            `json:"needs_credentials"`
}

// Channel is a notification channel's shown settings; a webhook, Slack or Teams channel's address is a secret, so
// such a channel NeedsCredentials.
type Channel struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Kind             string          `json:"kind"`
	Config           json.RawMessage `json:"config"`
	NeedsCredentials bool            `json:"needs_credentials"`
}

// Rule is a notification rule: of one workflow of the bundle (WorkflowID) or of the whole organization.
type Rule struct {
	WorkflowID         string   `json:"workflow_id,omitempty"`
	Event              string   `json:"event"`
	ThresholdSeconds   int      `json:"threshold_seconds,omitempty"`
	ThresholdCount     int      `json:"threshold_count,omitempty"`
	ThresholdPercent   int      `json:"threshold_percent,omitempty"`
	GroupWindowSeconds int      `json:"group_window_seconds"`
	CooldownSeconds    int      `json:"cooldown_seconds,omitempty"`
	NotifyRecovery     bool     `json:"notify_recovery"`
	Digest             bool     `json:"digest,omitempty"`
	Enabled            bool     `json:"enabled"`
	ChannelIDs         []string `json:"channel_ids"`
}

// Result is what an import wrote: the new id of each item by its id in the bundle, and the integrations and
// channels (new ids) whose credentials must be entered again.
type Result struct {
	Workflows        map[string]string `json:"workflows"`
	Forms            map[string]string `json:"forms"`
	Integrations     map[string]string `json:"integrations"`
	Channels         map[string]string `json:"notification_channels"`
	Rules            int               `json:"notification_rules"`
	NeedsCredentials []string          `json:"needs_credentials"`
}
