package actions

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/storage"
)

// ServicesConfig is what NewServicesFactory builds the action nodes' services from.
type ServicesConfig struct {
	// Integrations resolves integrations with their secrets: store.NewIntegrationStore(st, keyring).
	Integrations IntegrationSource
	// Records writes e-mail deliveries and exported files' rows: the *store.Store.
	Records RunRecords
	// Files is the storage backend (storage.NewLocal under DATA_DIR).
	Files storage.Backend
	// RateLimiter counts integrations' requests in windows every worker shares: Redis when REDIS_URL is set
	// (falling back to PostgreSQL while it is down), else st.IntegrationRateLimiter() (PostgreSQL). Required.
	RateLimiter ratelimit.Limiter
	// Redis, when set (REDIS_URL), holds the HTTP response cache, shared by every worker; otherwise each process
	// keeps its own in memory.
	Redis redis.UniversalClient
	// RedisHealth, when set with Redis, says whether Redis answers (failover.Redis): while it does not, the
	// response cache is off (every call goes out) instead of each call waiting for Redis to fail.
	RedisHealth RedisHealth
	// OutboundAllowedHosts are internal hosts the nodes may reach (OUTBOUND_ALLOWED_HOSTS); see NewGuard.
	OutboundAllowedHosts []string
	// FileRetention is how long exported files are kept when a node does not say (FILE_RETENTION, default 7
	// days).
	FileRetention time.Duration
	// RateLimitWait is how long a node waits in place for its integration's next window before leaving the wait
	// to the engine's retry (default DefaultRateLimitWait).
	RateLimitWait time.Duration
	// SMTPTLSConfig, when set, is the base TLS configuration for SMTP (tests trust their own CA).
	SMTPTLSConfig *tls.Config
	// MayUse, when set, is asked before a node of an execution uses an integration: whether the author of the
	// workflow version the execution runs may (still) use it. A fault.Forbidden error fails the node at once.
	// app.IntegrationUseChecker is the one implementation, so saving and running apply one rule.
	MayUse func(ctx context.Context, orgID, versionID, integrationID uuid.UUID) error
	Logger *slog.Logger
	// AfterSMTPAccept, when set, is called after an SMTP server accepted a message (its 250) and before the
	// delivery is recorded sent: the one moment a crash leaves a delivered message unrecorded. Tests stop the
	// process there; production leaves it nil.
	AfterSMTPAccept func(deliveryID uuid.UUID)
	// Clock times rate-limit waits and the in-process response cache's expiries; the real clock when nil.
	Clock clockwork.Clock
	// WrapTransport, when set, wraps the HTTP node's transport (after the guard's dialer): tracing adds the
	// traceparent of the node's span to each call.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// DefaultFileRetention is how long exported files are kept by default.
const DefaultFileRetention = 7 * 24 * time.Hour

// ServicesFactory builds the engine.Services of each execution. It holds what is shared across executions: the
// guarded HTTP client, the response cache, the rate gate and the PostgreSQL connection pools of database
// integrations.
type ServicesFactory struct {
	cfg   ServicesConfig
	guard *Guard
	http  *http.Client
	cache engine.ResponseCache
	gate  *RateGate
	pools *poolCache
}

// NewServicesFactory checks cfg and returns a factory. Close it on shutdown: it owns connection pools.
func NewServicesFactory(cfg ServicesConfig) (*ServicesFactory, error) {
	if cfg.Integrations == nil || cfg.Records == nil || cfg.Files == nil || cfg.RateLimiter == nil {
		return nil, errors.New("actions: Integrations, Records, Files and RateLimiter are required")
	}
	if c, ok := cfg.Redis.(*redis.Client); ok && c == nil {
		cfg.Redis = nil // a nil *redis.Client in the interface means "no Redis", not a client to call
	}
	guard, err := NewGuard(cfg.OutboundAllowedHosts)
	if err != nil {
		return nil, fmt.Errorf("OUTBOUND_ALLOWED_HOSTS: %w", err)
	}
	if cfg.FileRetention <= 0 {
		cfg.FileRetention = DefaultFileRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	f := &ServicesFactory{cfg: cfg, guard: guard, http: newGuardedHTTPClient(guard, GuardOptions{}),
		gate: NewRateGate(cfg.RateLimiter, cfg.RateLimitWait, cfg.Clock), pools: newPoolCache(guard)}
	if cfg.WrapTransport != nil {
		f.http.Transport = cfg.WrapTransport(f.http.Transport)
	}
	if cfg.Redis != nil {
		f.cache = &RedisResponseCache{client: cfg.Redis, prefix: redisCachePrefix, health: cfg.RedisHealth}
	} else {
		f.cache = NewMemoryResponseCacheClock(0, cfg.Clock)
	}
	return f, nil
}

// ForExecution returns the services of one execution, for queue.WorkerOptions.Services. Everything in them is
// narrowed to the execution's organization.
func (f *ServicesFactory) ForExecution(_ context.Context, e queue.Execution) *engine.Services {
	return f.services(&executionRuntime{f: f, orgID: e.OrganizationID, workflowID: e.WorkflowID, executionID: e.ID,
		versionID: e.WorkflowVersionID})
}

// Services returns the services of one execution of a workflow in an organization, with no version to check
// integration use against (ForExecution checks it). The Logger is left nil so the worker's, which carries the
// execution id, is used.
func (f *ServicesFactory) Services(orgID, workflowID, executionID uuid.UUID) *engine.Services {
	return f.services(&executionRuntime{f: f, orgID: orgID, workflowID: workflowID, executionID: executionID})
}

func (f *ServicesFactory) services(rt *executionRuntime) *engine.Services {
	return &engine.Services{HTTP: f.http, Mailer: rt, Storage: rt, Integrations: rt, RateLimiter: f.gate,
		ResponseCache: orgCache{cache: f.cache, org: rt.orgID.String()}, Databases: rt}
}

// Close closes the connection pools of database integrations.
func (f *ServicesFactory) Close() { f.pools.close() }

// executionRuntime is one execution's view of the platform. It implements engine.Integrations, engine.Mailer,
// engine.Storage and engine.Databases, all scoped to its organization.
type executionRuntime struct {
	f                              *ServicesFactory
	orgID, workflowID, executionID uuid.UUID
	// versionID is the workflow version run, whose author's right to use each integration is checked.
	versionID uuid.UUID
}

// Integration implements engine.Integrations: an integration of the execution's organization that the version's
// author may use. An id that is not a UUID is reported like a missing integration.
func (rt *executionRuntime) Integration(ctx context.Context, id string) (engine.Integration, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return engine.Integration{}, fault.New(fault.NotFound, "integration not found")
	}
	in, err := rt.f.cfg.Integrations.IntegrationForRun(ctx, rt.orgID, uid)
	if err != nil {
		return in, err
	}
	if rt.f.cfg.MayUse != nil && rt.versionID != uuid.Nil {
		if err := rt.f.cfg.MayUse(ctx, rt.orgID, rt.versionID, uid); err != nil {
			return engine.Integration{}, err
		}
	}
	return in, nil
}

// Put implements engine.Storage: the file is stored and recorded as an export of the execution, kept for
// f.Retention (0: FILE_RETENTION; negative: for ever). A file whose row cannot be written is deleted again, so
// storage holds nothing the database does not know.
func (rt *executionRuntime) Put(ctx context.Context, f engine.NewFile, r io.Reader) (engine.File, error) {
	obj, err := rt.f.cfg.Files.PutObject(ctx, f.Name, f.ContentType, r)
	if err != nil {
		return engine.File{}, err
	}
	rec := ExportedFile{OrganizationID: rt.orgID, StorageKey: obj.Key, Filename: f.Name, ContentType: f.ContentType,
		Size: obj.Size, SHA256: obj.SHA256}
	if rt.workflowID != uuid.Nil {
		rec.WorkflowID = &rt.workflowID
	}
	if rt.executionID != uuid.Nil {
		rec.ExecutionID = &rt.executionID
	}
	retention := f.Retention
	if retention == 0 {
		retention = rt.f.cfg.FileRetention
	}
	out := engine.File{Ref: obj.Key, Filename: f.Name, ContentType: f.ContentType, Size: obj.Size}
	if retention > 0 {
		out.ExpiresAt = time.Now().Add(retention).UTC().Truncate(time.Second)
		rec.ExpiresAt = &out.ExpiresAt
	}
	id, err := rt.f.cfg.Records.ExportCreate(ctx, rec)
	if err != nil {
		_ = rt.f.cfg.Files.Delete(context.WithoutCancel(ctx), obj.Key)
		return engine.File{}, err
	}
	out.ID = id.String()
	return out, nil
}

// Open implements engine.Storage for files of the execution's organization only: a reference taken from another
// tenant (or made up) is not found.
func (rt *executionRuntime) Open(ctx context.Context, ref string) (engine.File, io.ReadCloser, error) {
	if !storage.ValidKey(ref) {
		return engine.File{}, nil, storage.ErrNotFound
	}
	meta, err := rt.f.cfg.Records.FileByStorageKey(ctx, rt.orgID, ref)
	if err != nil {
		return engine.File{}, nil, err
	}
	rc, err := rt.f.cfg.Files.Open(ctx, ref)
	if err != nil {
		return engine.File{}, nil, err
	}
	return engine.File{Ref: meta.StorageKey, ID: meta.ID.String(), Filename: meta.Filename, ContentType: meta.ContentType,
		Size: meta.Size}, rc, nil
}

// OpenRange implements engine.Storage, for files of the execution's organization only, as Open does.
func (rt *executionRuntime) OpenRange(ctx context.Context, ref string, offset, length int64) (io.ReadCloser, error) {
	if !storage.ValidKey(ref) || offset < 0 {
		return nil, storage.ErrNotFound
	}
	if _, err := rt.f.cfg.Records.FileByStorageKey(ctx, rt.orgID, ref); err != nil {
		return nil, err
	}
	return rt.f.cfg.Files.OpenRange(ctx, ref, offset, length)
}

// resolveIntegration resolves an integration for a node through the services, checking its kind. Errors a retry cannot
// fix (missing, of another kind, not allowed) are permanent.
func resolveIntegration(ctx context.Context, svc *engine.Services, id, kind string) (engine.Integration, error) {
	if svc == nil || svc.Integrations == nil {
		return engine.Integration{}, engine.Permanent(errors.New("integrations are not available to this execution"))
	}
	in, err := svc.Integrations.Integration(ctx, id)
	if err != nil {
		switch fault.CodeOf(err) {
		case fault.NotFound, fault.Invalid, fault.Forbidden:
			return engine.Integration{}, engine.Permanent(fmt.Errorf("integration %s: %w", id, err))
		}
		return engine.Integration{}, fmt.Errorf("integration %s: %w", id, err)
	}
	if in.Kind != kind {
		return engine.Integration{}, engine.Permanent(fmt.Errorf("integration %s is a %s integration, not %s", id, in.Kind, kind))
	}
	return in, nil
}
