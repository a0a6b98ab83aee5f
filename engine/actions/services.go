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
	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
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
	// RateLimiter shares integration rate limits between workers: st.IntegrationRateLimiter(). When Redis is
	// set, a RedisRateLimiter is used instead and this may be nil.
	RateLimiter RateLimiter
	// Redis, when set (REDIS_URL), holds the rate-limit counters and the HTTP response cache; otherwise they live
	// in PostgreSQL and in process memory.
	Redis redis.UniversalClient
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
	// handlers.IntegrationUseChecker is the one implementation, so saving and running apply one rule.
	MayUse func(ctx context.Context, orgID, versionID, integrationID uuid.UUID) error
	Logger *slog.Logger
}

// DefaultFileRetention is how long exported files are kept by default.
const DefaultFileRetention = 7 * 24 * time.Hour

// ServicesFactory builds the engine.Services of each execution. It holds what is shared across executions: the
// guarded HTTP client, the response cache, the rate limiter and the PostgreSQL connection pools of database
// integrations.
type ServicesFactory struct {
	cfg   ServicesConfig
	guard *Guard
	http  *http.Client
	cache ResponseCache
	gate  *rateGate
	pools *poolCache
}

// NewServicesFactory checks cfg and returns a factory. Close it on shutdown: it owns connection pools.
func NewServicesFactory(cfg ServicesConfig) (*ServicesFactory, error) {
	if cfg.Integrations == nil || cfg.Records == nil || cfg.Files == nil {
		return nil, errors.New("actions: Integrations, Records and Files are required")
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
	if cfg.RateLimitWait <= 0 {
		cfg.RateLimitWait = DefaultRateLimitWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &ServicesFactory{cfg: cfg, guard: guard, http: newGuardedHTTPClient(guard, GuardOptions{}),
		pools: newPoolCache(guard)}
	limiter := cfg.RateLimiter
	if cfg.Redis != nil {
		limiter = NewRedisRateLimiter(cfg.Redis)
		f.cache = NewRedisResponseCache(cfg.Redis)
	} else {
		f.cache = NewMemoryResponseCache(0)
	}
	if limiter == nil {
		return nil, errors.New("actions: a RateLimiter is required without Redis")
	}
	f.gate = &rateGate{limiter: limiter, maxWait: cfg.RateLimitWait}
	return f, nil
}

// ForExecution returns the services of one execution, for queue.WorkerOptions.Services. Everything in them is
// narrowed to the execution's organization.
func (f *ServicesFactory) ForExecution(_ context.Context, e queue.Execution) *engine.Services {
	rt := &executionRuntime{f: f, orgID: e.OrganizationID, workflowID: e.WorkflowID, executionID: e.ID,
		versionID: e.WorkflowVersionID}
	return &engine.Services{HTTP: f.http, Mailer: rt, Storage: rt, Integrations: rt}
}

// Services returns the services of one execution of a workflow in an organization, with no version to check
// integration use against (ForExecution checks it). The Logger is left nil so the worker's, which carries the
// execution id, is used.
func (f *ServicesFactory) Services(orgID, workflowID, executionID uuid.UUID) *engine.Services {
	rt := &executionRuntime{f: f, orgID: orgID, workflowID: workflowID, executionID: executionID}
	return &engine.Services{HTTP: f.http, Mailer: rt, Storage: rt, Integrations: rt}
}

// Close closes the connection pools of database integrations.
func (f *ServicesFactory) Close() { f.pools.close() }

// executionRuntime is one execution's view of the platform. It implements engine.Integrations, engine.Mailer and
// engine.Storage, all scoped to its organization, plus the extras the action nodes look for.
type executionRuntime struct {
	f                              *ServicesFactory
	orgID, workflowID, executionID uuid.UUID
	// versionID is the workflow version run, whose author's right to use each integration is checked.
	versionID uuid.UUID
}

// Integration implements engine.Integrations.
func (rt *executionRuntime) Integration(ctx context.Context, id string) (engine.Integration, error) {
	ri, err := rt.resolveIntegration(ctx, id)
	return ri.Integration, err
}

// resolveIntegration returns an integration of the execution's organization with its rate limit. An id that is
// not a UUID is reported like a missing integration.
func (rt *executionRuntime) resolveIntegration(ctx context.Context, id string) (ResolvedIntegration, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return ResolvedIntegration{}, fault.New(fault.NotFound, "integration not found")
	}
	in, err := rt.f.cfg.Integrations.IntegrationForRun(ctx, rt.orgID, uid)
	if err != nil {
		return in, err
	}
	if rt.f.cfg.MayUse != nil && rt.versionID != uuid.Nil {
		if err := rt.f.cfg.MayUse(ctx, rt.orgID, rt.versionID, uid); err != nil {
			return ResolvedIntegration{}, err
		}
	}
	return in, nil
}

// waitTurn applies the integration's rate limit.
func (rt *executionRuntime) waitTurn(ctx context.Context, in ResolvedIntegration) error {
	return rt.f.gate.wait(ctx, in)
}

func (rt *executionRuntime) responseCache() (ResponseCache, string) {
	return rt.f.cache, rt.orgID.String()
}

func (rt *executionRuntime) guard() *Guard { return rt.f.guard }

// Put implements engine.Storage: the file is stored and recorded as an export of the execution, kept for the
// default retention.
func (rt *executionRuntime) Put(ctx context.Context, name, contentType string, r io.Reader) (string, error) {
	f, err := rt.export(ctx, name, contentType, 0, r)
	return f.Ref, err
}

// Open implements engine.Storage for files of the execution's organization only: a reference taken from another
// tenant (or made up) is not found.
func (rt *executionRuntime) Open(ctx context.Context, ref string) (io.ReadCloser, error) {
	_, rc, err := rt.openFile(ctx, ref)
	return rc, err
}

func (rt *executionRuntime) openFile(ctx context.Context, ref string) (StoredFile, io.ReadCloser, error) {
	if !storage.ValidKey(ref) {
		return StoredFile{}, nil, storage.ErrNotFound
	}
	meta, err := rt.f.cfg.Records.FileByStorageKey(ctx, rt.orgID, ref)
	if err != nil {
		return StoredFile{}, nil, err
	}
	rc, err := rt.f.cfg.Files.Open(ctx, ref)
	return meta, rc, err
}

// exportedFile is what the file_export node reports of a stored file.
type exportedFile struct {
	UploadID  uuid.UUID
	Ref       string
	Size      int64
	SHA256    []byte
	ExpiresAt *time.Time
}

// export streams r into storage and records it as the execution's file, kept for retention: 0 means the
// platform's default (FILE_RETENTION), a negative one forever. A file whose row cannot be written is deleted
// again, so storage holds nothing the database does not know.
func (rt *executionRuntime) export(ctx context.Context, name, contentType string, retention time.Duration, r io.Reader) (exportedFile, error) {
	obj, err := rt.f.cfg.Files.PutObject(ctx, name, contentType, r)
	if err != nil {
		return exportedFile{}, err
	}
	rec := ExportedFile{OrganizationID: rt.orgID, StorageKey: obj.Key, Filename: name, ContentType: contentType,
		Size: obj.Size, SHA256: obj.SHA256}
	if rt.workflowID != uuid.Nil {
		rec.WorkflowID = &rt.workflowID
	}
	if rt.executionID != uuid.Nil {
		rec.ExecutionID = &rt.executionID
	}
	if retention == 0 {
		retention = rt.f.cfg.FileRetention
	}
	if retention > 0 {
		t := time.Now().Add(retention).UTC().Truncate(time.Second)
		rec.ExpiresAt = &t
	}
	id, err := rt.f.cfg.Records.ExportCreate(ctx, rec)
	if err != nil {
		_ = rt.f.cfg.Files.Delete(context.WithoutCancel(ctx), obj.Key)
		return exportedFile{}, err
	}
	return exportedFile{UploadID: id, Ref: obj.Key, Size: obj.Size, SHA256: obj.SHA256, ExpiresAt: rec.ExpiresAt}, nil
}

// The extras the action nodes look for on engine.Services' fields. Their methods are unexported, so only this
// package's runtime provides them; a caller with plain Services gets the nodes without them (no rate limit, no
// cache, no delivery record, one connection per database run).
type (
	integrationRuntime interface {
		resolveIntegration(ctx context.Context, id string) (ResolvedIntegration, error)
		waitTurn(ctx context.Context, in ResolvedIntegration) error
		guard() *Guard
	}
	cacheRuntime interface {
		responseCache() (ResponseCache, string)
	}
	fileRuntime interface {
		openFile(ctx context.Context, ref string) (StoredFile, io.ReadCloser, error)
		export(ctx context.Context, name, contentType string, retention time.Duration, r io.Reader) (exportedFile, error)
	}
)

// resolveFor resolves an integration for a node, checking its kind; missing ones fail permanently.
func resolveFor(ctx context.Context, svc *engine.Services, id, kind string) (ResolvedIntegration, error) {
	if svc != nil {
		if rt, ok := svc.Integrations.(integrationRuntime); ok {
			ri, err := rt.resolveIntegration(ctx, id)
			if err != nil {
				return ri, classifyIntegrationError(id, err)
			}
			if ri.Kind != kind {
				return ri, engine.Permanent(fmt.Errorf("integration %s is a %s integration, not %s", id, ri.Kind, kind))
			}
			return ri, nil
		}
	}
	in, err := integrationSettings(ctx, svc, id, kind)
	return ResolvedIntegration{Integration: in}, err
}

func classifyIntegrationError(id string, err error) error {
	switch fault.CodeOf(err) {
	case fault.NotFound, fault.Invalid, fault.Forbidden:
		return engine.Permanent(fmt.Errorf("integration %s: %w", id, err))
	}
	return fmt.Errorf("integration %s: %w", id, err)
}

// waitTurn applies an integration's rate limit when the services enforce one.
func waitTurn(ctx context.Context, svc *engine.Services, in ResolvedIntegration) error {
	if svc != nil {
		if rt, ok := svc.Integrations.(integrationRuntime); ok {
			return rt.waitTurn(ctx, in)
		}
	}
	return nil
}

// guardOf returns the services' guard, or one allowing nothing internal.
func guardOf(svc *engine.Services) *Guard {
	if svc != nil {
		if rt, ok := svc.Integrations.(integrationRuntime); ok {
			return rt.guard()
		}
	}
	g, _ := NewGuard(nil)
	return g
}
