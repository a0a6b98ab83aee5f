package actions

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/engine"
)

// Bounds of action.database.
const (
	DefaultDatabaseTimeout = 30 * time.Second
	MaxDatabaseTimeout     = 5 * time.Minute
	DefaultMaxRows         = 1000
	MaxMaxRows             = 100_000
	maxQueryBytes          = 100_000
	maxParams              = 100
)

// Database modes.
const (
	ModeRead  = "read"
	ModeWrite = "write"
)

// DatabaseConfig is the config of action.database.
type DatabaseConfig struct {
	IntegrationID string `json:"integration_id"`
	// Query is SQL with $1, $2 … placeholders; it is never a template, so data can only ever be a parameter.
	Query string `json:"query"`
	// Params are templates: one that is exactly {{ expression }} keeps its value's type (number, boolean, null,
	// array, object as JSON).
	Params []string `json:"params,omitempty"`
	// Mode is read (the default: a read-only transaction) or write (only when the integration allows writes).
	Mode    string `json:"mode,omitempty"`
	MaxRows int    `json:"max_rows,omitempty"`
	Timeout string `json:"timeout,omitempty"`
	// IdempotencyKey binds the node run's idempotency key (engine.Input.IdempotencyKey) as the parameter after the
	// last of Params, for the author's upsert: a statement run again for the same run (a resume after its record
	// was lost) then finds the row it wrote.
	IdempotencyKey bool `json:"idempotency_key,omitempty"`
}

const databaseSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "integration_id": {"title": "Database", "type": "string", "format": "uuid",
      "description": "A PostgreSQL integration."},
    "query": {"title": "SQL", "type": "string", "minLength": 1, "maxLength": 100000,
      "description": "One statement with $1, $2 … placeholders for the parameters. Values are bound, never spliced into the SQL."},
    "params": {"title": "Parameters", "type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 65536, "x-expression": "template"},
      "description": "Templates giving $1, $2 …; {{ input.id }} keeps its type."},
    "mode": {"title": "Mode", "enum": ["read", "write"], "default": "read",
      "description": "read runs in a read-only transaction; write needs an integration that allows writes."},
    "max_rows": {"title": "Maximum rows", "type": "integer", "minimum": 1, "maximum": 100000, "default": 1000},
    "timeout": {"title": "Statement timeout", "type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$", "default": "30s"},
    "idempotency_key": {"title": "Bind the idempotency key", "type": "boolean", "default": false,
      "description": "Binds this run's idempotency key (a UUID, the same for every attempt and resume of the run) as the parameter after the last of params, for an upsert that must not write twice."}
  },
  "required": ["integration_id", "query"],
  "additionalProperties": false
}`

// DatabaseAction runs one parameterized SQL statement against a PostgreSQL integration.
func DatabaseAction() engine.NodeType {
	return engine.NodeType{
		Name:         "action.database",
		Category:     engine.CategoryAction,
		Title:        "Database query",
		Description:  "Runs one parameterized SQL statement on a PostgreSQL integration, read-only unless the integration allows writes. Outputs the rows as objects.",
		ConfigSchema: json.RawMessage(databaseSchema),
		SideEffects:  true,
		Example: json.RawMessage(`{"integration_id": "0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e",
  "query": "SELECT id, email, total FROM orders WHERE customer_id = $1 AND total > $2 ORDER BY id",
  "params": ["{{ input.customer_id }}", "{{ input.min_total }}"], "mode": "read", "max_rows": 100, "timeout": "10s"}`),
		Compile: compileDatabase,
	}
}

type databaseNode struct {
	integrationID  string
	query          string
	params         []*engine.Template
	idempotencyKey bool
	write          bool
	maxRows        int
	timeout        time.Duration
}

func compileDatabase(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[DatabaseConfig](cfg)
	if err != nil {
		return nil, err
	}
	n := &databaseNode{integrationID: conf.IntegrationID, query: conf.Query, write: conf.Mode == ModeWrite,
		maxRows: conf.MaxRows, idempotencyKey: conf.IdempotencyKey}
	if n.idempotencyKey && len(conf.Params) >= maxParams {
		return nil, engine.ConfigError("idempotency_key", fmt.Sprintf("the key would be parameter %d; at most %d are allowed",
			len(conf.Params)+1, maxParams))
	}
	if n.maxRows == 0 {
		n.maxRows = DefaultMaxRows
	}
	if n.timeout, err = parseDurationField("timeout", conf.Timeout, DefaultDatabaseTimeout, MaxDatabaseTimeout); err != nil {
		return nil, err
	}
	if n.timeout < time.Millisecond {
		return nil, engine.ConfigError("timeout", "must be at least 1ms")
	}
	if strings.Contains(conf.Query, "{{") {
		return nil, engine.ConfigError("query", "the SQL cannot hold {{ }} templates: pass values as params and use $1, $2 … in the SQL")
	}
	for i, p := range conf.Params {
		t, err := c.Template(fmt.Sprintf("params[%d]", i), p)
		if err != nil {
			return nil, err
		}
		n.params = append(n.params, t)
	}
	return n, nil
}

// Run runs the statement through the services' Databases: in a transaction of its own, read-only unless writing
// is both asked for and allowed, with the statement timeout set for it alone. Outputs {rows, row_count, truncated,
// command, rows_affected}.
func (n *databaseNode) Run(ctx context.Context, in engine.Input) (out engine.Output, err error) {
	var red Redactor
	defer func() { out, err = red.Result(out, err) }()
	svc := in.Services
	if svc == nil || svc.Databases == nil {
		return engine.Output{}, engine.Permanent(errors.New("database connections are not available to this execution"))
	}
	integration, err := resolveIntegration(ctx, svc, n.integrationID, KindPostgres)
	if err != nil {
		return engine.Output{}, err
	}
	red.addIntegration(KindPostgres, integration.Settings)
	settings, err := ParsePostgresSettings(integration.Settings)
	if err != nil {
		return engine.Output{}, engine.Permanent(fmt.Errorf("integration %s: %w", n.integrationID, err))
	}
	if n.write && !settings.AllowWrites {
		return engine.Output{}, engine.Permanent(fmt.Errorf("integration %s does not allow writes; set allow_writes on it or use read mode", n.integrationID))
	}
	vars := in.Vars()
	args := make([]any, len(n.params))
	for i, t := range n.params {
		v, err := t.Value(ctx, vars)
		if err != nil {
			return engine.Output{}, err
		}
		args[i] = sqlParam(v)
	}
	if n.idempotencyKey {
		args = append(args, in.IdempotencyKey())
	}
	res, err := svc.Databases.Query(ctx, integration, engine.DatabaseQuery{SQL: n.query, Args: args, Write: n.write,
		Timeout: n.timeout, MaxRows: n.maxRows})
	if err != nil {
		return engine.Output{}, err
	}
	rows := make([]any, len(res.Rows))
	for i, r := range res.Rows {
		rows[i] = r
	}
	data := map[string]any{"rows": rows, "row_count": len(rows), "truncated": res.Truncated}
	if !res.Truncated {
		data["command"] = res.Command
		data["rows_affected"] = res.RowsAffected
	}
	return engine.Output{Data: data}, nil
}

// Query implements engine.Databases on the factory's pool for the integration (one per integration and settings,
// shared by the process's executions), with the statement timeout set for the transaction alone (SET LOCAL).
func (rt *executionRuntime) Query(ctx context.Context, in engine.Integration, q engine.DatabaseQuery) (engine.DatabaseResult, error) {
	settings, err := ParsePostgresSettings(in.Settings)
	if err != nil {
		return engine.DatabaseResult{}, engine.Permanent(fmt.Errorf("integration %s: %w", in.ID, err))
	}
	pool, done, err := rt.f.pools.acquire(ctx, rt.orgID.String()+"/"+in.ID, in, settings)
	if err != nil {
		return engine.DatabaseResult{}, err
	}
	defer done()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return engine.DatabaseResult{}, databaseError(err)
	}
	defer conn.Release()

	ctx, cancel := context.WithTimeout(ctx, q.Timeout+5*time.Second) // the server's timeout fires first
	defer cancel()
	mode := pgx.ReadOnly
	if q.Write {
		mode = pgx.ReadWrite
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: mode})
	if err != nil {
		return engine.DatabaseResult{}, databaseError(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = "+strconv.FormatInt(q.Timeout.Milliseconds(), 10)); err != nil {
		return engine.DatabaseResult{}, databaseError(err)
	}
	res, err := query(ctx, tx, q)
	if err != nil {
		return engine.DatabaseResult{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return engine.DatabaseResult{}, databaseError(err)
	}
	return res, nil
}

// query runs the statement and reads up to q.MaxRows rows as JSON-shaped objects.
func query(ctx context.Context, tx pgx.Tx, q engine.DatabaseQuery) (engine.DatabaseResult, error) {
	rows, err := tx.Query(ctx, q.SQL, q.Args...)
	if err != nil {
		return engine.DatabaseResult{}, databaseError(err)
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	res := engine.DatabaseResult{Rows: []map[string]any{}}
	for rows.Next() {
		if len(res.Rows) == q.MaxRows {
			res.Truncated = true
			break
		}
		values, err := rows.Values()
		if err != nil {
			return engine.DatabaseResult{}, databaseError(err)
		}
		row := make(map[string]any, len(values))
		for i, v := range values {
			row[names[i]] = jsonValue(v)
		}
		res.Rows = append(res.Rows, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return engine.DatabaseResult{}, databaseError(err)
	}
	if !res.Truncated {
		tag := rows.CommandTag()
		res.Command, res.RowsAffected = tag.String(), tag.RowsAffected()
	}
	return res, nil
}

// PrivilegedRoleError is the refusal of a database integration whose role is a superuser or may reach the
// server's files or programs (COPY … TO PROGRAM runs a shell command as the server, even in a read-only
// transaction). Permanent: an administrator must change the role, or an instance administrator allow it.
type PrivilegedRoleError struct {
	Integration string
	Role        string
	Reasons     []string
}

func (e *PrivilegedRoleError) Error() string {
	return fmt.Sprintf("integration %q connects as role %s, which is %s; connect with a role without these "+
		"privileges, or have an instance administrator allow a privileged role for this integration",
		e.Integration, e.Role, strings.Join(e.Reasons, " and "))
}

// privilegedRoleQuery lists what makes the connected role privileged. MEMBER membership counts whether or not it
// is inherited, because a member can SET ROLE to the privileged role inside the one statement a node runs.
const privilegedRoleQuery = `SELECT current_user::text,
    EXISTS (SELECT 1 FROM pg_roles s WHERE s.rolsuper AND pg_has_role(current_user, s.oid, 'MEMBER')),
    coalesce(array_agg(r.rolname::text ORDER BY r.rolname) FILTER (WHERE pg_has_role(current_user, r.oid, 'MEMBER')), '{}')
FROM pg_roles r
WHERE r.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program')`

// checkDatabaseRole refuses a connection whose role is privileged (see PrivilegedRoleError) unless allowed. It
// runs on every new connection, so a role made superuser later is refused from its next connection on.
func checkDatabaseRole(ctx context.Context, conn interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, integration string, allowed bool) error {
	if allowed {
		return nil
	}
	var role string
	var super bool
	var members []string
	if err := conn.QueryRow(ctx, privilegedRoleQuery).Scan(&role, &super, &members); err != nil {
		return fmt.Errorf("checking the role's privileges: %w", err)
	}
	var reasons []string
	if super {
		reasons = append(reasons, "a superuser (or may become one)")
	}
	if len(members) > 0 {
		reasons = append(reasons, "a member of "+strings.Join(members, ", "))
	}
	if len(reasons) == 0 {
		return nil
	}
	return &PrivilegedRoleError{Integration: integration, Role: role, Reasons: reasons}
}

// postgresConnConfig is the connection of a PostgreSQL integration: dialed through the guard, with host names
// resolved by the guard's dialer itself (pgx would otherwise resolve them first and dial bare addresses, which
// an allowed host name could no longer match).
func postgresConnConfig(s PostgresSettings, g *Guard) *pgx.ConnConfig {
	dsn := fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=%s connect_timeout=10 application_name=concertmaster",
		quoteDSN(s.Host), s.Port, quoteDSN(s.Database), quoteDSN(s.User), s.SSLMode)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The settings were validated; a DSN that does not parse is a bug, reported at connect time.
		cfg, _ = pgx.ParseConfig("")
	}
	cfg.Password = s.Password
	cfg.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	cfg.DialFunc = g.DialContext
	// sslmode is explicit, so there is one attempt; and the password is the integration's alone, never one pgx
	// found in the worker's own environment or .pgpass.
	cfg.Fallbacks = nil
	cfg.RuntimeParams["application_name"] = "concertmaster"
	return cfg
}

// quoteDSN quotes a value for a key=value connection string.
func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// sqlParam adapts a template's value for binding: objects and arrays are bound as JSON text (for json and jsonb
// parameters), whole floats as integers so that an integer column accepts them.
func sqlParam(v any) any {
	switch x := v.(type) {
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	case []any:
		b, _ := json.Marshal(x)
		return string(b)
	case float64:
		if x == float64(int64(x)) && x < 1<<53 && x > -(1<<53) {
			return int64(x)
		}
	}
	return v
}

// jsonValue turns a value pgx decoded into one fit for a node's JSON output.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, bool, string, float64, float32, int, int8, int16, int32, int64, uint32, map[string]any:
		return x
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case [16]byte:
		return uuid.UUID(x).String()
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		if f, err := x.Float64Value(); err == nil && f.Valid {
			if x.Exp >= 0 || new(big.Int).Abs(x.Int).BitLen() < 53 {
				return f.Float64
			}
		}
		b, _ := x.MarshalJSON()
		return json.Number(string(b))
	case netip.Prefix:
		if x.IsSingleIP() {
			return x.Addr().String()
		}
		return x.String()
	case net.HardwareAddr:
		return x.String()
	case pgtype.Interval:
		if !x.Valid {
			return nil
		}
		d := (time.Duration(x.Microseconds)*time.Microsecond + time.Duration(x.Days)*24*time.Hour).String()
		if x.Months != 0 {
			return fmt.Sprintf("%d months %s", x.Months, d)
		}
		return d
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case fmt.Stringer:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return string(b)
	}
	return out
}

// databaseError classifies a database failure. Connection trouble, serialization failures, lack of resources and
// canceled statements (statement_timeout) may pass on a retry; errors in the statement itself (syntax, a
// constraint, writing in a read-only transaction, permissions) are permanent.
func databaseError(err error) error {
	var privileged *PrivilegedRoleError
	if errors.As(err, &privileged) {
		return engine.Permanent(privileged)
	}
	if IsBlocked(err) {
		return engine.Permanent(err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg := fmt.Errorf("database: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
		if pgErr.Code == "57014" {
			msg = fmt.Errorf("database: the statement ran longer than its timeout and was canceled (SQLSTATE 57014)")
		}
		switch pgErr.Code[:2] {
		case "08", "40", "53", "57", "58":
			return msg
		}
		return engine.Permanent(msg)
	}
	return fmt.Errorf("database: %w", err)
}

// pgErrorText is a database error's message for a person.
func pgErrorText(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	return err.Error()
}

// poolCache keeps one connection pool per database integration and process, so each run does not pay for a new
// connection. Pools are keyed by the integration and a digest of its settings (a changed password gets a fresh
// pool); a pool unused for poolIdle is closed, as is the least recently used one past maxPools. Within a pool,
// idle connections close after a minute.
type poolCache struct {
	mu       sync.Mutex
	guard    *Guard
	entries  map[string]*poolEntry
	maxPools int
	idle     time.Duration
	closed   bool
	now      func() time.Time
}

type poolEntry struct {
	pool     *pgxpool.Pool
	users    int
	lastUsed time.Time
}

const (
	defaultMaxPools = 32
	poolIdle        = 5 * time.Minute
)

func newPoolCache(g *Guard) *poolCache {
	return &poolCache{guard: g, entries: map[string]*poolEntry{}, maxPools: defaultMaxPools, idle: poolIdle, now: time.Now}
}

// acquire returns the pool for an integration; call done when finished with it.
func (c *poolCache) acquire(ctx context.Context, integrationKey string, in engine.Integration, s PostgresSettings) (*pgxpool.Pool, func(), error) {
	digest, _ := json.Marshal(struct {
		S          PostgresSettings
		Privileged bool
	}{s, in.AllowPrivilegedRole})
	sum := sha256.Sum256(digest)
	key := integrationKey + "/" + hex.EncodeToString(sum[:8])

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, errors.New("database connections are closed: the worker is stopping")
	}
	stale := c.evictLocked(key)
	e, ok := c.entries[key]
	if !ok {
		cfg, err := pgxpool.ParseConfig("")
		if err != nil {
			c.mu.Unlock()
			return nil, nil, err
		}
		cfg.ConnConfig = postgresConnConfig(s, c.guard)
		label, allowed := in.Label(), in.AllowPrivilegedRole
		cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
			return checkDatabaseRole(ctx, conn, label, allowed)
		}
		cfg.MaxConns = int32(s.MaxConnections)
		cfg.MinConns = 0
		cfg.MaxConnIdleTime = time.Minute
		cfg.MaxConnLifetime = 30 * time.Minute
		cfg.HealthCheckPeriod = 30 * time.Second
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			c.mu.Unlock()
			return nil, nil, databaseError(err)
		}
		e = &poolEntry{pool: pool}
		c.entries[key] = e
	}
	e.users++
	e.lastUsed = c.now()
	c.mu.Unlock()
	for _, p := range stale {
		go p.Close()
	}
	var once sync.Once
	return e.pool, func() {
		once.Do(func() {
			c.mu.Lock()
			e.users--
			e.lastUsed = c.now()
			c.mu.Unlock()
		})
	}, nil
}

// evictLocked removes the pools to close: unused ones idle too long, other pools of the same integration (older
// settings), and the least recently used unused one when the cache is full.
func (c *poolCache) evictLocked(key string) []*pgxpool.Pool {
	var out []*pgxpool.Pool
	prefix := key[:strings.LastIndexByte(key, '/')+1]
	now := c.now()
	for k, e := range c.entries {
		if e.users > 0 || k == key {
			continue
		}
		if now.Sub(e.lastUsed) > c.idle || strings.HasPrefix(k, prefix) {
			out = append(out, e.pool)
			delete(c.entries, k)
		}
	}
	if _, exists := c.entries[key]; !exists && len(c.entries) >= c.maxPools {
		oldest := ""
		for k, e := range c.entries {
			if e.users == 0 && (oldest == "" || e.lastUsed.Before(c.entries[oldest].lastUsed)) {
				oldest = k
			}
		}
		if oldest != "" {
			out = append(out, c.entries[oldest].pool)
			delete(c.entries, oldest)
		}
	}
	return out
}

// close closes every pool; later acquires fail.
func (c *poolCache) close() {
	c.mu.Lock()
	c.closed = true
	entries := c.entries
	c.entries = map[string]*poolEntry{}
	c.mu.Unlock()
	for _, e := range entries {
		e.pool.Close()
	}
}

// size is the number of pools held, for tests.
func (c *poolCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
