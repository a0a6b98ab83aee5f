package bundle

import (
	"context"
	"time"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Transfers are the organization export and import.
type Transfers struct {
	store        *store.Store
	integrations *store.IntegrationStore
	workflows    *app.Workflows
	now          func() time.Time
}

// New returns the use cases over the store, the sealed integrations (read without their secrets) and the workflows'
// use cases, whose save-time validation every imported definition goes through.
func New(st *store.Store, integrations *store.IntegrationStore, workflows *app.Workflows, now func() time.Time) *Transfers {
	if now == nil {
		now = time.Now
	}
	return &Transfers{store: st, integrations: integrations, workflows: workflows, now: now}
}

// Export writes the caller's organization as a bundle: its workflows (archived ones marked so) with every version, its
// forms, integrations, notification channels and rules — no secret, no execution, no submission. It takes
// org.transfer (owners and admins) and is audited (organization.export), since it reads everything at once.
func (t *Transfers) Export(ctx context.Context, c app.Caller) (Bundle, error) {
	org := c.Principal.OrgID
	if err := authz.Authorize(c.Principal, authz.OrgTransfer, authz.Org(org)); err != nil {
		return Bundle{}, err
	}
	contents, err := t.store.BundleRead(ctx, org)
	if err != nil {
		return Bundle{}, err
	}
	integrations, err := t.integrations.List(ctx, org, store.IntegrationFilter{})
	if err != nil {
		return Bundle{}, err
	}
	channels, err := t.store.NotificationChannelList(ctx, org)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{Format: Format, Version: Version, ExportedAt: t.now().UTC(), Organization: c.OrgName,
		Workflows: []Workflow{}, Forms: []Form{}, Integrations: []Integration{}, Channels: []Channel{}, Rules: []Rule{}}
	exported := map[string]bool{}
	for _, w := range contents.Workflows {
		exported[w.Workflow.ID.String()] = true
		out := Workflow{ID: w.Workflow.ID.String(), Name: w.Workflow.Name, Description: w.Workflow.Description,
			Priority: w.Workflow.Priority, ConcurrencyLimit: w.Workflow.ConcurrencyLimit, Archived: w.Workflow.ArchivedAt != nil}
		for _, v := range w.Versions {
			out.Versions = append(out.Versions, WorkflowVersion{Definition: v.Definition, Message: v.Message})
		}
		b.Workflows = append(b.Workflows, out)
	}
	for _, f := range contents.Forms {
		b.Forms = append(b.Forms, Form{ID: f.ID.String(), Name: f.Name, Slug: f.Slug, Description: f.Description,
			Fields: f.Fields, Settings: f.Settings, Published: f.Published})
	}
	for _, i := range integrations {
		b.Integrations = append(b.Integrations, Integration{ID: i.ID.String(), Name: i.Name, Kind: i.Kind, Config: i.Config,
			RateLimit: i.RateLimit, RateIntervalMS: i.RateInterval.Milliseconds(), NeedsCredentials: i.HasSecrets})
	}
	for _, ch := range channels {
		b.Channels = append(b.Channels, Channel{ID: ch.ID.String(), Name: ch.Name, Kind: ch.Kind, Config: ch.Config,
			NeedsCredentials: len(ch.Sealed) > 0})
	}
	for _, r := range contents.Rules {
		out := Rule{Event: r.Event, ThresholdSeconds: r.ThresholdSeconds, ThresholdCount: r.ThresholdCount,
			ThresholdPercent: r.ThresholdPercent, GroupWindowSeconds: r.GroupWindowSeconds, CooldownSeconds: r.CooldownSeconds,
			NotifyRecovery: r.NotifyRecovery, Digest: r.Digest, Enabled: r.Enabled, ChannelIDs: []string{}}
		if r.WorkflowID != nil {
			if out.WorkflowID = r.WorkflowID.String(); !exported[out.WorkflowID] {
				continue // the rule of a workflow deleted while the export read (the reads are not one snapshot)
			}
		}
		for _, id := range r.ChannelIDs {
			out.ChannelIDs = append(out.ChannelIDs, id.String())
		}
		b.Rules = append(b.Rules, out)
	}
	if err := t.store.AuditEvent(ctx, c.Actor, &org, "organization.export", "organization", org.String()); err != nil {
		return Bundle{}, err
	}
	return b, nil
}
