package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is the whole configuration of a process, read only from environment variables. Every variable is in the
// README's configuration table with its default.
type config struct {
	ListenAddr        string
	DatabaseURL       string
	DatabaseMaxConns  int32
	RedisURL          string
	BaseURL           *url.URL
	SecretKey         string
	LogFormat         string
	LogLevel          slog.Level
	WorkerConcurrency int
	ShutdownTimeout   time.Duration
	DataDir           string
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

	cfg := &config{
		ListenAddr:  get("LISTEN_ADDR", "127.0.0.1:8080"),
		DatabaseURL: get("DATABASE_URL", ""),
		RedisURL:    get("REDIS_URL", ""),
		SecretKey:   getenv("SECRET_KEY"),
		DataDir:     get("DATA_DIR", ".data/files"),
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
	if needs.secretKey && len(cfg.SecretKey) < minSecretKeyLength {
		bad("SECRET_KEY", "is required and must be at least %d characters (try: openssl rand -hex 32)", minSecretKeyLength)
	}
	switch cfg.LogFormat = get("LOG_FORMAT", "json"); cfg.LogFormat {
	case "json", "text":
	default:
		bad("LOG_FORMAT", "want json or text, got %q", cfg.LogFormat)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
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

	if len(problems) > 0 {
		return nil, errors.New("configuration: " + strings.Join(problems, "; "))
	}
	return cfg, nil
}
