package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"golang.org/x/crypto/bcrypt"

	"github.com/PuerkitoBio/goquery"
	"github.com/alexedwards/scs/pgxstore"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

const (
	testSecretKey = "handlers-test-secret-key-0123456789abcdef"
	testPassword  = "correct horse battery"
	testOrigin    = "https://app.example.com"
)

// testPasswordHash is hashed once, at bcrypt's lowest cost like every password the test servers hash
// (app.Config.PasswordCost): bcrypt is slow on purpose, under the race detector a default-cost comparison takes about
// a second of CPU, and every fixture user shares the password.
var testPasswordHash = sync.OnceValue(func() string {
	h, err := auth.HashPasswordCost(testPassword, bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return h
})

// lockedBuffer collects the server's log lines, written from request goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a real server (httptest) over a real, fresh database, with its logs captured.
type harness struct {
	t    *testing.T
	srv  *Server
	ts   *httptest.Server
	st   *store.Store
	pool *pgxpool.Pool
	logs *lockedBuffer
	mail *mailtest.Server
	// app configures the use cases; options may change it before New builds them.
	app app.Config
	// executor configures the executor of startWorkers (its output limit, NODE_OUTPUT_MAX).
	executor engine.ExecutorOptions
	// secrets are strings that must never appear in a log line or in a response other than the one handing it out.
	secretsMu sync.Mutex
	secrets   []string
}

// bareServer is the real server without a database, for the routes that need none (/static/, the API's document).
func bareServer(t *testing.T) *Server {
	t.Helper()
	return New(Deps{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry(), Version: "dev"})
}

type harnessOption func(*Deps, *harness)

// withMail starts a real SMTP server and configures the app to send through it.
func withMail() harnessOption {
	return func(d *Deps, h *harness) {
		h.mail = mailtest.Start(h.t, mailtest.Options{})
		cfg, err := mail.ParseURL(h.mail.URL("ConcertMaster%20%3Cnoreply@example.com%3E"))
		if err != nil {
			h.t.Fatal(err)
		}
		h.app.Mailer = mail.NewSender(cfg)
		if h.app.OutboxKeys, h.app.ChannelKeys, err = app.OutboxKeyrings(testSecretKey, ""); err != nil {
			h.t.Fatal(err)
		}
		// The workers' outbox, as a worker process runs it: account mails are River jobs.
		worker, err := app.NewOutboxWorker(app.OutboxWorkerConfig{Store: h.st, Mailer: h.app.Mailer,
			OutboxKeys: h.app.OutboxKeys, ChannelKeys: h.app.ChannelKeys})
		if err != nil {
			h.t.Fatal(err)
		}
		workers := river.NewWorkers()
		river.AddWorker(workers, worker)
		jobs, err := h.st.NewJobClient(store.JobClientConfig{Workers: workers, MaxWorkers: 1,
			ExecutionTimeout: time.Minute, FetchPollInterval: 50 * time.Millisecond})
		if err != nil {
			h.t.Fatal(err)
		}
		if err := jobs.Start(context.Background()); err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(func() { _ = jobs.Stop(context.Background()) })
	}
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	pool, _ := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, pool: pool, logs: &lockedBuffer{}}
	h.ts = httptest.NewUnstartedServer(nil)
	h.ts.Start()
	t.Cleanup(h.ts.Close)
	base, _ := url.Parse(h.ts.URL)
	sessions := pgxstore.NewWithCleanupInterval(pool, 0)
	registry := testRegistry(t)
	deps := Deps{
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		DB:     st, Store: st, Metrics: prometheus.NewRegistry(), Version: "test",
		BaseURL: base, SecretKey: testSecretKey, Sessions: sessions,
		CORSAllowedOrigins: []string{testOrigin}, SignupEnabled: true,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Registry:       registry, Plans: engine.NewPlanLoader(engine.NewPlanCache(64), registry, st),
	}
	h.engineDeps(&deps)
	h.app = app.Config{Store: st, Plans: deps.Plans, BaseURL: base, Logger: deps.Logger, PasswordCost: bcrypt.MinCost,
		Retention: store.HistoryRetention{Succeeded: store.DefaultSucceededRetention, Failed: store.DefaultFailedRetention}}
	for _, o := range opts {
		o(&deps, h)
	}
	h.app.Limiter, h.app.Now, h.app.Files = deps.Limiter, deps.Now, deps.Files
	h.app.Registry, h.app.WebhookKeys = deps.Registry, deps.WebhookKeys
	h.app.Integrations, h.app.ConnectionTester = deps.Integrations, deps.ConnectionTester
	deps.App = app.New(h.app)
	h.srv = New(deps)
	h.ts.Config.Handler = h.srv
	h.remember(testPassword, testSecretKey, testPasswordHash())
	t.Cleanup(func() {
		logs := h.logs.String()
		for _, s := range h.secretList() {
			if strings.Contains(logs, s) {
				t.Errorf("the logs contain a secret (%.12s…)", s)
			}
		}
	})
	return h
}

func (h *harness) remember(secrets ...string) {
	h.secretsMu.Lock()
	defer h.secretsMu.Unlock()
	for _, s := range secrets {
		if s != "" {
			h.secrets = append(h.secrets, s)
		}
	}
}

func (h *harness) secretList() []string {
	h.secretsMu.Lock()
	defer h.secretsMu.Unlock()
	return append([]string(nil), h.secrets...)
}

// world is one organization with a user of each role, and a second organization whose owner is the outsider.
type world struct {
	orgA, orgB store.Organization
	users      map[string]store.User // owner, admin, member, viewer, outsider
}

var worldSeq atomic.Int64

func (h *harness) newWorld() *world {
	h.t.Helper()
	n := worldSeq.Add(1)
	w := &world{users: map[string]store.User{}}
	orgA := fmt.Sprintf("Acme %d %s", n, uuid.NewString()[:8])
	for _, role := range []string{"owner", "admin", "member", "viewer"} {
		u, org, err := h.st.UserCreateWithOrganization(context.Background(), store.NewUser{
			Email: fmt.Sprintf("%s-%d-%s@acme.example", role, n, uuid.NewString()[:6]), Name: "A " + role,
			PasswordHash: testPasswordHash(), OrganizationName: orgA, Role: store.Role(role),
		})
		if err != nil {
			h.t.Fatal(err)
		}
		w.users[role], w.orgA = u, org
	}
	u, org, err := h.st.UserCreateWithOrganization(context.Background(), store.NewUser{
		Email: fmt.Sprintf("outsider-%d-%s@other.example", n, uuid.NewString()[:6]), Name: "Outsider",
		PasswordHash: testPasswordHash(), OrganizationName: fmt.Sprintf("Other %d %s", n, uuid.NewString()[:8]),
		Role: store.RoleOwner,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	w.users["outsider"], w.orgB = u, org
	return w
}

// orgOf is the organization a fixture user acts in.
func (w *world) orgOf(who string) uuid.UUID {
	if who == "outsider" {
		return w.orgB.ID
	}
	return w.orgA.ID
}

// sessionCookie mints a real session in the server's store for a user in an organization, as signing in would.
func (h *harness) sessionCookie(u store.User, orgID uuid.UUID) *http.Cookie {
	h.t.Helper()
	ctx, err := h.srv.kit.Sessions().Load(context.Background(), "")
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.srv.kit.SignIn(ctx, u, orgID); err != nil {
		h.t.Fatal(err)
	}
	token, _, err := h.srv.kit.Sessions().Commit(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	h.remember(token)
	return &http.Cookie{Name: httpx.SessionCookieName, Value: token}
}

// accessToken issues a real JWT access token for a user in an organization.
func (h *harness) accessToken(u store.User, orgID uuid.UUID) string {
	h.t.Helper()
	tok, _, err := h.srv.kit.AccessTokens().Issue(auth.AccessClaims{UserID: u.ID, OrgID: orgID, CredentialsVersion: u.CredentialsVersion})
	if err != nil {
		h.t.Fatal(err)
	}
	h.remember(tok)
	return tok
}

// response is a finished request, body read.
type response struct {
	*http.Response
	body string
}

func (r response) doc(t *testing.T) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// request describes one call; Form and JSON are mutually exclusive bodies.
type request struct {
	Method, Path string
	Form         url.Values
	JSON         string
	Cookie       *http.Cookie
	Bearer       string
	Header       http.Header
}

// do sends a request without following redirects, and checks the answer carries the security headers and never
// a password, a password hash or the secret key.
func (h *harness) do(req request) response {
	h.t.Helper()
	var body io.Reader
	switch {
	case req.Form != nil:
		body = strings.NewReader(req.Form.Encode())
	case req.JSON != "":
		body = strings.NewReader(req.JSON)
	}
	r, err := http.NewRequest(req.Method, h.ts.URL+req.Path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	switch {
	case req.Form != nil:
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case req.JSON != "":
		r.Header.Set("Content-Type", "application/json")
	}
	if req.Cookie != nil {
		r.AddCookie(req.Cookie)
	}
	if req.Bearer != "" {
		r.Header.Set("Authorization", "Bearer "+req.Bearer)
	}
	for k, vs := range req.Header {
		r.Header[k] = vs
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := response{Response: resp, body: string(b)}
	h.checkResponse(req, out)
	return out
}

func (h *harness) checkResponse(req request, resp response) {
	h.t.Helper()
	for _, name := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
		if resp.Header.Get(name) == "" {
			h.t.Errorf("%s %s: no %s header", req.Method, req.Path, name)
		}
	}
	for _, bad := range []string{testPassword, testSecretKey, "$2a$10$"} {
		if strings.Contains(resp.body, bad) {
			h.t.Errorf("%s %s: the response contains a password, a password hash or the secret key", req.Method, req.Path)
		}
	}
}

// sessionFrom returns the session cookie a response set, nil when it set none.
func sessionFrom(resp response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == httpx.SessionCookieName && c.Value != "" {
			return c
		}
	}
	return nil
}

// auditCount counts audit rows of an action.
func (h *harness) auditCount(action string) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action = $1", action).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}
