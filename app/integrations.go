package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Integrations are the use cases of integrations: the credentials and settings that action nodes use to reach
// outside services. Secrets are sealed by the store and never come back out of these use cases, except to the
// connection test.
type Integrations struct {
	store  *store.IntegrationStore
	tester *actions.ConnectionTester
}

// IntegrationInput is what adding or updating an integration takes. Settings mixes plain settings and secrets; the
// kind's secret fields (actions.SecretFields) are sealed and never shown back. On update the kind is the stored
// one, and a settings object without a secret field keeps the stored secret.
type IntegrationInput struct {
	Name     string          `json:"name" validate:"required,min=1,max=200"`
	Kind     string          `json:"kind"`
	Settings json.RawMessage `json:"settings"`
	// RateLimit requests per RateInterval (a Go duration such as "1m"), shared by every worker; 0 is unlimited.
	RateLimit    int    `json:"rate_limit" validate:"min=0,max=1000000"`
	RateInterval string `json:"rate_interval"`
}

// checkedIntegration is an IntegrationInput that passed validation, its settings split into config and secrets.
type checkedIntegration struct {
	name     string
	config   json.RawMessage
	secrets  json.RawMessage
	interval time.Duration
}

// check validates in as an integration of kind. Creating checks the settings in full against the kind; an update
// may leave secrets out (they are kept), so only their shape is checked then.
func (in IntegrationInput) check(kind string, full bool) (checkedIntegration, error) {
	in.Name, in.Kind = strings.TrimSpace(in.Name), kind
	interval, ierr := in.interval()
	config, secrets, serr := actions.SplitSettings(kind, in.Settings)
	if serr != nil && len(fault.As(serr).Fields) == 0 {
		serr = fault.Fields("the settings are not a JSON object",
			fault.FieldError{Field: "settings", Message: "must be a JSON object"})
	}
	var verr error
	if serr == nil && full {
		verr = actions.ValidateIntegration(kind, in.Settings)
	}
	if err := validate.Merge(validate.Struct(in), ierr, serr, verr); err != nil {
		return checkedIntegration{}, err
	}
	return checkedIntegration{name: in.Name, config: config, secrets: secrets, interval: interval}, nil
}

func (in IntegrationInput) interval() (time.Duration, error) {
	if in.RateLimit == 0 && in.RateInterval == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(in.RateInterval)
	if err != nil || d <= 0 {
		return 0, fault.Fields("bad rate interval", fault.FieldError{Field: "rate_interval",
			Message: `must be a duration such as "1s" or "1m" when rate_limit is set`})
	}
	return d, nil
}

// List lists the caller's organization's integrations, narrowed by f, without their secrets.
func (i *Integrations) List(ctx context.Context, c Caller, f store.IntegrationFilter) ([]store.Integration, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.IntegrationsView, authz.Org(p.OrgID)); err != nil {
		return nil, err
	}
	return i.store.List(ctx, p.OrgID, f)
}

// get loads an integration of the caller's organization after checking that the caller may do a to it. An
// integration of another organization is NotFound.
func (i *Integrations) get(ctx context.Context, c Caller, id uuid.UUID, a authz.Action) (store.Integration, error) {
	p := c.Principal
	if err := authz.Authorize(p, a, authz.Org(p.OrgID)); err != nil {
		return store.Integration{}, err
	}
	return i.store.Get(ctx, p.OrgID, id)
}

// Get reads an integration of the caller's organization, without its secrets.
func (i *Integrations) Get(ctx context.Context, c Caller, id uuid.UUID) (store.Integration, error) {
	return i.get(ctx, c, id, authz.IntegrationsView)
}

// Create adds an integration to the caller's organization.
func (i *Integrations) Create(ctx context.Context, c Caller, in IntegrationInput) (store.Integration, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.IntegrationsManage, authz.Org(p.OrgID)); err != nil {
		return store.Integration{}, err
	}
	checked, err := in.check(in.Kind, true)
	if err != nil {
		return store.Integration{}, err
	}
	return i.store.Create(ctx, store.NewIntegration{OrganizationID: p.OrgID, Name: checked.name, Kind: in.Kind,
		Config: checked.config, Secrets: checked.secrets, RateLimit: in.RateLimit, RateInterval: checked.interval,
		CreatedBy: &p.UserID}, c.Actor)
}

// Update replaces an integration's name, settings and rate limit; its kind stays. Secrets left out of the
// settings keep their stored values.
func (i *Integrations) Update(ctx context.Context, c Caller, id uuid.UUID, in IntegrationInput) (store.Integration, error) {
	current, err := i.get(ctx, c, id, authz.IntegrationsManage)
	if err != nil {
		return store.Integration{}, err
	}
	checked, err := in.check(current.Kind, false)
	if err != nil {
		return store.Integration{}, err
	}
	secrets := checked.secrets
	var given map[string]json.RawMessage
	if json.Unmarshal(secrets, &given) == nil && len(given) == 0 {
		secrets = nil // keep the stored ones
	}
	return i.store.Update(ctx, store.IntegrationUpdate{OrganizationID: current.OrganizationID, ID: current.ID,
		Name: checked.name, Config: checked.config, Secrets: secrets, RateLimit: in.RateLimit,
		RateInterval: checked.interval}, c.Actor)
}

// Delete deletes an integration of the caller's organization and returns it as it was.
func (i *Integrations) Delete(ctx context.Context, c Caller, id uuid.UUID) (store.Integration, error) {
	current, err := i.get(ctx, c, id, authz.IntegrationsManage)
	if err != nil {
		return store.Integration{}, err
	}
	return current, i.store.Delete(ctx, current.OrganizationID, current.ID, c.Actor)
}

// ConnectionTest is the outcome of testing an integration's connection: Problem says what failed, "" when the
// service answered.
type ConnectionTest struct {
	Integration store.Integration
	Problem     string
}

// Test connects with an integration's stored settings (SMTP: EHLO and AUTH; HTTP: a GET of its test URL;
// PostgreSQL: SELECT 1) through the outbound guard. A failed connection is an outcome, not an error: the error is
// for a caller who may not test it, an integration that does not exist or cannot be read.
func (i *Integrations) Test(ctx context.Context, c Caller, id uuid.UUID) (ConnectionTest, error) {
	current, err := i.get(ctx, c, id, authz.IntegrationsManage)
	if err != nil {
		return ConnectionTest{}, err
	}
	resolved, err := i.store.IntegrationForRun(ctx, current.OrganizationID, current.ID)
	if err != nil {
		return ConnectionTest{}, err
	}
	out := ConnectionTest{Integration: current}
	if err := i.tester.Test(ctx, resolved); err != nil {
		out.Problem = fault.As(err).Message
	}
	// Kept for the list, which shows each integration's latest test; the problem is bounded as the column is.
	res := store.IntegrationTestResult{At: time.Now(), Problem: truncate(out.Problem, 2000)}
	if err := i.store.RecordTest(ctx, current.OrganizationID, current.ID, res); err != nil {
		return ConnectionTest{}, err
	}
	return out, nil
}

// TestResults returns the latest connection test of each of the caller's organization's tested integrations.
func (i *Integrations) TestResults(ctx context.Context, c Caller) (map[uuid.UUID]store.IntegrationTestResult, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.IntegrationsView, authz.Org(p.OrgID)); err != nil {
		return nil, err
	}
	return i.store.TestResults(ctx, p.OrgID)
}

// IntegrationUseInput is who may use an integration in workflows: restricted false lets everyone in the
// organization; true only admins, owners, the roles listed and the members listed.
type IntegrationUseInput struct {
	Restricted bool        `json:"restricted"`
	Roles      []string    `json:"roles" validate:"max=4"`
	UserIDs    []uuid.UUID `json:"user_ids" validate:"max=1000"`
}

// SetUse sets who may use an integration of the caller's organization. The store refuses members of other
// organizations, naming the entry.
func (i *Integrations) SetUse(ctx context.Context, c Caller, id uuid.UUID, in IntegrationUseInput) (store.Integration, error) {
	current, err := i.get(ctx, c, id, authz.IntegrationsManage)
	if err != nil {
		return store.Integration{}, err
	}
	if err := validate.Struct(in); err != nil {
		return store.Integration{}, err
	}
	return i.store.SetUse(ctx, current.OrganizationID, current.ID,
		store.IntegrationUse{Restricted: in.Restricted, Roles: in.Roles, UserIDs: in.UserIDs}, c.Actor)
}

// SetPrivilegedRole lets a PostgreSQL integration of any organization connect as a superuser or a member of
// pg_read_server_files, pg_write_server_files or pg_execute_server_program, or stops it: instance administrators
// only.
func (i *Integrations) SetPrivilegedRole(ctx context.Context, c Caller, id uuid.UUID, allowed bool) (store.Integration, error) {
	if err := authz.Authorize(c.Principal, authz.IntegrationsPrivilegedRole, authz.Instance); err != nil {
		return store.Integration{}, err
	}
	return i.store.SetPrivilegedRole(ctx, id, allowed, c.Actor)
}

// usePolicy is an integration's use policy as authz reads it; nil when unrestricted.
func usePolicy(in store.Integration) *authz.UsePolicy {
	if !in.Use.Restricted {
		return nil
	}
	p := &authz.UsePolicy{Users: in.Use.UserIDs}
	for _, r := range in.Use.Roles {
		p.Roles = append(p.Roles, authz.Role(r))
	}
	return p
}

// CheckUse refuses a definition naming an integration the caller may not use (authz.IntegrationsUse), naming the
// node and the integration, and an integration_id that is not an id at all. Saving a workflow calls it. An id
// that names no integration of the organization is left to the run (a workflow may be imported before its
// integrations exist), which fails that node with "not found".
func (i *Integrations) CheckUse(ctx context.Context, c Caller, def *engine.Definition) error {
	p := c.Principal
	var problems []fault.FieldError
	for _, n := range def.Nodes {
		var cfg struct {
			IntegrationID string `json:"integration_id"`
		}
		if json.Unmarshal(n.Config, &cfg) != nil || cfg.IntegrationID == "" {
			continue
		}
		id, err := uuid.Parse(cfg.IntegrationID)
		if err != nil {
			// Never an integration's id: a placeholder left behind (${SMTP_INTEGRATION_ID}) or a name. Said now,
			// rather than by the node's first run.
			problems = append(problems, fault.FieldError{NodeID: n.ID, Field: "config.integration_id",
				Message: "is not an integration's id (a UUID, from /api/v1/integrations)"})
			continue
		}
		in, err := i.store.Get(ctx, p.OrgID, id)
		if fault.CodeOf(err) == fault.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		if authz.Authorize(p, authz.IntegrationsUse, authz.Integration(p.OrgID, usePolicy(in))) != nil {
			problems = append(problems, fault.FieldError{NodeID: n.ID, Field: "integration_id",
				Message: fmt.Sprintf("you may not use integration %q: an admin restricted who may use it", in.Name)})
		}
	}
	if len(problems) > 0 {
		return fault.Fields("the definition names integrations you may not use, or ids that are not integrations' ids", problems...)
	}
	return nil
}

// IntegrationUseChecker is the workers' run-time check (actions.ServicesConfig.MayUse): the member who saved the
// running version must still be allowed to use the integration, by the same rule as CheckUse on saving. A version
// whose author left the organization (or is unknown) keeps the unrestricted integrations and loses the restricted
// ones.
func IntegrationUseChecker(is *store.IntegrationStore) func(ctx context.Context, orgID, versionID, integrationID uuid.UUID) error {
	return func(ctx context.Context, orgID, versionID, integrationID uuid.UUID) error {
		in, err := is.Get(ctx, orgID, integrationID)
		if err != nil {
			return err
		}
		author, role, err := is.VersionAuthor(ctx, orgID, versionID)
		if err != nil {
			return err
		}
		if author == uuid.Nil || role == "" {
			if in.Use.Restricted {
				return fault.New(fault.Forbidden, "integration %q is restricted, and whoever saved this workflow version "+
					"is no longer a member of the organization; save the workflow again as someone who may use it", in.Name)
			}
			return nil
		}
		p := authz.Principal{UserID: author, OrgID: orgID, Role: authz.Role(role)}
		if authz.Authorize(p, authz.IntegrationsUse, authz.Integration(orgID, usePolicy(in))) != nil {
			return fault.New(fault.Forbidden, "integration %q may no longer be used by the member who saved this "+
				"workflow version; an admin can allow them, or someone allowed can save the workflow again", in.Name)
		}
		return nil
	}
}

// truncate shortens s to at most max runes.
func truncate(s string, max int) string {
	if r := []rune(s); len(r) > max {
		return string(r[:max])
	}
	return s
}
