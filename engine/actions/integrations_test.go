package actions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
)

func TestConnectionTests(t *testing.T) {
	t.Parallel()
	tester, err := actions.NewConnectionTester([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	guarded, _ := actions.NewConnectionTester(nil)
	ctx := context.Background()

	smtp := mailtest.Start(t, mailtest.Options{Username: "u", Password: "p"})
	host, port := hostPort(t, "smtp://"+smtp.Addr)
	smtpSettings := func(password string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"host":%q,"port":%d,"tls":"none","username":"u","password":%q,"from":"a@example.com"}`,
			host, port, password))
	}
	srv := newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	httpSettings := func(token string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"auth":"bearer","token":%q,"test_url":%q,"allowed_hosts":[%q]}`, token,
			srv.URL+"/me", srv.URL))
	}
	pg := json.RawMessage(targetDatabase(t, false))

	for _, tc := range []struct {
		name     string
		tester   *actions.ConnectionTester
		kind     string
		settings json.RawMessage
		want     string // "" for success
	}{
		{"smtp", tester, actions.KindSMTP, smtpSettings("p"), ""},
		{"smtp bad password", tester, actions.KindSMTP, smtpSettings("wrong"), "authentication failed"},
		{"smtp internal", guarded, actions.KindSMTP, smtpSettings("p"), "OUTBOUND_ALLOWED_HOSTS"},
		{"http", tester, actions.KindHTTP, httpSettings("good"), ""},
		{"http refused", tester, actions.KindHTTP, httpSettings("bad"), "401"},
		{"http internal", guarded, actions.KindHTTP, httpSettings("good"), "OUTBOUND_ALLOWED_HOSTS"},
		{"postgres", tester, actions.KindPostgres, pg, ""},
		{"postgres wrong database", tester, actions.KindPostgres,
			json.RawMessage(strings.Replace(string(pg), `"database":"`, `"database":"nope`, 1)), "does not exist"},
		{"postgres internal", guarded, actions.KindPostgres, pg, "OUTBOUND_ALLOWED_HOSTS"},
		{"invalid settings", tester, actions.KindPostgres, json.RawMessage(`{"host":""}`), "not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tester.Test(ctx, engine.Integration{Kind: tc.kind, Settings: tc.settings})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("test failed: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || fault.CodeOf(err) != fault.Invalid {
				t.Errorf("error %v, want an invalid-settings error with %q", err, tc.want)
			}
		})
	}
}

func TestSplitSettingsKeepsSecretsApart(t *testing.T) {
	t.Parallel()
	config, secretJSON, err := actions.SplitSettings(actions.KindHTTP,
		json.RawMessage(`{"auth":"hmac","hmac_secret":"s","hmac_header":"X-Sig","token":""}`))
	if err != nil || string(config) != `{"auth":"hmac","hmac_header":"X-Sig"}` || string(secretJSON) != `{"hmac_secret":"s"}` {
		t.Fatalf("split: %s %s %v", config, secretJSON, err)
	}
	if _, _, err := actions.SplitSettings("ftp", json.RawMessage(`{}`)); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("unknown kind: %v", err)
	}
	if got := actions.SecretFields(actions.KindPostgres); len(got) != 1 || got[0] != "password" {
		t.Errorf("secret fields %v", got)
	}
	for kind, bad := range map[string]string{
		actions.KindSMTP:     `{"host":"mail.example.com","from":"a@example.com","tls":"none","username":"u"}`,
		actions.KindHTTP:     `{"auth":"api_key","api_key":"k","api_key_name":"Bad Header"}`,
		actions.KindPostgres: `{"host":"db","database":"d","user":"u","max_connections":99}`,
	} {
		if err := actions.ValidateIntegration(kind, json.RawMessage(bad)); fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%s %s: %v", kind, bad, err)
		}
	}
}

func TestMemoryResponseCacheIsBounded(t *testing.T) {
	t.Parallel()
	c := actions.NewMemoryResponseCache(4000)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		c.Set(ctx, fmt.Sprintf("k%03d", i), make([]byte, 100), time.Minute)
	}
	if c.Len() > 40 || c.Len() < 30 {
		t.Errorf("%d entries in a 4000-byte cache of ~104-byte entries", c.Len())
	}
	if _, ok := c.Get(ctx, "k099"); !ok {
		t.Error("the newest entry was evicted")
	}
	if _, ok := c.Get(ctx, "k000"); ok {
		t.Error("the oldest entry survived")
	}
	c.Set(ctx, "huge", make([]byte, 2000), time.Minute)
	if _, ok := c.Get(ctx, "huge"); ok {
		t.Error("an entry over a quarter of the cache was kept")
	}
}
