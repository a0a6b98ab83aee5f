package actions_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// origins starts the two servers of the credential tests: "api", the integration's own host, and "other", a
// host of another origin (another port) that records what reaches it.
func origins(t *testing.T) (api, other *recorder) {
	t.Helper()
	other = newRecorder(t, func(_ int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "elsewhere") })
	api = newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/landed?"+r.URL.RawQuery, http.StatusFound)
		case "/home":
			http.Redirect(w, r, "/landed", http.StatusFound)
		case "/echo":
			fmt.Fprintf(w, "you asked for %s", r.URL.RawQuery)
		case "/fail":
			http.Error(w, "bad request: "+r.URL.RawQuery, http.StatusBadRequest)
		default:
			fmt.Fprint(w, "home")
		}
	})
	return api, other
}

func TestHTTPKeyInQueryIsRedactedFromOutputAndError(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	api, _ := origins(t)
	const key = "k-secret/+= 42"
	id := env.integration(t, actions.KindHTTP, fmt.Sprintf(`{"auth":"api_key","api_key":%q,"api_key_in":"query","allowed_hosts":[%q]}`,
		key, api.URL), 0, 0)
	svc := env.services(env.factory(t, nil))
	leaks := func(s string) bool {
		return strings.Contains(s, "k-secret") || strings.Contains(s, "k-secret%2F%2B%3D+42")
	}

	run := mustRun(t, svc, fmt.Sprintf(`{"url":"%s/echo","integration_id":%q}`, api.URL, id))
	out := output(t, run)
	if leaks(string(run.Output)) || !strings.Contains(out["url"].(string), "api_key="+actions.Redacted) ||
		!strings.Contains(out["body"].(string), actions.Redacted) {
		t.Errorf("output shows the key: %s", run.Output)
	}
	if seen := api.seen(); len(seen) != 1 || !strings.Contains(seen[0].query, "k-secret") {
		t.Fatalf("the key did not reach its own host: %+v", seen)
	}

	run = mustRun(t, svc, fmt.Sprintf(`{"url":"%s/fail","integration_id":%q}`, api.URL, id))
	if run.Status != engine.NodeFailed || leaks(run.Error) || !strings.Contains(run.Error, actions.Redacted) {
		t.Errorf("error shows the key: %s %s", run.Status, run.Error)
	}
}

func TestHTTPRedirectsSendNoRefererAndKeepCredentialsHome(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	api, other := origins(t)
	svc := env.services(env.factory(t, nil))
	queryKey := env.integration(t, actions.KindHTTP, fmt.Sprintf(`{"auth":"api_key","api_key":"k-secret-q","api_key_in":"query","allowed_hosts":[%q]}`, api.URL), 0, 0)
	headerKey := env.integration(t, actions.KindHTTP, fmt.Sprintf(`{"auth":"api_key","api_key":"k-secret-h","api_key_name":"X-Key","base_url":%q}`, api.URL), 0, 0)

	// No credentials: the redirect to the other origin is followed, without Referer.
	output(t, mustRun(t, svc, fmt.Sprintf(`{"url":"%s/away","query":{"q":"1"}}`, api.URL)))
	// A redirect within the integration's host keeps its credentials, still without Referer.
	output(t, mustRun(t, svc, fmt.Sprintf(`{"url":"%s/home","integration_id":%q}`, api.URL, headerKey)))
	// A redirect off the integration's hosts is not followed, whichever way the credentials travel.
	for _, id := range []string{queryKey, headerKey} {
		run := mustRun(t, svc, fmt.Sprintf(`{"url":"%s/away","integration_id":%q}`, api.URL, id))
		if run.Status != engine.NodeFailed || run.Attempt != 1 || !strings.Contains(run.Error, "not followed") ||
			strings.Contains(run.Error, "k-secret") {
			t.Errorf("redirect off the hosts: %s after %d: %s", run.Status, run.Attempt, run.Error)
		}
	}

	seen := other.seen()
	if len(seen) != 1 || seen[0].query != "q=1" {
		t.Fatalf("the other origin saw %+v, want only the request without credentials", seen)
	}
	if ref := seen[0].header.Get("Referer"); ref != "" {
		t.Errorf("Referer sent to the other origin: %q", ref)
	}
	for _, r := range api.seen() {
		if r.path == "/landed" && (r.header.Get("Referer") != "" || r.header.Get("X-Key") != "k-secret-h") {
			t.Errorf("redirect within the host: %+v", r)
		}
	}
}

func TestHTTPCredentialsGoOnlyToTheIntegrationsHosts(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	api, other := origins(t)
	svc := env.services(env.factory(t, nil))
	bearer := env.integration(t, actions.KindHTTP, fmt.Sprintf(`{"auth":"bearer","token":"admin-token","allowed_hosts":[%q]}`, api.URL), 0, 0)
	apiHost, apiPort := hostPort(t, api.URL)

	// A member's node pointing the admin's integration at another URL: refused before anything is sent.
	for _, target := range []string{
		other.URL + "/steal",
		fmt.Sprintf("http://x@%s:%d/userinfo", apiHost, apiPort),
		fmt.Sprintf("https://%s:%d/scheme", apiHost, apiPort),
		fmt.Sprintf("http://localhost:%d/name", apiPort),
	} {
		run := mustRun(t, svc, fmt.Sprintf(`{"url":%q,"integration_id":%q}`, target, bearer))
		if run.Status != engine.NodeFailed || !strings.Contains(run.Error, "is not among the hosts of integration") {
			t.Errorf("%s: %s %s", target, run.Status, run.Error)
		}
	}
	if seen := other.seen(); len(seen) != 0 {
		t.Errorf("the other origin got the token: %+v", seen)
	}
	// Scheme case does not matter (host case and trailing dots: TestOriginsMatchExactly).
	output(t, mustRun(t, svc, fmt.Sprintf(`{"url":"HTTP://%s:%d/ok","integration_id":%q}`, apiHost, apiPort, bearer)))
	for _, r := range api.seen() {
		if r.path != "/ok" || r.header.Get("Authorization") != "Bearer admin-token" {
			t.Errorf("api saw %+v", r)
		}
	}

	// An integration saved before hosts were required is not used until an admin sets them.
	if _, err := env.store.Pool().Exec(context.Background(),
		`UPDATE integrations SET config = config - 'allowed_hosts' WHERE id = $1`, bearer); err != nil {
		t.Fatal(err)
	}
	run := mustRun(t, svc, fmt.Sprintf(`{"url":"%s/ok","integration_id":%q}`, api.URL, bearer))
	if run.Status != engine.NodeFailed || !strings.Contains(run.Error, "set base_url or allowed_hosts") {
		t.Errorf("integration without hosts: %s %s", run.Status, run.Error)
	}
	// Saving one without hosts is refused.
	if _, err := env.integrations.Create(context.Background(), store.NewIntegration{OrganizationID: env.org.ID,
		Name: "no hosts", Kind: actions.KindHTTP, Config: []byte(`{"auth":"bearer"}`), Secrets: []byte(`{"token":"t"}`)},
		store.SystemActor); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("saved without hosts: %v", err)
	}
}

func TestDatabaseRefusesPrivilegedRoles(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	svc := env.services(env.factory(t, nil))
	ordinary := env.integration(t, actions.KindPostgres, targetDatabase(t, false), 0, 0)
	super := env.integration(t, actions.KindPostgres, targetDatabaseAs(t, false, "SUPERUSER"), 0, 0)
	program := env.integration(t, actions.KindPostgres, targetDatabaseAs(t, false, "pg_execute_server_program"), 0, 0)
	copyToProgram := func(id string) engine.NodeRun {
		_, runs, _ := runChain(t, svc, `{}`, node{id: "db", typ: "action.database",
			cfg: fmt.Sprintf(`{"integration_id":%q,"mode":"read","query":"COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'"}`, id)})
		return runs["db"]
	}
	for name, tc := range map[string]struct{ id, want string }{
		"superuser":                 {super, "a superuser"},
		"pg_execute_server_program": {program, "a member of pg_execute_server_program"},
		"ordinary role":             {ordinary, "must be superuser or have privileges"},
	} {
		t.Run(name, func(t *testing.T) {
			run := copyToProgram(tc.id)
			if run.Status != engine.NodeFailed || run.Attempt != 1 || !strings.Contains(run.Error, tc.want) {
				t.Errorf("COPY TO PROGRAM in read mode: %s after %d: %s; want %q", run.Status, run.Attempt, run.Error, tc.want)
			}
		})
	}

	// An instance administrator may allow it for one integration.
	if _, err := env.integrations.SetPrivilegedRole(context.Background(), uuid.MustParse(super), true, store.SystemActor); err != nil {
		t.Fatal(err)
	}
	_, runs, _ := runChain(t, svc, `{}`, node{id: "db", typ: "action.database",
		cfg: fmt.Sprintf(`{"integration_id":%q,"query":"SELECT rolsuper FROM pg_roles WHERE rolname = current_user"}`, super)})
	if out := output(t, runs["db"]); out["rows"].([]any)[0].(map[string]any)["rolsuper"] != true {
		t.Errorf("allowed superuser: %v", out)
	}

	// The connection test refuses a privileged role too.
	tester, _ := actions.NewConnectionTester([]string{"127.0.0.1"})
	resolved, err := env.integrations.IntegrationForRun(context.Background(), env.org.ID, uuid.MustParse(program))
	if err != nil {
		t.Fatal(err)
	}
	if err := tester.Test(context.Background(), resolved); err == nil || !strings.Contains(err.Error(), "pg_execute_server_program") {
		t.Errorf("connection test of a privileged role: %v", err)
	}
}

func TestRunTimeUseCheckFailsTheNode(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	api, _ := origins(t)
	id := env.integration(t, actions.KindHTTP, fmt.Sprintf(`{"auth":"bearer","token":"tok-1234","allowed_hosts":[%q]}`, api.URL), 0, 0)
	versionID := uuid.New()
	var asked []uuid.UUID
	f := env.factory(t, func(c *actions.ServicesConfig) {
		c.MayUse = func(_ context.Context, orgID, version, integration uuid.UUID) error {
			asked = append(asked, version, integration)
			return fault.New(fault.Forbidden, "integration %q may no longer be used", "Admin API")
		}
	})
	svc := f.ForExecution(context.Background(), queue.Execution{ID: env.executionID, OrganizationID: env.org.ID,
		WorkflowID: env.workflowID, WorkflowVersionID: versionID})
	_, runs, _ := runChain(t, svc, `{}`, node{id: "call", typ: "action.http", retry: &engine.RetryPolicy{MaxAttempts: 3},
		cfg: fmt.Sprintf(`{"url":"%s/x","integration_id":%q}`, api.URL, id)})
	if r := runs["call"]; r.Status != engine.NodeFailed || r.Attempt != 1 || !strings.Contains(r.Error, "may no longer be used") {
		t.Errorf("run %s after %d: %s", r.Status, r.Attempt, r.Error)
	}
	if len(asked) != 2 || asked[0] != versionID || asked[1].String() != id {
		t.Errorf("MayUse asked %v", asked)
	}
	if len(api.seen()) != 0 {
		t.Error("the request was sent")
	}
}
