package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The tests below import every workflow of examples/workflows through the API, run it against real services and
// check what it did, so the examples a newcomer copies keep working.

const examplesDir = "../examples"

var examplePlaceholder = regexp.MustCompile(`\$\{[A-Z0-9_]+\}`)

// exampleEnv is a live server running executions, and an owner's token of its organization.
type exampleEnv struct {
	*harness
	w     *world
	token string
}

func newExampleEnv(t *testing.T) *exampleEnv {
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	return &exampleEnv{harness: h, w: w, token: h.accessToken(w.users["owner"], w.orgA.ID)}
}

// exampleDefinition reads an example with its ${PLACEHOLDERS} replaced, failing on one left unreplaced.
func exampleDefinition(t *testing.T, file string, vars map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(examplesDir, "workflows", file))
	if err != nil {
		t.Fatal(err)
	}
	def := string(raw)
	for k, v := range vars {
		def = strings.ReplaceAll(def, "${"+k+"}", v)
	}
	if left := examplePlaceholder.FindAllString(def, -1); len(left) > 0 {
		t.Fatalf("%s: placeholders %v not replaced", file, left)
	}
	return def
}

// importExample creates a workflow from an example as the README says (POST /api/v1/workflows with name and
// definition) and activates it.
func (e *exampleEnv) importExample(file string, vars map[string]string) api.WorkflowJSON {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": strings.TrimSuffix(file, ".json"),
		"definition": json.RawMessage(exampleDefinition(e.t, file, vars))})
	resp := e.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: e.token, JSON: string(body)})
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("import %s: %d %s", file, resp.StatusCode, resp.body)
	}
	var wf api.WorkflowJSON
	resp.json(e.t, &wf)
	resp = e.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID.String() + "/activate", Bearer: e.token})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("activate %s: %d %s", file, resp.StatusCode, resp.body)
	}
	resp.json(e.t, &wf)
	return wf
}

// createIntegration creates an integration through the API and returns its id.
func (e *exampleEnv) createIntegration(kind, settings string) string {
	e.t.Helper()
	resp := e.do(request{Method: "POST", Path: "/api/v1/integrations", Bearer: e.token,
		JSON: fmt.Sprintf(`{"name":"Example %s","kind":%q,"settings":%s}`, kind, kind, settings)})
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("create %s integration: %d %s", kind, resp.StatusCode, resp.body)
	}
	var out struct {
		ID string `json:"id"`
	}
	resp.json(e.t, &out)
	return out.ID
}

func (e *exampleEnv) webhook(wfID uuid.UUID) api.WebhookInfo {
	e.t.Helper()
	var info api.WebhookInfo
	e.do(request{Method: "GET", Path: "/api/v1/workflows/" + wfID.String() + "/webhook", Bearer: e.token}).json(e.t, &info)
	if info.Secret == "" {
		e.t.Fatalf("no webhook secret for %s", wfID)
	}
	e.remember(info.Secret)
	return info
}

// finished waits for an execution to finish and returns it with its node runs.
func (e *exampleEnv) finished(id string) api.ExecutionJSON {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var x api.ExecutionJSON
		e.do(request{Method: "GET", Path: "/api/v1/executions/" + id, Bearer: e.token}).json(e.t, &x)
		switch x.Status {
		case "succeeded", "failed", "cancelled":
			return x
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("execution %s still %s", id, x.Status)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// succeeded waits for an execution and fails the test unless it succeeded; it returns its node runs by id.
func (e *exampleEnv) succeeded(id string) map[string]api.NodeRunJSON {
	e.t.Helper()
	x := e.finished(id)
	runs := map[string]api.NodeRunJSON{}
	for _, n := range x.Nodes {
		runs[n.NodeID] = n
	}
	if x.Status != "succeeded" {
		e.t.Fatalf("execution %s %s: %s (nodes %+v)", id, x.Status, x.Error, runs)
	}
	return runs
}

// onlyExecution waits for the one execution of a workflow started by something other than the API (a form, a
// schedule) and returns its id.
func (e *exampleEnv) onlyExecution(wfID uuid.UUID) string {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list struct {
			Items []api.ExecutionJSON `json:"items"`
		}
		e.do(request{Method: "GET", Path: "/api/v1/executions?workflow_id=" + wfID.String(), Bearer: e.token}).json(e.t, &list)
		if len(list.Items) == 1 {
			return list.Items[0].ID.String()
		}
		if len(list.Items) > 1 || time.Now().After(deadline) {
			e.t.Fatalf("workflow %s has %d executions, want 1", wfID, len(list.Items))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// slackStub stands in for a Slack incoming webhook: it records each JSON body posted to it.
type slackStub struct {
	*httptest.Server
	got chan map[string]any
}

func newSlackStub(t *testing.T) *slackStub {
	s := &slackStub{got: make(chan map[string]any, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg map[string]any
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || json.Unmarshal(b, &msg) != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		s.got <- msg
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

// URL is the incoming-webhook address, its secret in the path as Slack's are.
func (s *slackStub) URL() string { return s.Server.URL + "/services/T000/B000/XXXXXXXX" }

func (s *slackStub) next(t *testing.T) string {
	t.Helper()
	select {
	case msg := <-s.got:
		text, _ := msg["text"].(string)
		return text
	case <-time.After(30 * time.Second):
		t.Fatal("Slack received nothing")
		return ""
	}
}

// exampleDatabase is a database of its own with the examples' tables, and the settings of a PostgreSQL
// integration reaching it as an ordinary role (integrations refuse superusers, which the tests' own user is).
func exampleDatabase(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pool, dbURL := dbtest.NewDatabase(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		CREATE TABLE orders (id serial PRIMARY KEY, status text NOT NULL, amount numeric(12,2) NOT NULL,
			created_at timestamptz NOT NULL);
		CREATE TABLE contacts (email text PRIMARY KEY, name text)`); err != nil {
		t.Fatal(err)
	}
	role := "cm_examples_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	password := "pw-" + uuid.NewString()
	for _, stmt := range []string{fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password),
		"GRANT SELECT ON orders TO " + role, "GRANT SELECT, INSERT, UPDATE ON contacts TO " + role} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return pool, fmt.Sprintf(`{"host":%q,"port":%s,"database":%q,"user":%q,"password":%q,"sslmode":"disable","allow_writes":true}`,
		u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/"), role, password)
}

func TestExampleWebhookToSlack(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	slack := newSlackStub(t)
	wf := e.importExample("webhook-to-slack.json", map[string]string{"SLACK_WEBHOOK_URL": slack.URL()})
	info := e.webhook(wf.ID)

	body := []byte(`{"service":"billing","version":"2.4.1","user":"ada"}`)
	status, out := post(t, info.URL, body, signed(info.Secret, time.Now(), body))
	if status != http.StatusAccepted {
		t.Fatalf("signed call: %d %s", status, out)
	}
	var accepted struct {
		ExecutionID string `json:"execution_id"`
	}
	_ = json.Unmarshal([]byte(out), &accepted)
	e.succeeded(accepted.ExecutionID)
	if got := slack.next(t); got != "billing 2.4.1 deployed by ada" {
		t.Errorf("Slack got %q", got)
	}
}

func TestExampleFormToEmail(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	host, port, _ := strings.Cut(smtp.Addr, ":")
	smtpID := e.createIntegration("smtp", fmt.Sprintf(`{"host":%q,"port":%s,"tls":"none","from":"Support <support@example.com>"}`, host, port))
	slug := "contact-" + strings.ToLower(e.w.orgA.ID.String()[:8])
	e.createForm(e.token, fmt.Sprintf(`{"name":"Contact","slug":%q,"published":true,"fields":[
		{"name":"name","label":"Name","type":"text","required":true},
		{"name":"email","label":"E-mail","type":"email","required":true},
		{"name":"message","label":"Message","type":"textarea","required":true}]}`, slug))
	wf := e.importExample("form-to-email.json", map[string]string{"FORM_ID": slug, "SMTP_INTEGRATION_ID": smtpID})

	resp := e.do(request{Method: "POST", Path: "/f/" + slug, Header: fromAddress("203.0.113.7"),
		Form: url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "message": {"Where is my order?"}}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("submission: %d %s", resp.StatusCode, resp.body)
	}
	e.succeeded(e.onlyExecution(wf.ID))
	msg := smtp.WaitFor(t, func(r mailtest.Received) bool { return len(r.Recipients) == 1 && r.Recipients[0] == "ada@example.com" })
	m, text := msg.Parsed(t)
	if m.Header.Get("Subject") != "We got your message, Ada" || !strings.Contains(string(text), "Where is my order?") {
		t.Errorf("mail %q:\n%s", m.Header.Get("Subject"), text)
	}
}

func TestExampleNightlyReport(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	target, settings := exampleDatabase(t)
	wf := e.importExample("nightly-report.json", map[string]string{"POSTGRES_INTEGRATION_ID": e.createIntegration("postgres", settings)})
	if wf.NextRunAt == nil {
		t.Fatalf("an active nightly report has no next run: %+v", wf)
	}
	tick := *wf.NextRunAt
	// Orders of the day before the tick are reported; one older is not.
	for _, o := range []struct {
		status string
		amount float64
		ago    time.Duration
	}{{"paid", 10, time.Hour}, {"paid", 32.5, 5 * time.Hour}, {"refunded", 7, 23 * time.Hour}, {"paid", 1000, 25 * time.Hour}} {
		if _, err := target.Exec(context.Background(), "INSERT INTO orders (status, amount, created_at) VALUES ($1, $2, $3)",
			o.status, o.amount, tick.Add(-o.ago)); err != nil {
			t.Fatal(err)
		}
	}
	// The scheduler's tick, at an injected time just after the one due.
	fired, err := e.st.NewScheduler(service.NewArchetype(slog.New(slog.DiscardHandler)), nodes.NextScheduledRun,
		store.DefaultScheduleInterval).FireDue(context.Background(), tick.Add(time.Second))
	if err != nil || fired != 1 {
		t.Fatalf("fired %d: %v", fired, err)
	}
	runs := e.succeeded(e.onlyExecution(wf.ID))
	var report string
	_ = json.Unmarshal(runs["report"].Output, &report)
	if want := "status,orders,revenue\npaid,2,42.5\nrefunded,1,7\n"; strings.ReplaceAll(report, "\r\n", "\n") != want {
		t.Errorf("report %q, want %q", report, want)
	}
}

func TestExampleRowsToDatabase(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	target, settings := exampleDatabase(t)
	wf := e.importExample("rows-to-database.json", map[string]string{"POSTGRES_INTEGRATION_ID": e.createIntegration("postgres", settings)})
	info := e.webhook(wf.ID)

	body := []byte(`{"rows":[{"email":"ada@example.com","name":"Ada"},{"email":"","name":"Nobody"},
		{"email":"bob@example.com","name":"Bob"},{"name":"No address"},{"email":"o'hara@example.com","name":"'; DROP TABLE contacts; --"}]}`)
	status, out := post(t, info.URL, body, signed(info.Secret, time.Now(), body))
	if status != http.StatusOK || !strings.Contains(out, `"rows_affected":3`) {
		t.Fatalf("rows: %d %s", status, out)
	}
	rows, err := target.Query(context.Background(), "SELECT email || '=' || name FROM contacts ORDER BY email")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		got = append(got, s)
	}
	rows.Close()
	if fmt.Sprint(got) != "[ada@example.com=Ada bob@example.com=Bob o'hara@example.com='; DROP TABLE contacts; --]" {
		t.Errorf("contacts %q", got)
	}
}

func TestExampleErrorHandler(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	slack := newSlackStub(t)
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(orders.Close)
	wf := e.importExample("error-handler.json", map[string]string{"SLACK_WEBHOOK_URL": slack.URL(), "ORDERS_API_URL": orders.URL + "/orders"})

	// A manual run supplies the request's JSON as the trigger's body, as a webhook call would.
	resp := e.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID.String() + "/run", Bearer: e.token, JSON: `{"id":"A-17","total":99}`})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("run: %d %s", resp.StatusCode, resp.body)
	}
	var run struct {
		ExecutionID string `json:"execution_id"`
	}
	resp.json(t, &run)
	runs := e.succeeded(run.ExecutionID)
	if runs["post"].Status != "failed" || runs["post"].Attempt != 2 || runs["alert"].Status != "succeeded" {
		t.Errorf("node runs %+v", runs)
	}
	if got := slack.next(t); !strings.HasPrefix(got, "order A-17 was not sent: ") || !strings.Contains(got, "503") {
		t.Errorf("Slack got %q", got)
	}
}

// TestSigningSnippets runs each snippet of examples/signing against a live webhook: each must be accepted (202)
// and start an execution.
func TestSigningSnippets(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	slack := newSlackStub(t)
	wf := e.importExample("webhook-to-slack.json", map[string]string{"SLACK_WEBHOOK_URL": slack.URL()})
	info := e.webhook(wf.ID)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, sn := range []struct {
		lang  string
		needs []string
		args  []string
	}{
		{"shell", []string{"sh", "openssl", "curl"}, []string{"sh", "examples/signing/sign.sh"}},
		{"python", []string{"python3"}, []string{"python3", "examples/signing/sign.py"}},
		{"node", []string{"node"}, []string{"node", "examples/signing/sign.js"}},
		{"go", []string{"go"}, []string{"go", "run", "./examples/signing"}},
	} {
		missing := ""
		for _, bin := range sn.needs {
			if _, err := exec.LookPath(bin); err != nil {
				missing = bin
			}
		}
		if missing != "" {
			t.Logf("skipping the %s snippet: %s is not installed", sn.lang, missing)
			continue
		}
		// A body of its own: the same body signed in the same second would be refused as a replay.
		body := fmt.Sprintf(`{"service":"%s-snippet","version":"1.0","user":"ada"}`, sn.lang)
		cmd := exec.Command(sn.args[0], append(sn.args[1:], body)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CM_WEBHOOK_URL="+info.URL, "CM_WEBHOOK_SECRET="+info.Secret)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "\nHTTP 202\n") {
			t.Fatalf("%s snippet: %v\n%s", sn.lang, err, out)
		}
		var accepted struct {
			ExecutionID string `json:"execution_id"`
		}
		first, _, _ := strings.Cut(string(out), "\n")
		if err := json.Unmarshal([]byte(first), &accepted); err != nil || accepted.ExecutionID == "" {
			t.Fatalf("%s snippet: no execution id in %q", sn.lang, out)
		}
		e.succeeded(accepted.ExecutionID)
		ran[sn.lang] = true
	}
	// Every snippet's call reached Slack, in whatever order the executions ran.
	got := map[string]bool{}
	for range ran {
		got[slack.next(t)] = true
	}
	for lang := range ran {
		if !got[lang+"-snippet 1.0 deployed by ada"] {
			t.Errorf("no Slack message from the %s snippet in %v", lang, got)
		}
	}
}

// TestExamplesREADME keeps examples/README.md in step with the files: every workflow and every placeholder they
// use is described there.
func TestExamplesREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(examplesDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(examplesDir, "workflows", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if !strings.Contains(string(readme), "(workflows/"+name+")") {
			t.Errorf("README.md does not describe %s", name)
		}
		raw, _ := os.ReadFile(f)
		for _, p := range examplePlaceholder.FindAllString(string(raw), -1) {
			if !strings.Contains(string(readme), "| `"+p+"` |") {
				t.Errorf("README.md does not explain %s, used by %s", p, name)
			}
		}
	}
}

func TestExampleCSVUploadReport(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFileStorage(t.TempDir()))
	h.startWorkers()
	w := h.newWorld()
	e := &exampleEnv{harness: h, w: w, token: h.accessToken(w.users["owner"], w.orgA.ID)}
	smtp := mailtest.Start(t, mailtest.Options{})
	host, port, _ := strings.Cut(smtp.Addr, ":")
	smtpID := e.createIntegration("smtp", fmt.Sprintf(`{"host":%q,"port":%s,"tls":"none","from":"Reports <reports@example.com>"}`, host, port))
	slug := "orders-" + strings.ToLower(e.w.orgA.ID.String()[:8])
	e.createForm(e.token, fmt.Sprintf(`{"name":"Orders","slug":%q,"published":true,"fields":[
		{"name":"email","label":"E-mail","type":"email","required":true},
		{"name":"orders","label":"Orders (CSV)","type":"file","required":true,"accept":["text/csv","text/plain"]}]}`, slug))
	wf := e.importExample("csv-upload-report.json", map[string]string{"FORM_ID": slug, "SMTP_INTEGRATION_ID": smtpID})

	// A spreadsheet's export: a byte order mark, CRLF line ends, a quoted note spanning two lines, and one amount
	// that is not a number.
	csv := "\uFEFFregion,amount,paid,note\r\nnorth,10.5,yes,\r\nsouth,4,true,\"call back\nafter 5\"\r\n" +
		"north,2,no,\r\nnorth,oops,yes,typo\r\nsouth,1.5,y,\r\n"
	body, ctype := multipartBody("orders", "orders.csv", "text/csv", []byte(csv),
		map[string]string{"email": "ada@example.com", httpx.HoneypotField: ""})
	resp := e.do(request{Method: "POST", Path: "/f/" + slug, JSON: body,
		Header: http.Header{"Content-Type": {ctype}, "X-Forwarded-For": {"203.0.113.9"}}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("submission: %d %s", resp.StatusCode, resp.body)
	}
	runs := e.succeeded(e.onlyExecution(wf.ID))
	var parsed struct {
		Items  []map[string]any `json:"items"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(runs["parse"].Output, &parsed); err != nil || len(parsed.Items) != 5 || len(parsed.Errors) != 1 ||
		parsed.Items[1]["note"] != "call back\nafter 5" {
		t.Errorf("parse output %s (%v)", runs["parse"].Output, err)
	}

	msg := smtp.WaitFor(t, func(r mailtest.Received) bool { return len(r.Recipients) == 1 && r.Recipients[0] == "ada@example.com" })
	files, _ := msg.Attachments(t)
	m, _ := msg.Parsed(t)
	if m.Header.Get("Subject") != "Paid orders in orders.csv" || !strings.Contains(string(files[""]), "2 regions; 1 rows had errors") {
		t.Errorf("mail %q: %s", m.Header.Get("Subject"), files[""])
	}
	// north: 10.5 (the typo's amount is null, so counted but not summed); south: 4 + 1.5.
	if got := string(files["totals.csv"]); got != "orders,region,revenue\n2,north,10.5\n2,south,5.5\n" {
		t.Errorf("totals.csv:\n%s", got)
	}
}
