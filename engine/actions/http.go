package actions

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concertmaster/concertmaster/engine"
)

// Bounds of action.http.
const (
	DefaultHTTPTimeout       = 30 * time.Second
	MaxHTTPTimeout           = 5 * time.Minute
	DefaultResponseMaxBytes  = 5 << 20
	MaxResponseMaxBytes      = 50 << 20
	MaxResponseCacheTTL      = 24 * time.Hour
	maxRequestBodyBytes      = 10 << 20
	errorBodySnippetBytes    = 300
	defaultRetryAfterCeiling = 10 * time.Minute
)

// Retry classes of action.http's retry_on.
const (
	RetryOnNetwork     = "network"
	RetryOnServerError = "5xx"
	RetryOnTooMany     = "429"
)

// HTTPConfig is the config of action.http.
type HTTPConfig struct {
	Method string `json:"method,omitempty"`
	// URL is a template; relative to the integration's base_url when it has one.
	URL string `json:"url"`
	// Headers and Query are templates per name.
	Headers map[string]string `json:"headers,omitempty"`
	Query   map[string]string `json:"query,omitempty"`
	// Body is any JSON value whose strings are templates: sent as JSON, as a form (an object), or raw (a string).
	Body        json.RawMessage `json:"body,omitempty"`
	BodyType    string          `json:"body_type,omitempty"`
	ContentType string          `json:"content_type,omitempty"`
	// IntegrationID names an HTTP-credentials integration that authenticates the request (and rate-limits it).
	IntegrationID string `json:"integration_id,omitempty"`
	Timeout       string `json:"timeout,omitempty"`
	// RetryOn lists the failures worth another attempt: network, 5xx, 429. Default all three.
	RetryOn []string `json:"retry_on,omitempty"`
	// IgnoreStatus makes 4xx and 5xx answers an output (with their status) rather than an error.
	IgnoreStatus bool               `json:"ignore_status,omitempty"`
	Response     HTTPResponseConfig `json:"response,omitempty"`
	// Upload sends a stored file as multipart/form-data (http_files.go).
	Upload *HTTPUploadConfig `json:"upload,omitempty"`
}

// HTTPResponseConfig says what to do with the answer.
type HTTPResponseConfig struct {
	// MaxBytes bounds the body read (default 5 MB, at most 50 MB); past it the node fails, or keeps the first
	// MaxBytes with truncated: true when Truncate is set.
	MaxBytes int64 `json:"max_bytes,omitempty"`
	Truncate bool  `json:"truncate,omitempty"`
	// CacheTTL keeps successful GET and HEAD answers for that long in the services' response cache (Redis, or the
	// worker's memory): the same request within it is not sent again.
	CacheTTL string `json:"cache_ttl,omitempty"`
	// Format is auto (JSON when the answer says so, text when it is text, base64 otherwise), json, text,
	// base64, or file: the body streams into storage and the output holds the file's reference.
	Format string `json:"format,omitempty"`
}

const httpSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "templates": {"type": "object", "maxProperties": 100,
      "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_|~-]{1,128}$"},
      "additionalProperties": {"type": "string", "maxLength": 65536, "x-expression": "template"}},
    "duration": {"type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
  },
  "properties": {
    "method": {"title": "Method", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], "default": "GET"},
    "url": {"title": "URL", "type": "string", "minLength": 1, "maxLength": 8192, "x-expression": "template",
      "description": "http(s) URL, a template. Relative to the integration's base URL when it has one."},
    "headers": {"title": "Headers", "$ref": "#/$defs/templates"},
    "query": {"title": "Query parameters", "$ref": "#/$defs/templates"},
    "body": {"title": "Body", "x-expression": "template", "description": "JSON whose strings are templates; an object for form bodies, a string for raw ones."},
    "body_type": {"title": "Body type", "enum": ["json", "form", "raw"], "default": "json"},
    "content_type": {"title": "Content type (raw body)", "type": "string", "maxLength": 200},
    "integration_id": {"title": "Credentials", "type": "string", "format": "uuid",
      "description": "An HTTP integration: basic, bearer, API key or HMAC signing, and its rate limit."},
    "timeout": {"title": "Timeout", "$ref": "#/$defs/duration", "default": "30s"},
    "retry_on": {"title": "Retry on", "type": "array", "uniqueItems": true,
      "items": {"enum": ["network", "5xx", "429"]}, "default": ["network", "5xx", "429"],
      "description": "Failures worth another attempt (with the node's retry policy); 429 and 503 wait as Retry-After says."},
    "ignore_status": {"title": "Output error answers", "type": "boolean", "default": false,
      "description": "Output 4xx and 5xx answers with their status instead of failing."},
    "upload": {"title": "Upload a file", "type": "object", "additionalProperties": false, "required": ["file"],
      "description": "Sends a stored file as multipart/form-data; the body's fields become the other parts.",
      "properties": {
        "file": {"title": "File", "type": "string", "minLength": 1, "maxLength": 65536, "x-expression": "expression",
          "description": "An expression giving the file: a reference, or an object with a ref such as nodes.export.output."},
        "field": {"title": "Field name", "type": "string", "minLength": 1, "maxLength": 200, "default": "file"},
        "filename": {"title": "File name", "type": "string", "minLength": 1, "maxLength": 500, "x-expression": "template"}
      }},
    "response": {"title": "Response", "type": "object", "additionalProperties": false, "properties": {
      "max_bytes": {"title": "Maximum size (bytes)", "type": "integer", "minimum": 1, "maximum": 1073741824, "default": 5242880,
        "description": "At most 50 MB, or 1 GB for the file format."},
      "truncate": {"title": "Truncate larger answers", "type": "boolean", "default": false},
      "cache_ttl": {"title": "Cache for", "$ref": "#/$defs/duration"},
      "format": {"title": "Body format", "enum": ["auto", "json", "text", "base64", "file"], "default": "auto",
        "description": "file stores the body as a file (for transform.parse, an e-mail attachment, an upload)."}
    }}
  },
  "required": ["url"],
  "additionalProperties": false,
  "if": {"properties": {"body_type": {"const": "form"}}, "required": ["body_type"]},
  "then": {"properties": {"body": {"type": "object"}}}
}`

// HTTPAction calls an HTTP API.
func HTTPAction() engine.NodeType {
	return engine.NodeType{
		Name:         "action.http",
		Category:     engine.CategoryAction,
		Title:        "HTTP request",
		Description:  "Calls an HTTP API, with credentials from an integration, retries on network errors, 5xx and 429, and an optional response cache. Outputs the status, headers and body.",
		ConfigSchema: json.RawMessage(httpSchema),
		SideEffects:  true,
		Example: json.RawMessage(`{"method": "POST", "url": "https://api.example.com/orders/{{ input.id }}/notes",
  "headers": {"X-Request-Source": "concertmaster"}, "body": {"text": "{{ input.note }}", "total": "{{ input.total }}"},
  "integration_id": "0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e", "timeout": "10s", "retry_on": ["network", "5xx", "429"]}`),
		Compile: compileHTTP,
	}
}

type httpNode struct {
	method        string
	url           *engine.Template
	headers       *stringTemplates
	query         *stringTemplates
	body          *valueTemplate
	bodyType      string
	contentType   string
	integrationID string
	timeout       time.Duration
	upload        *httpUpload
	retryOn       map[string]bool
	ignoreStatus  bool
	maxBytes      int64
	truncate      bool
	cacheTTL      time.Duration
	format        string
}

func compileHTTP(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[HTTPConfig](cfg)
	if err != nil {
		return nil, err
	}
	n := &httpNode{method: conf.Method, bodyType: conf.BodyType, contentType: conf.ContentType,
		integrationID: conf.IntegrationID, ignoreStatus: conf.IgnoreStatus, maxBytes: conf.Response.MaxBytes,
		truncate: conf.Response.Truncate, format: conf.Response.Format, retryOn: map[string]bool{}}
	if n.method == "" {
		n.method = http.MethodGet
	}
	if n.maxBytes == 0 {
		n.maxBytes = DefaultResponseMaxBytes
	}
	if n.format == "" {
		n.format = "auto"
	}
	if n.timeout, err = parseDurationField("timeout", conf.Timeout, DefaultHTTPTimeout, MaxHTTPTimeout); err != nil {
		return nil, err
	}
	if n.cacheTTL, err = parseDurationField("response.cache_ttl", conf.Response.CacheTTL, 0, MaxResponseCacheTTL); err != nil {
		return nil, err
	}
	if n.cacheTTL > 0 && n.method != http.MethodGet && n.method != http.MethodHead {
		return nil, engine.ConfigError("response.cache_ttl", "only GET and HEAD answers are cached")
	}
	if err := checkResponseFormat(n); err != nil {
		return nil, err
	}
	retryOn := conf.RetryOn
	if retryOn == nil {
		retryOn = []string{RetryOnNetwork, RetryOnServerError, RetryOnTooMany}
	}
	for _, r := range retryOn {
		n.retryOn[r] = true
	}
	if n.url, err = c.Template("url", conf.URL); err != nil {
		return nil, err
	}
	for name := range conf.Headers {
		if strings.EqualFold(name, "host") || strings.EqualFold(name, "content-length") {
			return nil, engine.ConfigError("headers."+name, "is set by the request itself")
		}
	}
	if n.headers, err = compileStringMap(c, "headers", conf.Headers); err != nil {
		return nil, err
	}
	if n.query, err = compileStringMap(c, "query", conf.Query); err != nil {
		return nil, err
	}
	if len(conf.Body) > 0 && string(conf.Body) != "null" {
		if n.method == http.MethodGet || n.method == http.MethodHead {
			return nil, engine.ConfigError("body", "a "+n.method+" request has no body")
		}
		if n.bodyType == "" {
			n.bodyType = "json"
		}
		if n.bodyType == "raw" && !bytes.HasPrefix(bytes.TrimSpace(conf.Body), []byte(`"`)) {
			return nil, engine.ConfigError("body", "a raw body is a string (a template)")
		}
		if n.body, err = compileValue(c, "body", conf.Body); err != nil {
			return nil, err
		}
	}
	if err := compileUpload(c, n, conf); err != nil {
		return nil, err
	}
	return n, nil
}

// Run sends the request and outputs {status, headers, body, url}, plus truncated and cached when they apply. The
// integration's secrets are redacted from both the output and the error (a key sent in the query would otherwise
// come back in "url" and in error messages).
func (n *httpNode) Run(ctx context.Context, in engine.Input) (out engine.Output, err error) {
	var red Redactor
	defer func() { out, err = red.Result(out, err) }()
	svc := in.Services
	if svc == nil || svc.HTTP == nil {
		return engine.Output{}, engine.Permanent(errors.New("HTTP requests are not available to this execution"))
	}
	vars := in.Vars()
	dest, err := n.destination(ctx, svc, vars, &red)
	if err != nil {
		return engine.Output{}, err
	}
	header, body, err := n.headerAndBody(ctx, in, vars)
	if err != nil {
		return engine.Output{}, err
	}

	// Without a response cache in the services, every run sends its request (engine.Services.ResponseCache).
	var cache engine.ResponseCache
	var cacheKey string
	if n.cacheTTL > 0 && svc.ResponseCache != nil {
		cache = svc.ResponseCache
		cacheKey = requestDigest(n.integrationID, n.method, dest.url.String(), header, body)
		if hit, ok := cache.Get(ctx, cacheKey); ok {
			var out map[string]any
			if json.Unmarshal(hit, &out) == nil {
				out["cached"] = true
				return engine.Output{Data: out}, nil
			}
		}
	}

	if n.integrationID != "" {
		if err := takeTurn(ctx, svc, dest.integration); err != nil {
			return engine.Output{}, err
		}
	}
	reqCtx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, n.method, dest.url.String(), bytes.NewReader(body))
	if err != nil {
		return engine.Output{}, engine.Permanent(fmt.Errorf("request: %w", err))
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header = header
	if header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "ConcertMaster")
	}
	if n.integrationID != "" {
		if req, err = authenticate(req, dest.settings, dest.hosts, body, time.Now()); err != nil {
			return engine.Output{}, engine.Permanent(err)
		}
	}

	resp, err := svc.HTTP.Do(req)
	if err != nil {
		return engine.Output{}, n.networkError(ctx, err)
	}
	defer resp.Body.Close()
	if n.format == formatFile {
		res, err := n.download(ctx, svc, resp)
		return engine.Output{Data: res}, err
	}
	res, truncated, err := n.answer(ctx, resp)
	if err != nil {
		return engine.Output{}, err
	}
	if cache != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 && !truncated {
		if b, err := json.Marshal(red.Value(res)); err == nil {
			cache.Set(ctx, cacheKey, b, n.cacheTTL)
		}
	}
	return engine.Output{Data: res}, nil
}

// httpDestination is where a run's request goes: its URL with the query rendered in and, through an integration,
// the integration, its settings and the hosts its credentials may be sent to (nil: anywhere the guard allows).
type httpDestination struct {
	url         *url.URL
	integration engine.Integration
	settings    HTTPSettings
	hosts       []origin
}

// destination renders the URL and the query and, for a node with an integration, resolves it (its secrets join
// red) and refuses a URL outside the hosts its credentials are meant for.
func (n *httpNode) destination(ctx context.Context, svc *engine.Services, vars *engine.Vars, red *Redactor) (httpDestination, error) {
	var d httpDestination
	rawURL, err := n.url.Render(ctx, vars)
	if err != nil {
		return d, err
	}
	if n.integrationID != "" {
		if d.integration, err = resolveIntegration(ctx, svc, n.integrationID, KindHTTP); err != nil {
			return d, err
		}
		red.addIntegration(KindHTTP, d.integration.Settings)
		if d.settings, err = ParseHTTPSettings(d.integration.Settings); err != nil {
			return d, engine.Permanent(fmt.Errorf("integration %s: %w", n.integrationID, err))
		}
		if d.settings.hasCredentials() {
			if d.hosts = d.settings.credentialHosts(); len(d.hosts) == 0 {
				return d, engine.Permanent(fmt.Errorf("integration %q has no base URL or allowed hosts: "+
					"an admin must set base_url or allowed_hosts on it before an HTTP node can send its credentials",
					d.integration.Label()))
			}
		}
	}
	if d.url, err = requestURL(rawURL, d.settings.BaseURL); err != nil {
		return d, engine.Permanent(err)
	}
	if d.hosts != nil && !allows(d.hosts, d.url) {
		return d, engine.Permanent(fmt.Errorf("url %s://%s is not among the hosts of integration %q "+
			"(its base_url and allowed_hosts): its credentials are sent only there", d.url.Scheme, d.url.Host,
			d.integration.Label()))
	}
	q := d.url.Query()
	if err := n.query.render(ctx, vars, func(k, v string) error { q.Add(k, v); return nil }); err != nil {
		return d, err
	}
	d.url.RawQuery = q.Encode()
	return d, nil
}

// headerAndBody renders the request's headers (refusing line breaks) and body, with the body's Content-Type and the
// run's idempotency key unless the author set their own.
func (n *httpNode) headerAndBody(ctx context.Context, in engine.Input, vars *engine.Vars) (http.Header, []byte, error) {
	header := http.Header{}
	if err := n.headers.render(ctx, vars, func(k, v string) error {
		if strings.ContainsAny(v, "\r\n\x00") {
			return engine.Permanent(fmt.Errorf("header %s: the value contains a line break", k))
		}
		header.Add(k, v)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	var body []byte
	var ctype string
	var err error
	if n.upload != nil {
		body, ctype, err = n.uploadBody(ctx, in, vars)
	} else {
		body, ctype, err = n.renderBody(ctx, vars)
	}
	if err != nil {
		return nil, nil, err
	}
	if ctype != "" && header.Get("Content-Type") == "" {
		header.Set("Content-Type", ctype)
	}
	if carriesIdempotencyKey(n.method) && header.Get(IdempotencyKeyHeader) == "" {
		// The same for every attempt and every resume of this run: a receiver that deduplicates on it (as Stripe's
		// API does) acts once on a request repeated because its answer or its record was lost. An author's own
		// header wins.
		header.Set(IdempotencyKeyHeader, in.IdempotencyKey())
	}
	return header, body, nil
}

// answer reads the response within response.max_bytes and turns it into the node's output; a status the node
// treats as failure is an error. truncated reports a body cut at the limit (allowed by response.truncate).
func (n *httpNode) answer(ctx context.Context, resp *http.Response) (res map[string]any, truncated bool, err error) {
	data, truncated, err := readLimited(resp.Body, n.maxBytes)
	if err != nil {
		return nil, false, n.networkError(ctx, err)
	}
	if truncated && !n.truncate {
		return nil, false, engine.Permanent(fmt.Errorf("the answer is larger than %d bytes (response.max_bytes)", n.maxBytes))
	}
	if err := n.statusError(resp, data); err != nil {
		return nil, false, err
	}
	res = map[string]any{
		"status":  resp.StatusCode,
		"headers": responseHeaders(resp.Header),
		"body":    decodeBody(data, resp.Header.Get("Content-Type"), n.format, truncated),
		"url":     resp.Request.URL.String(),
	}
	if n.format == "base64" || (n.format == "auto" && len(data) > 0 && !isTextual(data, resp.Header.Get("Content-Type"))) {
		res["body_encoding"] = "base64"
	}
	if truncated {
		res["truncated"] = true
	}
	return res, truncated, nil
}

// IdempotencyKeyHeader is the header that carries a node run's idempotency key (engine.Input.IdempotencyKey) on the
// requests that change something.
const IdempotencyKeyHeader = "Idempotency-Key"

// carriesIdempotencyKey reports whether a request of method gets an Idempotency-Key: the methods that are not safe
// (RFC 9110). GET, HEAD and OPTIONS change nothing to repeat, and a key would make each run's GET a different
// request to the response cache.
func carriesIdempotencyKey(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// requestURL parses the rendered URL, resolving a relative one against the integration's base URL. Whether the
// credentials may go there is the caller's check (credentialHosts).
func requestURL(raw, base string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("url %q is not valid: %w", raw, err)
	}
	if base != "" && !u.IsAbs() {
		b, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("the integration's base URL is not valid")
		}
		if !strings.HasSuffix(b.Path, "/") {
			b.Path += "/"
		}
		u = b.ResolveReference(&url.URL{Path: strings.TrimPrefix(u.Path, "/"), RawQuery: u.RawQuery})
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: only http and https URLs can be requested", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q names no host", raw)
	}
	return u, nil
}

func (n *httpNode) renderBody(ctx context.Context, vars *engine.Vars) ([]byte, string, error) {
	if n.body == nil {
		return nil, "", nil
	}
	v, err := n.body.render(ctx, vars)
	if err != nil {
		return nil, "", err
	}
	var b []byte
	var ctype string
	switch n.bodyType {
	case "form":
		obj, _ := v.(map[string]any)
		form := url.Values{}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if arr, ok := obj[k].([]any); ok {
				for _, e := range arr {
					form.Add(k, engine.FormatValue(e))
				}
				continue
			}
			form.Set(k, engine.FormatValue(obj[k]))
		}
		b, ctype = []byte(form.Encode()), "application/x-www-form-urlencoded"
	case "raw":
		b, ctype = []byte(engine.FormatValue(v)), n.contentType
		if ctype == "" {
			ctype = "text/plain; charset=utf-8"
		}
	default:
		if b, err = json.Marshal(v); err != nil {
			return nil, "", engine.Permanent(fmt.Errorf("body: %w", err))
		}
		ctype = "application/json"
	}
	if len(b) > maxRequestBodyBytes {
		return nil, "", engine.Permanent(fmt.Errorf("the body is larger than %d MB", maxRequestBodyBytes>>20))
	}
	return b, ctype, nil
}

// networkError classifies a failure to get an answer: refused by the guard (permanent), the node's own deadline
// (the engine's business), or a network error, retried when retry_on has network.
func (n *httpNode) networkError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var offHosts *RedirectOffHostsError
	if IsBlocked(err) || errors.As(err, &offHosts) {
		return engine.Permanent(err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", n.timeout, err)
	}
	if !n.retryOn[RetryOnNetwork] {
		return engine.Permanent(err)
	}
	return err
}

// statusError turns an error answer into the node's error: 429 and 5xx are retried as retry_on says (after
// Retry-After when the server sent one), other 4xx answers are permanent.
func (n *httpNode) statusError(resp *http.Response, body []byte) error {
	code := resp.StatusCode
	if code < 400 || n.ignoreStatus {
		return nil
	}
	snippet := body
	if len(snippet) > errorBodySnippetBytes {
		snippet = snippet[:errorBodySnippetBytes]
	}
	msg := resp.Status
	if s := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "")); s != "" {
		msg += ": " + s
	}
	err := fmt.Errorf("%s %s answered %s", resp.Request.Method, resp.Request.URL.Redacted(), msg)
	class := ""
	switch {
	case code == http.StatusTooManyRequests:
		class = RetryOnTooMany
	case code >= 500:
		class = RetryOnServerError
	}
	if class == "" || !n.retryOn[class] {
		return engine.Permanent(err)
	}
	if wait, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		return engine.RetryAfter(err, wait)
	}
	return err
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return min(time.Duration(secs)*time.Second, defaultRetryAfterCeiling), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), defaultRetryAfterCeiling), true
	}
	return 0, false
}

// readLimited reads at most limit bytes and reports whether there was more.
func readLimited(r io.Reader, limit int64) ([]byte, bool, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(data)) > limit {
		return data[:limit], true, nil
	}
	return data, false, nil
}

// responseHeaders turns headers into an object with lower-case names; repeated headers are joined by ", ".
func responseHeaders(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for k, v := range h {
		out[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return out
}

func isTextual(data []byte, ctype string) bool {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "json"), strings.HasSuffix(mt, "xml"),
		mt == "application/javascript", mt == "application/x-www-form-urlencoded", mt == "":
		return utf8.Valid(data)
	}
	return false
}

// decodeBody turns the answer's body into the output's: parsed JSON, text, or base64.
func decodeBody(data []byte, ctype, format string, truncated bool) any {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch format {
	case "json":
		var v any
		if json.Unmarshal(data, &v) == nil {
			return v
		}
		return string(data)
	case "text":
		return strings.ToValidUTF8(string(data), "\uFFFD")
	case "base64":
		return base64.StdEncoding.EncodeToString(data)
	}
	if len(data) == 0 {
		return nil
	}
	if strings.HasSuffix(mt, "json") && !truncated {
		var v any
		if json.Unmarshal(data, &v) == nil {
			return v
		}
	}
	if isTextual(data, ctype) {
		return string(data)
	}
	return base64.StdEncoding.EncodeToString(data)
}

// requestDigest identifies a request for the response cache; the services' cache adds the organization, so
// tenants never share entries. Credentials are part of the integration id, not of the digest: they never reach
// Redis.
func requestDigest(integrationID, method, target string, header http.Header, body []byte) string {
	h := sha256.New()
	for _, s := range []string{integrationID, method, target} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	names := make([]string, 0, len(header))
	for k := range header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(h, "%s:%q\x00", k, header[k])
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// credentialScopeKey marks a request's context with where its credentials may go, for the guarded client's
// redirect policy (checkRedirect).
type credentialScopeKey struct{}

// credentialScope is where a request carrying an integration's credentials may be redirected.
type credentialScope struct{ hosts []origin }

// authenticate adds an HTTP integration's credentials to req and returns it with its context marked with the
// hosts they may go to (see checkRedirect). For HMAC the signature covers the exact body bytes sent (and the
// timestamp, when the integration sends one).
func authenticate(req *http.Request, s HTTPSettings, hosts []origin, body []byte, now time.Time) (*http.Request, error) {
	switch s.Auth {
	case HTTPAuthBasic:
		req.SetBasicAuth(s.Username, s.Password)
	case HTTPAuthBearer:
		req.Header.Set("Authorization", "Bearer "+s.Token)
	case HTTPAuthAPIKey:
		if s.APIKeyIn == "query" {
			q := req.URL.Query()
			q.Set(s.APIKeyName, s.APIKey)
			req.URL.RawQuery = q.Encode()
		} else {
			req.Header.Set(s.APIKeyName, s.APIKey)
		}
	case HTTPAuthHMAC:
		mac := hmac.New(sha256.New, []byte(s.HMACSecret))
		if s.HMACTimestampHeader != "" {
			ts := strconv.FormatInt(now.Unix(), 10)
			req.Header.Set(s.HMACTimestampHeader, ts)
			mac.Write([]byte(ts + "."))
		}
		mac.Write(body)
		prefix := ""
		if s.HMACPrefix != nil {
			prefix = *s.HMACPrefix
		}
		req.Header.Set(s.HMACHeader, prefix+hex.EncodeToString(mac.Sum(nil)))
	}
	if !s.hasCredentials() {
		return req, nil
	}
	return req.WithContext(context.WithValue(req.Context(), credentialScopeKey{}, credentialScope{hosts: hosts})), nil
}

// RedirectOffHostsError is the refusal to follow a redirect that would take a request carrying an integration's
// credentials (in headers, or in the query where the redirect may copy them) to a host that is not the
// integration's. Permanent: the server will redirect the same way next time.
type RedirectOffHostsError struct {
	From, To string
}

// Error names the hosts only: the redirect's URL may hold the credentials.
func (e *RedirectOffHostsError) Error() string {
	return fmt.Sprintf("%s redirected to %s, which is not among the integration's hosts (base_url, allowed_hosts); "+
		"the redirect was not followed, so its credentials stay with its own hosts", e.From, e.To)
}

// checkRedirect is the redirect policy of the guarded client. No Referer is ever sent (Go's client adds one from
// the previous URL, query included, which may hold a key). A request carrying an integration's credentials
// follows redirects only among the integration's hosts: following one elsewhere without them is not possible in
// general, since a key may be in the query the server copied into the new location.
func checkRedirect(req *http.Request, via []*http.Request, maxRedirects int) error {
	req.Header.Del("Referer")
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if scope, ok := req.Context().Value(credentialScopeKey{}).(credentialScope); ok && !allows(scope.hosts, req.URL) {
		return &RedirectOffHostsError{From: via[0].URL.Host, To: req.URL.Host}
	}
	return nil
}
