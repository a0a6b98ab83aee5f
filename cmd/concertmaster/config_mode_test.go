package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/app/flags"
)

// TestProductionRefusesUnsafeConfigurations walks every refusal README's "Feature flags and modes" lists: each
// stops a production start-up with a message naming its variable, and development lets it pass.
func TestProductionRefusesUnsafeConfigurations(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env      map[string]string
		variable string
	}{
		"http BASE_URL with open sign-up":   {map[string]string{"BASE_URL": "http://cm.example.com", "SIGNUP_ENABLED": "true"}, "BASE_URL"},
		"http BASE_URL, sign-up by default": {map[string]string{"BASE_URL": "http://10.0.0.5:8080"}, "BASE_URL"},
		"every proxy trusted":               {map[string]string{"TRUSTED_PROXIES": "10.0.0.1,0.0.0.0/0"}, "TRUSTED_PROXIES"},
		"every IPv6 proxy trusted":          {map[string]string{"TRUSTED_PROXIES": "::/0"}, "TRUSTED_PROXIES"},
		"plain-http CORS origin":            {map[string]string{"CORS_ALLOWED_ORIGINS": "https://ok.example.com,http://app.example.com"}, "CORS_ALLOWED_ORIGINS"},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": "postgres://x/y"}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := loadConfig(envFrom(env), configNeeds{})
			if err == nil || !strings.Contains(err.Error(), tc.variable+":") {
				t.Fatalf("production: error %v, want one naming %s", err, tc.variable)
			}
			env["APP_ENV"] = "development"
			if _, err := loadConfig(envFrom(env), configNeeds{}); err != nil {
				t.Fatalf("development refused it too: %v", err)
			}
		})
	}
}

func TestProductionAcceptsSafeConfigurations(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"defaults (loopback http)":        {},
		"https with sign-up":              {"BASE_URL": "https://cm.example.com"},
		"http without sign-up":            {"BASE_URL": "http://cm.internal:8080", "SIGNUP_ENABLED": "false"},
		"localhost":                       {"BASE_URL": "http://localhost:8080"},
		"named proxies and https origins": {"TRUSTED_PROXIES": "10.0.0.0/8", "CORS_ALLOWED_ORIGINS": "https://a.example.com,http://127.0.0.1:5173"},
	} {
		env["DATABASE_URL"] = "postgres://x/y"
		cfg, err := loadConfig(envFrom(env), configNeeds{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if cfg.Mode != flags.Production || cfg.LogFormat != "json" || cfg.LogLevel != slog.LevelInfo {
			t.Errorf("%s: mode %s, logs %s at %s; want production, json at info", name, cfg.Mode, cfg.LogFormat, cfg.LogLevel)
		}
	}
}

func TestDevelopmentModeDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y", "APP_ENV": "development",
		"BASE_URL": "http://192.168.1.20:8080"}), configNeeds{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != flags.Development || cfg.LogFormat != "text" || cfg.LogLevel != slog.LevelDebug {
		t.Fatalf("mode %s, logs %s at %s; want development, text at debug", cfg.Mode, cfg.LogFormat, cfg.LogLevel)
	}
	warnings := strings.Join(modeWarnings(cfg), "\n")
	if !strings.Contains(warnings, "BASE_URL") || !strings.Contains(warnings, "Secure") {
		t.Fatalf("warnings %q do not warn of cookies without Secure over http", warnings)
	}
	if _, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y", "APP_ENV": "staging"}), configNeeds{}); err == nil ||
		!strings.Contains(err.Error(), "APP_ENV") {
		t.Fatalf("APP_ENV=staging: %v, want an error naming APP_ENV", err)
	}
}
