package bundle

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// maxProblems bounds the problems one refused import lists: enough to fix a bundle, not a flood.
const maxProblems = 100

// importedSuffix marks an imported item whose name the organization already uses.
const importedSuffix = " (imported)"

// Import writes b into the caller's organization in one transaction: every item under a new id, every reference
// between them (a form's workflows, a node's integration, an error trigger's watched workflow, a rule's workflow
// and channels, an e-mail channel's integration) remapped, workflows inactive, integrations and channels without
// secrets. Every definition passes the save path's validation (app.Workflows.CheckDefinition: the node registry and
// the organization's feature flags). Any problem refuses the whole import with an Invalid fault naming each bad
// field by its path in the bundle (workflows[2].versions[0].definition…); nothing is written then. A name the
// organization already uses gets " (imported)"; a form address another form of the instance holds gets a suffix.
// It takes org.transfer and writes one audit row (organization.import) in the same transaction.
func (t *Transfers) Import(ctx context.Context, c app.Caller, b Bundle) (Result, error) {
	org := c.Principal.OrgID
	if err := authz.Authorize(c.Principal, authz.OrgTransfer, authz.Org(org)); err != nil {
		return Result{}, err
	}
	if b.Format != Format || b.Version != Version {
		return Result{}, fault.Fields("this bundle format or version is not supported",
			fault.FieldError{Field: "format", Message: fmt.Sprintf("must be %q version %d", Format, Version)})
	}
	p := newPlan(b, org)
	p.planIntegrations()
	p.planChannels()
	p.planForms()
	p.planWorkflows(ctx, c, t.workflows)
	p.planRules()
	if len(p.problems) > 0 {
		return Result{}, fault.Fields("the bundle is not valid", p.problems...)
	}
	if err := t.rename(ctx, &p.out); err != nil {
		return Result{}, err
	}
	p.out.Summary = map[string]any{"workflows": len(p.out.Workflows), "forms": len(p.out.Forms),
		"integrations": len(p.out.Integrations), "notification_channels": len(p.out.Channels),
		"notification_rules": len(p.out.Rules), "needs_credentials": p.result.NeedsCredentials,
		"exported_from": truncate(b.Organization, 200)}
	if err := t.store.BundleImport(ctx, c.Actor, p.out); err != nil {
		return Result{}, err
	}
	return p.result, nil
}

// rename gives the items whose names the organization already uses the " (imported)" suffix, and a form whose
// address another form of the instance holds a new one.
func (t *Transfers) rename(ctx context.Context, in *store.BundleImport) error {
	slugs := make([]string, len(in.Forms))
	for i, f := range in.Forms {
		slugs[i] = f.Slug
	}
	taken, err := t.store.BundleNamesTaken(ctx, in.OrganizationID, slugs)
	if err != nil {
		return err
	}
	for i := range in.Workflows {
		in.Workflows[i].Workflow.Name = freeName(in.Workflows[i].Workflow.Name, taken["workflow"])
	}
	for i := range in.Forms {
		f := &in.Forms[i]
		f.Name = freeName(f.Name, taken["form"])
		if taken["slug"][f.Slug] {
			// A random tail rather than a counter: another instance-wide name would take a query per try.
			tail := uuid.New()
			f.Slug = strings.TrimRight(truncate(f.Slug, 48), "-") + "-" + hex.EncodeToString(tail[:4])
		}
	}
	for i := range in.Integrations {
		in.Integrations[i].Name = freeName(in.Integrations[i].Name, taken["integration"])
	}
	for i := range in.Channels {
		in.Channels[i].Name = freeName(in.Channels[i].Name, taken["channel"])
	}
	return nil
}

// freeName is name, or name with importedSuffix (and a number after a second clash) when taken holds it; the
// name returned is added to taken, so two imported items of one name stay apart too.
func freeName(name string, taken map[string]bool) string {
	out := name
	for n := 1; taken[out]; n++ {
		suffix := importedSuffix
		if n > 1 {
			suffix = fmt.Sprintf(" (imported %d)", n)
		}
		out = truncate(name, 200-len(suffix)) + suffix
	}
	if taken != nil {
		taken[out] = true
	}
	return out
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// rateInterval converts a bundle's milliseconds, refusing what a duration cannot hold.
func rateInterval(ms int64) (time.Duration, bool) {
	if ms < 0 || ms > int64(31*24*time.Hour/time.Millisecond) {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}
