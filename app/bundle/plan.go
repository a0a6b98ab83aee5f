package bundle

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// plan turns a bundle into what the store writes: new ids for every item, references remapped through them, and
// every problem found on the way, each named by its path in the bundle.
type plan struct {
	b        Bundle
	out      store.BundleImport
	result   Result
	problems []fault.FieldError
	// The new id of each item by its id in the bundle; formSlugs maps a form's bundle address to its form's bundle
	// id, since trigger.form may name a form by either.
	workflows, forms, integrations, channels map[string]uuid.UUID
	formSlugs                                map[string]string
	// formByNewID is the planned form of each new form id, whose final address is only known after rename.
	formByNewID map[uuid.UUID]int
}

func newPlan(b Bundle, org uuid.UUID) *plan {
	p := &plan{b: b, out: store.BundleImport{OrganizationID: org},
		result: Result{Workflows: map[string]string{}, Forms: map[string]string{}, Integrations: map[string]string{},
			Channels: map[string]string{}, NeedsCredentials: []string{}},
		formSlugs: map[string]string{}, formByNewID: map[uuid.UUID]int{}}
	p.workflows = p.assign("workflows", len(b.Workflows), func(i int) string { return b.Workflows[i].ID }, p.result.Workflows)
	p.forms = p.assign("forms", len(b.Forms), func(i int) string { return b.Forms[i].ID }, p.result.Forms)
	p.integrations = p.assign("integrations", len(b.Integrations), func(i int) string { return b.Integrations[i].ID }, p.result.Integrations)
	p.channels = p.assign("notification_channels", len(b.Channels), func(i int) string { return b.Channels[i].ID }, p.result.Channels)
	return p
}

// assign draws a new id for each of n items, complaining of a missing or repeated bundle id.
func (p *plan) assign(list string, n int, idOf func(int) string, result map[string]string) map[string]uuid.UUID {
	ids := make(map[string]uuid.UUID, n)
	for i := range n {
		id := idOf(i)
		switch {
		case strings.TrimSpace(id) == "":
			p.problem(fmt.Sprintf("%s[%d].id", list, i), "is required")
		case ids[id] != uuid.Nil:
			p.problem(fmt.Sprintf("%s[%d].id", list, i), "repeats the id of another item of the list")
		default:
			ids[id] = uuid.Must(uuid.NewV7())
			result[id] = ids[id].String()
		}
	}
	return ids
}

func (p *plan) problem(field, message string) {
	p.problemAt(fault.FieldError{Field: field, Message: message})
}

func (p *plan) problemAt(fe fault.FieldError) {
	if len(p.problems) < maxProblems {
		p.problems = append(p.problems, fe)
	}
}

// faultProblems adds the field errors of err (an Invalid fault) under prefix; any other error is one problem.
func (p *plan) faultProblems(prefix string, err error) {
	f := fault.As(err)
	if f == nil || len(f.Fields) == 0 {
		p.problem(prefix, err.Error())
		return
	}
	for _, fe := range f.Fields {
		// A definition's own problems say "definition", which the prefix already ends with.
		if fe.Field != "" && !strings.HasSuffix(prefix, "."+fe.Field) {
			fe.Field = prefix + "." + fe.Field
		} else {
			fe.Field = prefix
		}
		p.problemAt(fe)
	}
}

func (p *plan) planIntegrations() {
	for i, in := range p.b.Integrations {
		path := fmt.Sprintf("integrations[%d]", i)
		id, ok := p.integrations[in.ID]
		if !ok {
			continue
		}
		if name := strings.TrimSpace(in.Name); name == "" || len(name) > 200 {
			p.problem(path+".name", "is required, at most 200 characters")
		}
		if err := actions.ValidateIntegrationWithoutSecrets(in.Kind, in.Config); err != nil {
			p.faultProblems(path, err)
		}
		interval, ok := rateInterval(in.RateIntervalMS)
		if !ok || in.RateLimit < 0 {
			p.problem(path+".rate_limit", "must be positive, per an interval of at most 31 days")
		}
		p.out.Integrations = append(p.out.Integrations, store.Integration{ID: id, Name: strings.TrimSpace(in.Name),
			Kind: in.Kind, Config: in.Config, RateLimit: in.RateLimit, RateInterval: interval})
		if in.NeedsCredentials {
			p.result.NeedsCredentials = append(p.result.NeedsCredentials, "integration "+id.String())
		}
	}
}

// channelConfig is the part of a channel's shown settings an import keeps; the host of a webhook channel's
// address goes, with the address.
type channelConfig struct {
	To            []string `json:"to,omitempty"`
	IntegrationID string   `json:"integration_id,omitempty"`
	Roles         []string `json:"roles,omitempty"`
}

func (p *plan) planChannels() {
	for i, in := range p.b.Channels {
		path := fmt.Sprintf("notification_channels[%d]", i)
		id, ok := p.channels[in.ID]
		if !ok {
			continue
		}
		var cfg channelConfig
		if len(in.Config) > 0 && string(in.Config) != "null" {
			if err := json.Unmarshal(in.Config, &cfg); err != nil {
				p.problem(path+".config", "must be an object of to, integration_id and roles")
				continue
			}
		}
		if err := validate.Struct(app.ChannelInput{Name: strings.TrimSpace(in.Name), Kind: in.Kind, To: cfg.To, Roles: cfg.Roles}); err != nil {
			p.faultProblems(path, err)
		}
		if cfg.IntegrationID != "" {
			cfg.IntegrationID = p.ref(path+".config.integration_id", cfg.IntegrationID, p.integrations, "integration")
		}
		raw, _ := json.Marshal(cfg)
		p.out.Channels = append(p.out.Channels, store.NotificationChannel{ID: id, Name: strings.TrimSpace(in.Name),
			Kind: in.Kind, Config: raw})
		if in.NeedsCredentials {
			p.result.NeedsCredentials = append(p.result.NeedsCredentials, "notification_channel "+id.String())
		}
	}
}

// ref is the new id of the item a bundle id names, or a problem at path when the bundle has no such item.
func (p *plan) ref(path, bundleID string, ids map[string]uuid.UUID, what string) string {
	if id, ok := ids[bundleID]; ok {
		return id.String()
	}
	p.problem(path, fmt.Sprintf("names %s %q, which is not in the bundle", what, truncate(bundleID, 100)))
	return bundleID
}

func (p *plan) planForms() {
	for i, in := range p.b.Forms {
		path := fmt.Sprintf("forms[%d]", i)
		id, ok := p.forms[in.ID]
		if !ok {
			continue
		}
		form := store.FormInput{Name: in.Name, Slug: in.Slug, Description: in.Description, Fields: in.Fields,
			Settings: in.Settings, Published: in.Published}
		if err := app.CheckForm(&form); err != nil {
			p.faultProblems(path, err)
		}
		if _, dup := p.formSlugs[form.Slug]; dup {
			p.problem(path+".slug", "repeats the address of another form of the bundle")
		}
		p.formSlugs[form.Slug] = in.ID
		p.formByNewID[id] = len(p.out.Forms)
		p.out.Forms = append(p.out.Forms, store.Form{ID: id, Name: form.Name, Slug: form.Slug, Description: form.Description,
			Fields: form.Fields, Settings: form.Settings, Published: form.Published})
	}
}

func (p *plan) planRules() {
	for i, in := range p.b.Rules {
		path := fmt.Sprintf("notification_rules[%d]", i)
		window := in.GroupWindowSeconds
		input := app.RuleInput{Event: in.Event, ThresholdSeconds: in.ThresholdSeconds, ThresholdCount: in.ThresholdCount,
			ThresholdPercent: in.ThresholdPercent, GroupWindowSeconds: &window, CooldownSeconds: in.CooldownSeconds,
			NotifyRecovery: &in.NotifyRecovery, Digest: in.Digest, Enabled: &in.Enabled}
		if len(in.ChannelIDs) > 20 {
			p.problem(path+".channel_ids", "holds at most 20 channels")
		}
		rule := store.NotificationRule{Event: in.Event, ThresholdSeconds: in.ThresholdSeconds, ThresholdCount: in.ThresholdCount,
			ThresholdPercent: in.ThresholdPercent, GroupWindowSeconds: window, CooldownSeconds: in.CooldownSeconds,
			NotifyRecovery: in.NotifyRecovery, Digest: in.Digest, Enabled: in.Enabled}
		if in.WorkflowID != "" {
			if id, ok := p.workflows[in.WorkflowID]; ok {
				rule.WorkflowID = &id
			} else {
				p.ref(path+".workflow_id", in.WorkflowID, p.workflows, "workflow")
			}
		}
		for j, ch := range in.ChannelIDs {
			if id, ok := p.channels[ch]; ok {
				rule.ChannelIDs = append(rule.ChannelIDs, id)
			} else {
				p.ref(fmt.Sprintf("%s.channel_ids[%d]", path, j), ch, p.channels, "notification channel")
			}
		}
		if input.ChannelIDs = rule.ChannelIDs; len(rule.ChannelIDs) == len(in.ChannelIDs) {
			if err := input.Check(); err != nil {
				p.faultProblems(path, err)
			}
		}
		p.out.Rules = append(p.out.Rules, rule)
	}
	p.result.Rules = len(p.out.Rules)
}
