package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/db"
)

// IntegrationStore keeps integrations (SMTP servers, HTTP credentials, PostgreSQL databases) with their secrets
// sealed under SECRET_KEY. It is apart from Store because it holds the keyring: only what is built with it can
// read a secret, and of its methods only Secrets and IntegrationForRun return one.
type IntegrationStore struct {
	s    *Store
	keys *secrets.Keyring
}

// NewIntegrationStore returns the integrations of st, sealed with keys (secrets.NewKeyring("integrations", …)).
func NewIntegrationStore(st *Store, keys *secrets.Keyring) *IntegrationStore {
	return &IntegrationStore{s: st, keys: keys}
}

// Integration is an integration as its organization sees it: settings without secrets, and whether it has any.
type Integration struct {
	ID             uuid.UUID       `json:"id"`
	OrganizationID uuid.UUID       `json:"organization_id"`
	Name           string          `json:"name"`
	Kind           string          `json:"kind"`
	Config         json.RawMessage `json:"config"`
	HasSecrets     bool            `json:"has_secrets"`
	// RateLimit requests per RateInterval, shared by every worker; 0 is unlimited.
	RateLimit    int           `json:"rate_limit,omitempty"`
	RateInterval time.Duration `json:"rate_interval,omitempty"`
	CreatedBy    *uuid.UUID    `json:"created_by,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
	// Use says who may use the integration in workflows.
	Use IntegrationUse `json:"use"`
	// AllowPrivilegedRole: an instance administrator let this PostgreSQL integration connect with a privileged
	// role (superuser, or a member of the roles reaching the server's files and programs).
	AllowPrivilegedRole bool `json:"allow_privileged_role"`
}

// IntegrationUse is who may use an integration in workflows: everyone in the organization when Restricted is
// false; otherwise admins, owners, the members holding one of Roles and the users in UserIDs.
type IntegrationUse struct {
	Restricted bool        `json:"restricted"`
	Roles      []string    `json:"roles"`
	UserIDs    []uuid.UUID `json:"user_ids"`
}

// NewIntegration is what IntegrationStore.Create needs. Config and Secrets are JSON objects with distinct keys
// (actions.SplitSettings separates submitted settings).
type NewIntegration struct {
	OrganizationID uuid.UUID
	Name           string
	Kind           string
	Config         json.RawMessage
	Secrets        json.RawMessage
	RateLimit      int
	RateInterval   time.Duration
	CreatedBy      *uuid.UUID
}

// IntegrationUpdate replaces an integration's name, config and rate limit. Secrets is merged into the stored
// secrets (a key with null removes one); nil keeps them as they are. Either way they are sealed again under the
// current key, which is how values sealed under SECRET_KEY_PREVIOUS move to the new key.
type IntegrationUpdate struct {
	OrganizationID uuid.UUID
	ID             uuid.UUID
	Name           string
	Config         json.RawMessage
	Secrets        json.RawMessage
	RateLimit      int
	RateInterval   time.Duration
}

// maxRateInterval bounds a rate window: longer ones are quotas, better kept by the service that sets them.
const maxRateInterval = 31 * 24 * time.Hour

// Create stores a new integration.
func (is *IntegrationStore) Create(ctx context.Context, in NewIntegration, by Actor) (Integration, error) {
	id := uuid.Must(uuid.NewV7())
	secretMap, err := jsonObject(in.Secrets, "secrets")
	if err != nil {
		return Integration{}, err
	}
	sealed, err := is.checkAndSeal(in.OrganizationID, id, in.Kind, in.Config, secretMap, in.RateLimit, in.RateInterval)
	if err != nil {
		return Integration{}, err
	}
	var out Integration
	err = is.s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		limit, interval := rateParams(in.RateLimit, in.RateInterval)
		row, err := q.IntegrationCreate(ctx, db.IntegrationCreateParams{ID: id, OrganizationID: in.OrganizationID,
			Name: in.Name, Kind: in.Kind, Config: in.Config, SecretCiphertext: sealed, RateLimit: limit,
			RateIntervalMs: interval, CreatedBy: in.CreatedBy})
		if err != nil {
			return interpret(err, "integration")
		}
		out = integrationFromRow(db.IntegrationGetRow(row))
		return audit(ctx, q, by, auditRecord{OrganizationID: &in.OrganizationID, Action: "integration.created",
			TargetType: "integration", TargetID: id.String(), After: integrationSummary(out)})
	})
	return out, err
}

// Update changes an integration; see IntegrationUpdate. The row is locked while secrets are merged, so two
// concurrent edits cannot each drop the other's secret.
func (is *IntegrationStore) Update(ctx context.Context, in IntegrationUpdate, by Actor) (Integration, error) {
	var out Integration
	err := is.s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if _, err := q.IntegrationLock(ctx, db.IntegrationLockParams{ID: in.ID, OrganizationID: in.OrganizationID}); err != nil {
			return interpret(err, "integration")
		}
		cur, err := q.IntegrationGetSealed(ctx, db.IntegrationGetSealedParams{ID: in.ID, OrganizationID: in.OrganizationID})
		if err != nil {
			return interpret(err, "integration")
		}
		stored, err := is.open(cur.OrganizationID, cur.ID, cur.SecretCiphertext)
		if err != nil {
			return err
		}
		patch, err := jsonObject(in.Secrets, "secrets")
		if err != nil {
			return err
		}
		for k, v := range patch {
			if string(v) == "null" {
				delete(stored, k)
			} else {
				stored[k] = v
			}
		}
		sealed, err := is.checkAndSeal(in.OrganizationID, in.ID, cur.Kind, in.Config, stored, in.RateLimit, in.RateInterval)
		if err != nil {
			return err
		}
		limit, interval := rateParams(in.RateLimit, in.RateInterval)
		row, err := q.IntegrationUpdate(ctx, db.IntegrationUpdateParams{ID: in.ID, OrganizationID: in.OrganizationID,
			Name: in.Name, Config: in.Config, SecretCiphertext: sealed, RateLimit: limit, RateIntervalMs: interval})
		if err != nil {
			return interpret(err, "integration")
		}
		out = integrationFromRow(db.IntegrationGetRow(row))
		before := integrationSummary(integrationFromRow(db.IntegrationGetRow{ID: cur.ID, Name: cur.Name, Kind: cur.Kind,
			Config: cur.Config, RateLimit: cur.RateLimit, RateIntervalMs: cur.RateIntervalMs}))
		after := integrationSummary(out)
		if len(patch) > 0 {
			after["secrets_changed"] = true
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &in.OrganizationID, Action: "integration.updated",
			TargetType: "integration", TargetID: in.ID.String(), Before: before, After: after})
	})
	return out, err
}

// Get returns one of an organization's integrations, without secrets.
func (is *IntegrationStore) Get(ctx context.Context, orgID, id uuid.UUID) (Integration, error) {
	row, err := is.s.q.IntegrationGet(ctx, db.IntegrationGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return Integration{}, interpret(err, "integration")
	}
	return integrationFromRow(row), nil
}

// IntegrationFilter narrows an integration list; zero fields do not filter.
type IntegrationFilter struct {
	Kind string
	// Query searches the names, best match first.
	Query string
}

// List returns an organization's integrations by name, without secrets; with a Query, those whose name matches,
// best first.
func (is *IntegrationStore) List(ctx context.Context, orgID uuid.UUID, f IntegrationFilter) ([]Integration, error) {
	var kind *string
	if f.Kind != "" {
		kind = &f.Kind
	}
	var rows []db.IntegrationListRow
	if f.Query == "" {
		var err error
		if rows, err = is.s.r.IntegrationList(ctx, db.IntegrationListParams{OrganizationID: orgID, Kind: kind}); err != nil {
			return nil, interpret(err, "integrations")
		}
	} else {
		terms, err := parseSearch("q", f.Query)
		if err != nil {
			return nil, err
		}
		found, err := is.s.r.IntegrationSearch(ctx, db.IntegrationSearchParams{OrganizationID: orgID, Kind: kind,
			Words: terms.Words, Prefix: terms.Prefix, MaxRows: maxIntegrationMatches})
		if err != nil {
			return nil, interpret(err, "integrations")
		}
		for _, r := range found {
			rows = append(rows, db.IntegrationListRow(r))
		}
	}
	out := make([]Integration, len(rows))
	for i, r := range rows {
		out[i] = integrationFromRow(db.IntegrationGetRow(r))
	}
	return out, nil
}

// maxIntegrationMatches bounds a search's answer, as the other lists' page size does.
const maxIntegrationMatches = 200

// Delete removes an integration. Nodes that name it fail with "not found" from then on; e-mail delivery records
// keep their rows without it.
func (is *IntegrationStore) Delete(ctx context.Context, orgID, id uuid.UUID, by Actor) error {
	return is.s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.IntegrationDelete(ctx, db.IntegrationDeleteParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "integration")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "integration.deleted",
			TargetType: "integration", TargetID: id.String(), Before: map[string]any{"name": row.Name, "kind": row.Kind}})
	})
}

// SetUse replaces who may use an integration in workflows. Roles must be organization roles; users must be
// members of the organization.
func (is *IntegrationStore) SetUse(ctx context.Context, orgID, id uuid.UUID, use IntegrationUse, by Actor) (Integration, error) {
	for i, r := range use.Roles {
		if !Role(r).Valid() {
			return Integration{}, fault.Fields("the use policy is not valid", fault.FieldError{Field: fmt.Sprintf("roles[%d]", i),
				Message: "must be owner, admin, member or viewer"})
		}
	}
	if use.Roles == nil {
		use.Roles = []string{}
	}
	if use.UserIDs == nil {
		use.UserIDs = []uuid.UUID{}
	}
	var out Integration
	err := is.s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		for i, u := range use.UserIDs {
			if _, err := q.MembershipGet(ctx, db.MembershipGetParams{OrganizationID: orgID, UserID: u}); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return fault.Fields("the use policy is not valid", fault.FieldError{Field: fmt.Sprintf("user_ids[%d]", i),
						Message: "is not a member of the organization"})
				}
				return interpret(err, "membership")
			}
		}
		cur, err := q.IntegrationGet(ctx, db.IntegrationGetParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "integration")
		}
		row, err := q.IntegrationSetUse(ctx, db.IntegrationSetUseParams{ID: id, OrganizationID: orgID,
			UseRestricted: use.Restricted, UseRoles: use.Roles, UseUserIds: use.UserIDs})
		if err != nil {
			return interpret(err, "integration")
		}
		out = integrationFromRow(db.IntegrationGetRow(row))
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "integration.use_changed",
			TargetType: "integration", TargetID: id.String(), Before: map[string]any{"use": integrationFromRow(cur).Use},
			After: map[string]any{"use": out.Use}})
	})
	return out, err
}

// SetPrivilegedRole lets a PostgreSQL integration of any organization connect with a privileged role, or stops
// it. Only instance administrators may call it: the role reaches the database server's files and programs.
func (is *IntegrationStore) SetPrivilegedRole(ctx context.Context, id uuid.UUID, allowed bool, by Actor) (Integration, error) {
	var out Integration
	err := is.s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.IntegrationSetPrivilegedRole(ctx, db.IntegrationSetPrivilegedRoleParams{ID: id, AllowPrivilegedRole: allowed})
		if err != nil {
			return interpret(err, "integration")
		}
		out = integrationFromRow(db.IntegrationGetRow(row))
		if out.Kind != actions.KindPostgres {
			return fault.New(fault.Invalid, "only PostgreSQL integrations connect with a database role")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &out.OrganizationID, Action: "integration.privileged_role_changed",
			TargetType: "integration", TargetID: id.String(), After: map[string]any{"allow_privileged_role": allowed}})
	})
	return out, err
}

// VersionAuthor returns who saved a workflow version and their current role in the organization ("" when they
// are no longer a member, uuid.Nil when the author is unknown or deleted).
func (is *IntegrationStore) VersionAuthor(ctx context.Context, orgID, versionID uuid.UUID) (uuid.UUID, string, error) {
	row, err := is.s.q.IntegrationVersionAuthor(ctx, db.IntegrationVersionAuthorParams{ID: versionID, OrganizationID: orgID})
	if err != nil {
		return uuid.Nil, "", interpret(err, "workflow version")
	}
	var author uuid.UUID
	if row.AuthorID != nil {
		author = *row.AuthorID
	}
	role := ""
	if row.Role != nil {
		role = *row.Role
	}
	return author, role, nil
}

// Secrets returns an integration's decrypted secrets as one JSON object. Only the runtime and the "test
// connection" action may call it: nothing it returns is ever rendered.
func (is *IntegrationStore) Secrets(ctx context.Context, orgID, id uuid.UUID) (json.RawMessage, error) {
	row, err := is.s.q.IntegrationGetSealed(ctx, db.IntegrationGetSealedParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return nil, interpret(err, "integration")
	}
	m, err := is.open(row.OrganizationID, row.ID, row.SecretCiphertext)
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// IntegrationForRun implements actions.IntegrationSource: the integration's config and decrypted secrets merged
// into one settings object, with its rate limit.
func (is *IntegrationStore) IntegrationForRun(ctx context.Context, orgID, id uuid.UUID) (engine.Integration, error) {
	row, err := is.s.q.IntegrationGetSealed(ctx, db.IntegrationGetSealedParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return engine.Integration{}, interpret(err, "integration")
	}
	settings, err := jsonObject(row.Config, "config")
	if err != nil {
		return engine.Integration{}, err
	}
	secretMap, err := is.open(row.OrganizationID, row.ID, row.SecretCiphertext)
	if err != nil {
		return engine.Integration{}, err
	}
	for k, v := range secretMap {
		settings[k] = v
	}
	merged, err := json.Marshal(settings)
	if err != nil {
		return engine.Integration{}, err
	}
	out := engine.Integration{ID: row.ID.String(), Kind: row.Kind, Name: row.Name, Settings: merged,
		AllowPrivilegedRole: row.AllowPrivilegedRole}
	if row.RateLimit != nil {
		out.RateLimit = int(*row.RateLimit)
		out.RateInterval = time.Duration(row.RateIntervalMs) * time.Millisecond
	}
	return out, nil
}

// checkAndSeal validates an integration's settings as a whole and seals its secrets, bound to the integration.
func (is *IntegrationStore) checkAndSeal(orgID, id uuid.UUID, kind string, config json.RawMessage,
	secretMap map[string]json.RawMessage, rateLimit int, rateInterval time.Duration) ([]byte, error) {
	configMap, err := jsonObject(config, "config")
	if err != nil {
		return nil, err
	}
	if config == nil {
		return nil, fault.Fields("the integration is not valid", fault.FieldError{Field: "config", Message: "is required"})
	}
	merged := make(map[string]json.RawMessage, len(configMap)+len(secretMap))
	for k, v := range configMap {
		if secretMap[k] != nil {
			return nil, fault.Fields("the integration is not valid",
				fault.FieldError{Field: "config." + k, Message: "is a secret and belongs with the secrets"})
		}
		merged[k] = v
	}
	for k, v := range secretMap {
		merged[k] = v
	}
	all, _ := json.Marshal(merged)
	if err := actions.ValidateIntegration(kind, all); err != nil {
		return nil, err
	}
	switch {
	case rateLimit < 0:
		return nil, fault.Fields("the rate limit is not valid", fault.FieldError{Field: "rate_limit", Message: "must be positive"})
	case rateLimit > 0 && (rateInterval < time.Second || rateInterval > maxRateInterval):
		return nil, fault.Fields("the rate limit is not valid",
			fault.FieldError{Field: "rate_interval", Message: "must be between one second and 31 days"})
	}
	if len(secretMap) == 0 {
		return nil, nil
	}
	plain, _ := json.Marshal(secretMap)
	return is.keys.Seal(plain, secretsAAD(orgID, id))
}

// open decrypts an integration's secrets; an integration without secrets has an empty map.
func (is *IntegrationStore) open(orgID, id uuid.UUID, sealed []byte) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	if len(sealed) == 0 {
		return out, nil
	}
	plain, err := is.keys.Open(sealed, secretsAAD(orgID, id))
	if err != nil {
		if errors.Is(err, secrets.ErrUnknownKey) {
			return nil, fault.Wrap(err, fault.Unavailable,
				"the integration's secrets were sealed under another SECRET_KEY; set SECRET_KEY_PREVIOUS or enter them again")
		}
		return nil, fmt.Errorf("integration %s secrets: %w", id, err)
	}
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("integration %s secrets: %w", id, err)
	}
	return out, nil
}

// secretsAAD binds sealed secrets to their integration and organization: copied to another row, they do not open.
func secretsAAD(orgID, id uuid.UUID) []byte {
	return []byte("integration/" + orgID.String() + "/" + id.String())
}

// jsonObject decodes an optional JSON object; nil or "null" is an empty one.
func jsonObject(raw json.RawMessage, field string) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fault.Fields("the integration is not valid", fault.FieldError{Field: field, Message: "must be a JSON object"})
	}
	return m, nil
}

func rateParams(limit int, interval time.Duration) (*int32, *float64) {
	if limit <= 0 {
		return nil, nil
	}
	l := int32(limit)
	ms := float64(interval.Milliseconds())
	return &l, &ms
}

func integrationFromRow(r db.IntegrationGetRow) Integration {
	out := Integration{ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, Kind: r.Kind, Config: r.Config,
		HasSecrets: r.HasSecrets, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Use:                 IntegrationUse{Restricted: r.UseRestricted, Roles: r.UseRoles, UserIDs: r.UseUserIds},
		AllowPrivilegedRole: r.AllowPrivilegedRole}
	if out.Use.Roles == nil {
		out.Use.Roles = []string{}
	}
	if out.Use.UserIDs == nil {
		out.Use.UserIDs = []uuid.UUID{}
	}
	if r.RateLimit != nil {
		out.RateLimit = int(*r.RateLimit)
		out.RateInterval = time.Duration(r.RateIntervalMs) * time.Millisecond
	}
	return out
}

// integrationSummary is what the audit log keeps of an integration: never a secret.
func integrationSummary(i Integration) map[string]any {
	return map[string]any{"name": i.Name, "kind": i.Kind, "config": i.Config, "rate_limit": i.RateLimit,
		"rate_interval": i.RateInterval.String()}
}

// IntegrationRateLimiter is a ratelimit.Limiter over PostgreSQL for integrations' rate limits, for when REDIS_URL
// is not set: one counter row per integration and window, taken by an atomic upsert, so every worker of every
// process shares it. Windows are aligned on the database's clock, so workers whose clocks disagree still agree on
// them. It counts only keys made by actions.IntegrationRateKey (its rows belong to their integration and go with
// it); any other key is an error.
type IntegrationRateLimiter struct{ s *Store }

var _ ratelimit.Limiter = (*IntegrationRateLimiter)(nil)

// IntegrationRateLimiter returns the PostgreSQL rate limiter over s.
func (s *Store) IntegrationRateLimiter() *IntegrationRateLimiter {
	return &IntegrationRateLimiter{s: s}
}

// integrationOfKey returns the integration a rate-limit key counts for.
func integrationOfKey(key string) (uuid.UUID, error) {
	raw, ok := actions.IntegrationOfRateKey(key)
	if !ok {
		return uuid.Nil, fmt.Errorf("rate limit: %q is not an integration's key", key)
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, fmt.Errorf("rate limit: %q is not an integration's key", key)
	}
	return id, nil
}

// Allow implements ratelimit.Limiter. A refused request is not counted: the upsert does not pass the limit.
func (l *IntegrationRateLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if limit <= 0 || window <= 0 {
		return true, 0, nil
	}
	integrationID, err := integrationOfKey(key)
	if err != nil {
		return false, 0, err
	}
	row, err := l.s.q.IntegrationRateTake(ctx, db.IntegrationRateTakeParams{IntegrationID: integrationID,
		WindowMs: float64(window.Milliseconds()), MaxRequests: int32(limit)})
	if errors.Is(err, pgx.ErrNoRows) {
		age, err := l.s.q.IntegrationRateWindowAge(ctx, float64(window.Milliseconds()))
		if err != nil {
			return false, 0, interpret(err, "rate limit")
		}
		return false, max(window-time.Duration(age)*time.Millisecond, time.Millisecond), nil
	}
	if err != nil {
		return false, 0, interpret(err, "rate limit")
	}
	if row.Used == 1 {
		// The first request of a window: the past windows of this integration will not be counted again.
		if err := l.s.q.IntegrationRateForget(ctx, db.IntegrationRateForgetParams{IntegrationID: integrationID,
			Before: row.WindowStart}); err != nil {
			return true, 0, interpret(err, "rate limit")
		}
	}
	return true, 0, nil
}

// Refund implements ratelimit.Limiter: one request fewer in the integration's latest window. Past windows are
// deleted when a new one starts, so the latest is the current one, or one that has ended and counts no more.
func (l *IntegrationRateLimiter) Refund(ctx context.Context, key string) error {
	integrationID, err := integrationOfKey(key)
	if err != nil {
		return err
	}
	return interpret(l.s.q.IntegrationRateRefund(ctx, integrationID), "rate limit")
}

// IntegrationTestResult is the outcome of an integration's latest connection test.
type IntegrationTestResult struct {
	At time.Time
	// Problem is what the test found wrong, "" when it connected.
	Problem string
}

// RecordTest keeps the outcome of a connection test of one of org's integrations. It is not audited: a
// test changes nothing of the integration.
func (is *IntegrationStore) RecordTest(ctx context.Context, orgID, id uuid.UUID, res IntegrationTestResult) error {
	err := is.s.q.IntegrationRecordTest(ctx, db.IntegrationRecordTestParams{TestedAt: &res.At, Problem: &res.Problem,
		ID: id, OrganizationID: orgID})
	return interpret(err, "integration")
}

// TestResults returns the latest connection test of each of org's integrations that was tested.
func (is *IntegrationStore) TestResults(ctx context.Context, orgID uuid.UUID) (map[uuid.UUID]IntegrationTestResult, error) {
	rows, err := is.s.q.IntegrationTestResults(ctx, orgID)
	if err != nil {
		return nil, interpret(err, "integrations")
	}
	out := make(map[uuid.UUID]IntegrationTestResult, len(rows))
	for _, r := range rows {
		out[r.ID] = IntegrationTestResult{At: r.TestedAt, Problem: r.Problem}
	}
	return out, nil
}
