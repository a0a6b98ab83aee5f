package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// config is the whole configuration of a process, read only from environment variables. Every variable is in the
// README's configuration table with its default.
type config struct {
	ListenAddr        string
	DatabaseURL       string
	DatabaseMaxConns  int32
	Replica           replicaConfig
	RedisURL          string
	BaseURL           *url.URL
	SecretKey         string
	SecretKeyPrevious string
	// Mode (APP_ENV) sets the feature flags' defaults, the logs' defaults and how strict start-up is.
	Mode              flags.Mode
	LogFormat         string
	LogLevel          slog.Level
	WorkerConcurrency int
	ShutdownTimeout   time.Duration
	ExecutionTimeout  time.Duration
	// WorkerRescueAfter is how long a worker process may go without proving it is alive before its running
	// executions are taken back and resumed by another (store.WorkerLiveness).
	WorkerRescueAfter time.Duration
	// Webhook limits.
	WebhookRateLimit    int
	WebhookMaxBodyBytes int64
	// Action nodes.
	OutboundAllowedHosts []string
	FileRetention        time.Duration
	FileMaxBytes         int64
	// PayloadInlineLimit and NodeOutputMax: PAYLOAD_INLINE_LIMIT, NODE_OUTPUT_MAX (config_payloads.go).
	PayloadInlineLimit, NodeOutputMax int
	DataDir                           string
	// Storage is where files are kept (STORAGE_URL, else DATA_DIR); StorageCreds sign requests to a bucket
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), never read from the URL.
	Storage      storage.Location
	StorageCreds storage.Options
	// Eval bounds author-written code (jq, expressions, templates) and sizes its runner pool.
	Eval sandbox.Options
	// Fairness keeps one organization or one bad execution from starving the others.
	Fairness fairnessConfig
	// NotificationTriggerMaxBytes is how much of a trigger's body a notification carries (0: none).
	NotificationTriggerMaxBytes int
	// Metrics protects /metrics: a Bearer token, a listener of its own.
	Metrics metricsConfig
	// Observe: execution log lines, tracing, statistics.
	Observe observeConfig
	// Retention is how long history is kept (EXECUTION_RETENTION_*, AUDIT_RETENTION, STATS_RETENTION).
	Retention store.HistoryRetention
	// HistoryMaintenanceInterval (HISTORY_MAINTENANCE_INTERVAL) is how often the maintenance job creates the coming
	// partitions and prunes.
	HistoryMaintenanceInterval time.Duration

	// Accounts and the web's security (issue 3).
	SMTPURL            string
	SMTP               *mail.Config
	CORSAllowedOrigins []string
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	SignupEnabled      bool
	TrustedProxies     []netip.Prefix
	APIRateLimit       int
}

// minSecretKeyLength: SECRET_KEY keys encryption at rest and token signing, so it must carry real entropy.
const minSecretKeyLength = 32

// configNeeds says which variables a subcommand cannot run without.
type configNeeds struct {
	secretKey bool
}

// loadConfig reads the configuration from getenv and validates it, naming every bad variable in one error.
func loadConfig(getenv func(string) string, needs configNeeds) (*config, error) {
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}

	cfg := &config{}
	loadCoreConfig(cfg, getenv, get, bad, needs)
	loadProcessConfig(cfg, get, bad)
	loadAccountsConfig(cfg, get, bad)
	loadEvalConfig(cfg, get, bad)
	loadFairnessConfig(cfg, get, bad)
	loadNotificationConfig(cfg, get, bad)
	loadMetricsConfig(cfg, get, bad)
	loadObserveConfig(cfg, get, bad)
	loadRetentionConfig(cfg, get, bad)
	loadTriggerConfig(cfg, get, bad)
	loadPayloadConfig(cfg, get, bad)
	loadReplicaConfig(cfg, get, bad)
	checkProductionSafety(cfg, bad)

	if len(problems) > 0 {
		return nil, errors.New("configuration: " + strings.Join(problems, "; "))
	}
	return cfg, nil
}

// loadCoreConfig reads where the process listens, its database and Redis, its public address and its keys.
func loadCoreConfig(cfg *config, getenv func(string) string, get func(name, def string) string,
	bad func(name, format string, args ...any), needs configNeeds) {
	*cfg = config{
		ListenAddr:  get("LISTEN_ADDR", "127.0.0.1:8080"),
		DatabaseURL: get("DATABASE_URL", ""),
		RedisURL:    get("REDIS_URL", ""),
		SecretKey:   getenv("SECRET_KEY"),
		// The key before the last rotation: secrets sealed with it still open, and are sealed anew when written.
		SecretKeyPrevious: getenv("SECRET_KEY_PREVIOUS"),
		DataDir:           get("DATA_DIR", ".data/files"),
	}

	if _, _, err := net.SplitHostPort(cfg.ListenAddr); err != nil {
		bad("LISTEN_ADDR", "want host:port, got %q", cfg.ListenAddr)
	}
	if cfg.DatabaseURL == "" {
		bad("DATABASE_URL", "is required (postgres://user@host:port/database)")
	} else if u, err := url.Parse(cfg.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL", "want a postgres:// URL")
	}
	if n, err := strconv.Atoi(get("DATABASE_MAX_CONNS", "20")); err != nil || n < 2 || n > 1000 {
		bad("DATABASE_MAX_CONNS", "want a whole number from 2 to 1000")
	} else {
		cfg.DatabaseMaxConns = int32(n)
	}
	if cfg.RedisURL != "" {
		if u, err := url.Parse(cfg.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("REDIS_URL", "want a redis:// or rediss:// URL")
		}
	}
	base := get("BASE_URL", "http://"+cfg.ListenAddr)
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("BASE_URL", "want an absolute http(s) URL, got %q", base)
	} else {
		u.Path = strings.TrimRight(u.Path, "/")
		cfg.BaseURL = u
	}
	if cfg.SecretKeyPrevious != "" && len(cfg.SecretKeyPrevious) < minSecretKeyLength {
		bad("SECRET_KEY_PREVIOUS", "must be at least %d characters, like SECRET_KEY", minSecretKeyLength)
	}
	if needs.secretKey && len(cfg.SecretKey) < minSecretKeyLength {
		bad("SECRET_KEY", "is required and must be at least %d characters (try: openssl rand -hex 32)", minSecretKeyLength)
	}
}

// loadProcessConfig reads the mode (APP_ENV), how the process logs, how much work it takes on, and how long work
// may take.
func loadProcessConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	cfg.Mode = loadMode(get, bad)
	logFormat, logLevel := "json", "info"
	if cfg.Mode == flags.Development {
		logFormat, logLevel = "text", "debug"
	}
	switch cfg.LogFormat = get("LOG_FORMAT", logFormat); cfg.LogFormat {
	case "json", "text":
	default:
		bad("LOG_FORMAT", "want json or text, got %q", cfg.LogFormat)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", logLevel))); err != nil {
		bad("LOG_LEVEL", "want debug, info, warn or error")
	}
	if n, err := strconv.Atoi(get("WORKER_CONCURRENCY", "100")); err != nil || n < 1 || n > 10000 {
		bad("WORKER_CONCURRENCY", "want a whole number from 1 to 10000")
	} else {
		cfg.WorkerConcurrency = n
	}
	if d, err := time.ParseDuration(get("SHUTDOWN_TIMEOUT", "20s")); err != nil || d <= 0 {
		bad("SHUTDOWN_TIMEOUT", "want a positive duration such as 20s")
	} else {
		cfg.ShutdownTimeout = d
	}
	if d, err := time.ParseDuration(get("EXECUTION_TIMEOUT", "1h")); err != nil || d < time.Second {
		bad("EXECUTION_TIMEOUT", "want a duration of at least 1s such as 1h")
	} else {
		cfg.ExecutionTimeout = d
	}

	if d, err := time.ParseDuration(get("WORKER_RESCUE_AFTER", store.DefaultWorkerRescueAfter.String())); err != nil ||
		d < time.Second || d > time.Hour {
		bad("WORKER_RESCUE_AFTER", "want a duration from 1s to 1h such as 10s")
	} else {
		cfg.WorkerRescueAfter = d
	}
}

// loadTriggerConfig reads the limits of what comes in (webhook calls, files) and where outgoing calls may go.
func loadTriggerConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	if n, err := strconv.Atoi(get("WEBHOOK_RATE_LIMIT", "1000")); err != nil || n < 1 {
		bad("WEBHOOK_RATE_LIMIT", "want a whole number of calls per second per webhook, at least 1")
	} else {
		cfg.WebhookRateLimit = n
	}
	if n, err := strconv.ParseInt(get("WEBHOOK_MAX_BODY_BYTES", "1048576"), 10, 64); err != nil || n < 1024 || n > 64<<20 {
		bad("WEBHOOK_MAX_BODY_BYTES", "want a size in bytes from 1024 to 67108864")
	} else {
		cfg.WebhookMaxBodyBytes = n
	}

	for _, h := range strings.Split(get("OUTBOUND_ALLOWED_HOSTS", ""), ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.OutboundAllowedHosts = append(cfg.OutboundAllowedHosts, h)
		}
	}
	if d, err := time.ParseDuration(get("FILE_RETENTION", "168h")); err != nil || d < time.Minute {
		bad("FILE_RETENTION", "want a duration of at least 1m such as 168h")
	} else {
		cfg.FileRetention = d
	}
	if n, err := strconv.ParseInt(get("FILE_MAX_BYTES", "104857600"), 10, 64); err != nil || n < 1024 {
		bad("FILE_MAX_BYTES", "want a size in bytes of at least 1024")
	} else {
		cfg.FileMaxBytes = n
	}
	loadStorageConfig(cfg, get, bad)
}

// loadStorageConfig reads STORAGE_URL and the bucket's credentials. The error never repeats the URL: credentials
// put in it by mistake must not reach a log.
func loadStorageConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	loc, err := storage.ParseURL(get("STORAGE_URL", ""), cfg.DataDir)
	if err != nil {
		bad("STORAGE_URL", "%v", err)
		return
	}
	cfg.Storage = loc
	if loc.S3 == nil {
		return
	}
	cfg.StorageCreds = storage.Options{AccessKeyID: get("AWS_ACCESS_KEY_ID", ""),
		SecretAccessKey: get("AWS_SECRET_ACCESS_KEY", ""), SessionToken: get("AWS_SESSION_TOKEN", "")}
	if (cfg.StorageCreds.AccessKeyID == "") != (cfg.StorageCreds.SecretAccessKey == "") {
		bad("AWS_SECRET_ACCESS_KEY", "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for STORAGE_URL's bucket, "+
			"or neither to use the instance's role")
	}
}

// loadAccountsConfig reads the variables of sign-in, sessions, e-mail and the API's protection.
func loadAccountsConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	if cfg.SMTPURL = get("SMTP_URL", ""); cfg.SMTPURL != "" {
		// The message never repeats the URL: it may hold a password.
		if smtp, err := mail.ParseURL(cfg.SMTPURL); err != nil {
			bad("SMTP_URL", "%v (want smtp://user:pass@host:587?from=Name%%20<addr>&tls=starttls)", err)
		} else if smtp.From == nil {
			bad("SMTP_URL", "needs a sender: add ?from=noreply@your-domain")
		} else {
			cfg.SMTP = &smtp
		}
	}
	for _, o := range strings.Split(get("CORS_ALLOWED_ORIGINS", ""), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.User != nil {
			bad("CORS_ALLOWED_ORIGINS", "%q is not an origin (want scheme://host[:port], comma-separated)", o)
			continue
		}
		cfg.CORSAllowedOrigins = append(cfg.CORSAllowedOrigins, u.Scheme+"://"+u.Host)
	}
	duration := func(name, def string, min time.Duration) time.Duration {
		d, err := time.ParseDuration(get(name, def))
		if err != nil || d < min {
			bad(name, "want a duration of at least %s, such as %s", min, def)
		}
		return d
	}
	cfg.SessionIdleTimeout = duration("SESSION_IDLE_TIMEOUT", "12h", time.Minute)
	cfg.SessionLifetime = duration("SESSION_LIFETIME", "168h", time.Minute)
	if cfg.SessionIdleTimeout > cfg.SessionLifetime {
		bad("SESSION_IDLE_TIMEOUT", "must not be longer than SESSION_LIFETIME")
	}
	switch v := strings.ToLower(get("SIGNUP_ENABLED", "true")); v {
	case "true", "1", "yes":
		cfg.SignupEnabled = true
	case "false", "0", "no":
	default:
		bad("SIGNUP_ENABLED", "want true or false")
	}
	for _, p := range strings.Split(get("TRUSTED_PROXIES", ""), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				bad("TRUSTED_PROXIES", "%q is not an address or CIDR range", p)
				continue
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix.Masked())
	}
	if n, err := strconv.Atoi(get("API_RATE_LIMIT", "600")); err != nil || n < 1 || n > 1_000_000 {
		bad("API_RATE_LIMIT", "want requests per minute, a whole number from 1 to 1000000")
	} else {
		cfg.APIRateLimit = n
	}
}
