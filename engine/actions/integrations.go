package actions

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/fault"
	cmmail "github.com/concertmaster/concertmaster/platform/mail"
)

// Integration kinds, as the integrations table has them.
const (
	KindSMTP     = "smtp"
	KindHTTP     = "http"
	KindPostgres = "postgres"
)

// secretFields lists, per kind, the settings stored sealed and never shown again. Everything else is plain config.
var secretFields = map[string][]string{
	KindSMTP:     {"password"},
	KindHTTP:     {"password", "token", "api_key", "hmac_secret"},
	KindPostgres: {"password"},
}

// SecretFields returns the settings of a kind that are secrets, for forms that must not render them back.
func SecretFields(kind string) []string { return slices.Clone(secretFields[kind]) }

// SMTPSettings are the settings of an SMTP integration.
type SMTPSettings struct {
	Host string `json:"host"`
	// Port defaults to 587 (465 with implicit TLS).
	Port int `json:"port,omitempty"`
	// TLS is starttls (the default), implicit or none.
	TLS      string `json:"tls,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// From is the sender, "Name <address>"; a node may override it.
	From      string `json:"from"`
	HelloName string `json:"hello_name,omitempty"`
}

// HTTP authentication schemes of an HTTP integration.
const (
	HTTPAuthNone   = "none"
	HTTPAuthBasic  = "basic"
	HTTPAuthBearer = "bearer"
	HTTPAuthAPIKey = "api_key"
	HTTPAuthHMAC   = "hmac"
)

// HTTPSettings are the settings of an HTTP-credentials integration: how requests made with it authenticate.
type HTTPSettings struct {
	// Auth is none, basic, bearer, api_key or hmac.
	Auth     string `json:"auth"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
	// APIKey is sent in the header (default "X-API-Key") or query parameter named APIKeyName.
	APIKey     string `json:"api_key,omitempty"`
	APIKeyName string `json:"api_key_name,omitempty"`
	// APIKeyIn is header (the default) or query.
	APIKeyIn string `json:"api_key_in,omitempty"`
	// HMACSecret signs each request's body: HMACHeader (default "X-Signature") carries HMACPrefix (default
	// "sha256=") followed by the hex HMAC-SHA256. With HMACTimestampHeader set, the Unix time is sent in that
	// header and "<time>.<body>" is signed instead, so the receiver can refuse replays.
	HMACSecret          string  `json:"hmac_secret,omitempty"`
	HMACHeader          string  `json:"hmac_header,omitempty"`
	HMACPrefix          *string `json:"hmac_prefix,omitempty"`
	HMACTimestampHeader string  `json:"hmac_timestamp_header,omitempty"`
	// BaseURL, when set, is where relative URLs of nodes using the integration resolve; its origin is one the
	// credentials may be sent to.
	BaseURL string `json:"base_url,omitempty"`
	// AllowedHosts are further origins the credentials may be sent to: "api.example.com" (https, port 443),
	// "api.example.com:8443", or "http://host:port" for plain HTTP. Matched exactly (no wildcards). An integration
	// with credentials needs BaseURL or AllowedHosts before a node can use it.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// TestURL is requested (GET) by the "test connection" action.
	TestURL string `json:"test_url,omitempty"`
}

// PostgresSettings are the settings of a PostgreSQL integration.
type PostgresSettings struct {
	Host     string `json:"host"`
	Port     int    `json:"port,omitempty"`
	Database string `json:"database"`
	User     string `json:"user"`
	Password string `json:"password,omitempty"`
	// SSLMode is disable, require (the default), verify-ca or verify-full.
	SSLMode string `json:"sslmode,omitempty"`
	// AllowWrites lets nodes run in write mode; without it every query runs in a read-only transaction.
	AllowWrites bool `json:"allow_writes,omitempty"`
	// MaxConnections bounds the pool each worker process keeps for this integration (default 4, at most 20).
	MaxConnections int `json:"max_connections,omitempty"`
}

// decodeSettings reads settings strictly: an unknown field is a typo worth reporting.
func decodeSettings[T any](raw json.RawMessage) (T, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fault.Wrap(err, fault.Invalid, "the integration's settings are not valid: "+err.Error())
	}
	return v, nil
}

// ParseSMTPSettings decodes and checks SMTP settings, filling in defaults.
func ParseSMTPSettings(raw json.RawMessage) (SMTPSettings, error) {
	s, err := decodeSettings[SMTPSettings](raw)
	if err != nil {
		return s, err
	}
	var problems []fault.FieldError
	bad := func(f, m string) { problems = append(problems, fault.FieldError{Field: f, Message: m}) }
	switch s.TLS {
	case "":
		s.TLS = string(cmmail.TLSStartTLS)
	case string(cmmail.TLSStartTLS), string(cmmail.TLSImplicit), string(cmmail.TLSNone):
	default:
		bad("tls", "must be starttls, implicit or none")
	}
	if s.Port == 0 {
		s.Port = 587
		if s.TLS == string(cmmail.TLSImplicit) {
			s.Port = 465
		}
	}
	checkHost(s.Host, bad)
	checkPort(s.Port, bad)
	if _, err := mail.ParseAddress(s.From); err != nil {
		bad("from", "is not a valid e-mail address")
	}
	if s.Username != "" && s.TLS == string(cmmail.TLSNone) {
		if a, err := netip.ParseAddr(s.Host); !(s.Host == "localhost" || (err == nil && a.IsLoopback())) {
			bad("tls", "none would send the password in the clear; use starttls or implicit")
		}
	}
	if len(problems) > 0 {
		return s, fault.Fields("the SMTP settings are not valid", problems...)
	}
	return s, nil
}

// ParseHTTPSettings decodes and checks HTTP-credentials settings, filling in defaults.
func ParseHTTPSettings(raw json.RawMessage) (HTTPSettings, error) {
	s, err := decodeSettings[HTTPSettings](raw)
	if err != nil {
		return s, err
	}
	var problems []fault.FieldError
	bad := func(f, m string) { problems = append(problems, fault.FieldError{Field: f, Message: m}) }
	if s.Auth == "" {
		s.Auth = HTTPAuthNone
	}
	switch s.Auth {
	case HTTPAuthNone:
	case HTTPAuthBasic:
		if s.Username == "" {
			bad("username", "is required for basic authentication")
		}
	case HTTPAuthBearer:
		if s.Token == "" {
			bad("token", "is required for bearer authentication")
		}
	case HTTPAuthAPIKey:
		if s.APIKey == "" {
			bad("api_key", "is required for API key authentication")
		}
		if s.APIKeyIn == "" {
			s.APIKeyIn = "header"
		}
		if s.APIKeyIn != "header" && s.APIKeyIn != "query" {
			bad("api_key_in", "must be header or query")
		}
		if s.APIKeyName == "" {
			s.APIKeyName = "X-API-Key"
			if s.APIKeyIn == "query" {
				s.APIKeyName = "api_key"
			}
		}
	case HTTPAuthHMAC:
		if s.HMACSecret == "" {
			bad("hmac_secret", "is required for HMAC signing")
		}
		if s.HMACHeader == "" {
			s.HMACHeader = "X-Signature"
		}
		if s.HMACPrefix == nil {
			p := "sha256="
			s.HMACPrefix = &p
		}
	default:
		bad("auth", "must be none, basic, bearer, api_key or hmac")
	}
	for field, h := range map[string]string{"hmac_header": s.HMACHeader, "hmac_timestamp_header": s.HMACTimestampHeader} {
		if h != "" && !validHeaderName(h) {
			bad(field, "is not a valid header name")
		}
	}
	if s.Auth == HTTPAuthAPIKey && s.APIKeyIn == "header" && !validHeaderName(s.APIKeyName) {
		bad("api_key_name", "is not a valid header name")
	}
	for field, u := range map[string]string{"base_url": s.BaseURL, "test_url": s.TestURL} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
			bad(field, "must be an http:// or https:// URL without user name or password")
		}
	}
	for i, h := range s.AllowedHosts {
		if _, err := parseOrigin(h); err != nil {
			bad(fmt.Sprintf("allowed_hosts[%d]", i), err.Error())
		}
	}
	if len(problems) > 0 {
		return s, fault.Fields("the HTTP settings are not valid", problems...)
	}
	return s, nil
}

// origin is where a request goes: scheme, host (lower case, no trailing dot, an address in canonical form) and
// port.
type origin struct{ scheme, host, port string }

// parseOrigin reads an allowed_hosts entry: host, host:port or scheme://host[:port], https when no scheme is given.
func parseOrigin(entry string) (origin, error) {
	raw := strings.TrimSpace(entry)
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" ||
		u.Fragment != "" || strings.ContainsAny(u.Host, "*%") {
		return origin{}, errors.New("must be a host, host:port or http(s)://host[:port], without path or wildcard")
	}
	o, ok := originOf(u)
	if !ok {
		return origin{}, errors.New("must be an http or https host")
	}
	return o, nil
}

// originOf returns the origin a URL is sent to; ok is false for a URL that is not plain http(s) to a host, or
// that carries a user name or password (which would make "host" ambiguous to a reader, and is never needed).
func originOf(u *url.URL) (origin, bool) {
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.User != nil || u.Hostname() == "" {
		return origin{}, false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String()
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if scheme == "http" {
			port = "80"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return origin{}, false
	}
	port = strings.TrimLeft(port, "0")
	return origin{scheme: scheme, host: host, port: port}, true
}

// credentialHosts are the origins an HTTP integration's credentials may be sent to: its base URL's and its
// allowed hosts. Empty when the admin set neither.
func (s HTTPSettings) credentialHosts() []origin {
	var out []origin
	if s.BaseURL != "" {
		if u, err := url.Parse(s.BaseURL); err == nil {
			if o, ok := originOf(u); ok {
				out = append(out, o)
			}
		}
	}
	for _, h := range s.AllowedHosts {
		if o, err := parseOrigin(h); err == nil {
			out = append(out, o)
		}
	}
	return out
}

// hasCredentials reports whether requests made with the integration carry a secret.
func (s HTTPSettings) hasCredentials() bool { return s.Auth != HTTPAuthNone && s.Auth != "" }

// allows reports whether u goes to one of origins.
func allows(origins []origin, u *url.URL) bool {
	o, ok := originOf(u)
	return ok && slices.Contains(origins, o)
}

// ParsePostgresSettings decodes and checks PostgreSQL settings, filling in defaults.
func ParsePostgresSettings(raw json.RawMessage) (PostgresSettings, error) {
	s, err := decodeSettings[PostgresSettings](raw)
	if err != nil {
		return s, err
	}
	var problems []fault.FieldError
	bad := func(f, m string) { problems = append(problems, fault.FieldError{Field: f, Message: m}) }
	if s.Port == 0 {
		s.Port = 5432
	}
	if s.SSLMode == "" {
		s.SSLMode = "require"
	}
	switch s.SSLMode {
	case "disable", "require", "verify-ca", "verify-full":
	default:
		bad("sslmode", "must be disable, require, verify-ca or verify-full")
	}
	checkHost(s.Host, bad)
	checkPort(s.Port, bad)
	if s.Database == "" {
		bad("database", "is required")
	}
	if s.User == "" {
		bad("user", "is required")
	}
	if s.MaxConnections == 0 {
		s.MaxConnections = 4
	}
	if s.MaxConnections < 1 || s.MaxConnections > 20 {
		bad("max_connections", "must be between 1 and 20")
	}
	if len(problems) > 0 {
		return s, fault.Fields("the PostgreSQL settings are not valid", problems...)
	}
	return s, nil
}

func checkHost(host string, bad func(f, m string)) {
	if host == "" {
		bad("host", "is required")
	} else if strings.ContainsAny(host, " /?#@") || strings.HasPrefix(host, "-") {
		bad("host", "is not a host name or address")
	}
}

func checkPort(port int, bad func(f, m string)) {
	if port < 1 || port > 65535 {
		bad("port", "must be between 1 and 65535")
	}
}

func validHeaderName(h string) bool {
	if h == "" || len(h) > 128 {
		return false
	}
	for _, r := range h {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// ValidateIntegration checks the settings of an integration of kind, given as one object (plain config and
// secrets together), as the integrations form and API submit them.
func ValidateIntegration(kind string, settings json.RawMessage) error {
	var err error
	switch kind {
	case KindSMTP:
		_, err = ParseSMTPSettings(settings)
	case KindHTTP:
		var s HTTPSettings
		if s, err = ParseHTTPSettings(settings); err == nil {
			err = checkHTTPHosts(s)
		}
	case KindPostgres:
		_, err = ParsePostgresSettings(settings)
	default:
		return fault.Fields("unknown integration kind", fault.FieldError{Field: "kind", Message: "must be smtp, http or postgres"})
	}
	return err
}

// ValidateIntegrationWithoutSecrets checks an integration's shown settings as they travel without their secrets
// (an organization bundle): a secret the settings require ("token is required for bearer authentication") counts
// as given, since it is entered again after the import; every other rule holds. Only the secrets the first check
// asks for are assumed, so that an assumed secret never brings rules of its own (an HTTP integration's hosts).
func ValidateIntegrationWithoutSecrets(kind string, settings json.RawMessage) error {
	err := ValidateIntegration(kind, settings)
	f := fault.As(err)
	if err == nil || f.Code != fault.Invalid {
		return err
	}
	var shown map[string]any
	if json.Unmarshal(settings, &shown) != nil || shown == nil {
		return err
	}
	assumed := false
	for _, fe := range f.Fields {
		if _, given := shown[fe.Field]; !given && slices.Contains(secretFields[kind], fe.Field) {
			shown[fe.Field] = "secret entered after the import"
			assumed = true
		}
	}
	if !assumed {
		return err
	}
	raw, marshalErr := json.Marshal(shown)
	if marshalErr != nil {
		return err
	}
	return ValidateIntegration(kind, raw)
}

// checkHTTPHosts asks for the hosts an HTTP integration's credentials may go to, and keeps its test URL among
// them. Only saving asks: a stored integration without hosts stays readable, and the node says what to set.
func checkHTTPHosts(s HTTPSettings) error {
	if !s.hasCredentials() {
		return nil
	}
	hosts := s.credentialHosts()
	if len(hosts) == 0 {
		return fault.Fields("the HTTP settings are not valid", fault.FieldError{Field: "allowed_hosts",
			Message: "set base_url or allowed_hosts: the integration's credentials are sent only to these hosts"})
	}
	if s.TestURL != "" {
		if u, err := url.Parse(s.TestURL); err == nil && !allows(hosts, u) {
			return fault.Fields("the HTTP settings are not valid", fault.FieldError{Field: "test_url",
				Message: "must be on the base URL's host or one of allowed_hosts"})
		}
	}
	return nil
}

// SplitSettings separates submitted settings into the config shown again and the secrets sealed at rest. Only
// non-empty secrets are returned, so an edit form that leaves a password blank keeps the stored one.
func SplitSettings(kind string, settings json.RawMessage) (config, secretValues json.RawMessage, err error) {
	secretsOf, ok := secretFields[kind]
	if !ok {
		return nil, nil, fault.Fields("unknown integration kind", fault.FieldError{Field: "kind", Message: "must be smtp, http or postgres"})
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(settings, &all); err != nil || all == nil {
		return nil, nil, fault.New(fault.Invalid, "the settings must be a JSON object")
	}
	plain, sealed := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for k, v := range all {
		if slices.Contains(secretsOf, k) {
			if s := string(v); s != `""` && s != "null" {
				sealed[k] = v
			}
			continue
		}
		plain[k] = v
	}
	config, _ = json.Marshal(plain)
	if len(sealed) > 0 {
		secretValues, _ = json.Marshal(sealed)
	}
	return config, secretValues, nil
}

// ConnectionTester checks that an integration's settings reach a working service, for the "test connection"
// action of the integrations page and API. Its checks go through the same guard as the nodes.
type ConnectionTester struct {
	guard *Guard
	http  *http.Client
	// SMTPTLSConfig, when set, is used for SMTP TLS (tests trust their own CA); the system roots otherwise.
	SMTPTLSConfig *tls.Config
}

// NewConnectionTester returns a tester allowing the same internal hosts as the nodes (OUTBOUND_ALLOWED_HOSTS).
func NewConnectionTester(allowedHosts []string) (*ConnectionTester, error) {
	g, err := NewGuard(allowedHosts)
	if err != nil {
		return nil, err
	}
	return &ConnectionTester{guard: g, http: newGuardedHTTPClient(g, GuardOptions{})}, nil
}

// testTimeout bounds one connection test: a person waits for it.
const testTimeout = 15 * time.Second

// Test checks an integration's settings reach a working service: SMTP connects, greets (EHLO) and
// authenticates; HTTP requests the test URL and wants a 2xx or 3xx answer; PostgreSQL connects, checks that its
// role is not privileged (see checkDatabaseRole) and runs SELECT 1. The error's message is fit to show the person
// testing, with the integration's secrets redacted.
func (t *ConnectionTester) Test(ctx context.Context, in engine.Integration) error {
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	var red Redactor
	red.addIntegration(in.Kind, in.Settings)
	return red.Error(t.test(ctx, in))
}

func (t *ConnectionTester) test(ctx context.Context, in engine.Integration) error {
	switch in.Kind {
	case KindSMTP:
		s, err := ParseSMTPSettings(in.Settings)
		if err != nil {
			return err
		}
		return t.testSMTP(ctx, s)
	case KindHTTP:
		s, err := ParseHTTPSettings(in.Settings)
		if err != nil {
			return err
		}
		return t.testHTTP(ctx, s)
	case KindPostgres:
		s, err := ParsePostgresSettings(in.Settings)
		if err != nil {
			return err
		}
		conn, err := pgx.ConnectConfig(ctx, postgresConnConfig(s, t.guard))
		if err != nil {
			return fault.Wrap(err, fault.Invalid, "cannot connect: "+pgErrorText(err))
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if err := checkDatabaseRole(ctx, conn, in.Label(), in.AllowPrivilegedRole); err != nil {
			return fault.Wrap(err, fault.Invalid, err.Error())
		}
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			return fault.Wrap(err, fault.Invalid, "connected, but SELECT 1 failed: "+pgErrorText(err))
		}
		return nil
	}
	return ValidateIntegration(in.Kind, in.Settings)
}

// testSMTP greets the server the way platform/mail's sender does, without sending a message: that sender has no
// way to stop before MAIL FROM.
func (t *ConnectionTester) testSMTP(ctx context.Context, s SMTPSettings) error {
	addr, err := t.guard.Resolve(ctx, s.Host)
	if err != nil {
		return fault.Wrap(err, fault.Invalid, "cannot connect: "+err.Error())
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr.String(), strconv.Itoa(s.Port)))
	if err != nil {
		return fault.Wrap(err, fault.Invalid, "cannot connect: "+err.Error())
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	tlsConfig := t.SMTPTLSConfig.Clone()
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	tlsConfig.ServerName = s.Host
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)
	var c *smtp.Client
	switch s.TLS {
	case string(cmmail.TLSImplicit):
		c = smtp.NewClient(tls.Client(conn, tlsConfig))
	case string(cmmail.TLSStartTLS):
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			conn.Close()
			return fault.Wrap(err, fault.Invalid, "STARTTLS failed: "+err.Error())
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if err := c.Hello(orDefault(s.HelloName, "localhost")); err != nil {
		return fault.Wrap(err, fault.Invalid, "the server refused EHLO: "+err.Error())
	}
	if s.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.Username, s.Password)); err != nil {
			return fault.Wrap(err, fault.Invalid, "authentication failed: "+err.Error())
		}
	}
	_ = c.Quit()
	return nil
}

func (t *ConnectionTester) testHTTP(ctx context.Context, s HTTPSettings) error {
	target := s.TestURL
	if target == "" {
		target = s.BaseURL
	}
	if target == "" {
		return fault.Fields("nothing to test", fault.FieldError{Field: "test_url", Message: "set a test URL to test the connection"})
	}
	if err := checkHTTPHosts(s); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fault.Wrap(err, fault.Invalid, "the test URL is not valid")
	}
	hosts := s.credentialHosts()
	if s.hasCredentials() && !allows(hosts, req.URL) {
		return fault.Fields("the test URL is not valid", fault.FieldError{Field: "test_url",
			Message: "must be on the base URL's host or one of allowed_hosts"})
	}
	if req, err = authenticate(req, s, hosts, nil, time.Now()); err != nil {
		return err
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return fault.Wrap(err, fault.Invalid, "the request failed: "+err.Error())
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fault.New(fault.Invalid, "the test URL answered %s", resp.Status)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
