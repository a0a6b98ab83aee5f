package public

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Webhook limits and windows.
const (
	// signatureTolerance is the signature window: a signature older or newer than this is refused, and one inside
	// it is accepted once (its nonce is kept until the window has passed).
	signatureTolerance = 5 * time.Minute
	// nonceClockSlack keeps a nonce past its signature's window, for instances whose clocks run behind the
	// database's or each other's.
	nonceClockSlack = time.Minute
	// WebhookTargetTTL is how long a token's resolution is cached: the hot path then costs no query, and a
	// deactivated workflow stops answering within this time.
	WebhookTargetTTL = time.Second
)

// webhookTarget is a token resolved: the workflow version to run and how the trigger wants calls checked.
type webhookTarget struct {
	store.WebhookTarget
	config nodes.WebhookConfig
	sinks  []string
}

// webhookTargets caches token resolutions for WebhookTargetTTL, misses included (a flood at an unknown token must
// not reach the database either): a bounded LRU whose entries carry their expiry, read against the server's clock
// (Deps.Now) so tests step past the TTL instead of sleeping. Concurrent misses for one token share one load.
type webhookTargets struct {
	entries *lru.Cache[string, cachedTarget]
	loads   singleflight.Group
}

type cachedTarget struct {
	target  *webhookTarget
	err     error
	expires time.Time
}

const maxCachedTargets = 10000

func newWebhookTargets() *webhookTargets {
	entries, _ := lru.New[string, cachedTarget](maxCachedTargets) // fails only for a size below 1
	return &webhookTargets{entries: entries}
}

// resolveWebhook returns the target of a token, from the cache when it is fresh.
func (s *Handlers) resolveWebhook(ctx context.Context, token string) (*webhookTarget, error) {
	if e, ok := s.hookTargets.entries.Get(token); ok && s.Now().Before(e.expires) {
		return e.target, e.err
	}
	v, err, _ := s.hookTargets.loads.Do(token, func() (any, error) {
		// Other calls may be waiting for this load: the first caller going away must not fail theirs.
		t, err := s.loadWebhookTarget(context.WithoutCancel(ctx), token)
		if err != nil && fault.CodeOf(err) != fault.NotFound {
			return nil, err // a database hiccup is not cached
		}
		s.hookTargets.entries.Add(token, cachedTarget{target: t, err: err, expires: s.Now().Add(WebhookTargetTTL)})
		return cachedTarget{target: t, err: err}, nil
	})
	if err != nil {
		return nil, err
	}
	e := v.(cachedTarget)
	return e.target, e.err
}

func (s *Handlers) loadWebhookTarget(ctx context.Context, token string) (*webhookTarget, error) {
	t, err := s.deps.Store.WebhookTargetByToken(ctx, s.deps.WebhookKeys, token)
	if err != nil {
		return nil, err
	}
	plan, err := s.deps.Plans.Load(ctx, t.VersionID)
	if err != nil {
		return nil, err
	}
	trigger := plan.Trigger()
	if trigger.Type != "trigger.webhook" {
		return nil, fault.New(fault.NotFound, "no such webhook")
	}
	cfg, err := nodes.ParseWebhookConfig(trigger.Config)
	if err != nil {
		return nil, err
	}
	return &webhookTarget{WebhookTarget: t, config: cfg, sinks: sinkNodes(plan.Definition())}, nil
}

// sinkNodes lists the nodes without children: their outputs are a workflow's result.
func sinkNodes(def *engine.Definition) []string {
	hasChild := map[string]bool{}
	for _, e := range def.Edges {
		hasChild[e.From] = true
	}
	var sinks []string
	for _, n := range def.Nodes {
		if !hasChild[n.ID] {
			sinks = append(sinks, n.ID)
		}
	}
	return sinks
}

// hook is POST /hooks/{token} (and GET when the trigger allows it): the public entry of webhook-triggered
// workflows. It answers 202 {"execution_id"} only once the execution and its job are committed.
func (s *Handlers) hook(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if len(token) > 64 {
		s.Problem(w, r, fault.New(fault.NotFound, "no such webhook"))
		return
	}
	target, err := s.resolveWebhook(r.Context(), token)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	status, execID, err := s.acceptHook(w, r, target)
	size := 0
	if r.ContentLength > 0 {
		size = int(r.ContentLength)
	}
	defer func() {
		if s.deps.Deliveries != nil {
			s.deps.Deliveries.Add(store.WebhookDelivery{OrganizationID: target.OrganizationID, WebhookID: target.WebhookID,
				StatusCode: status, SizeBytes: size, ExecutionID: execID, RemoteIP: s.ClientIP(r), At: time.Now()})
		}
	}()
	if err != nil {
		s.Problem(w, r, err)
		return
	}
}

// acceptHook checks and accepts one call, answering it; it returns the status sent and the execution started.
func (s *Handlers) acceptHook(w http.ResponseWriter, r *http.Request, t *webhookTarget) (int, *uuid.UUID, error) {
	fail := func(err error) (int, *uuid.UUID, error) { return httpx.StatusOf(fault.As(err).Code), nil, err }
	if r.Method == http.MethodGet && !t.config.AllowGet {
		w.Header().Set("Allow", "POST")
		return fail(fault.New(fault.NotFound, "this webhook takes POST requests"))
	}
	if err := s.Allow(r, "hook:"+t.WebhookID.String(), s.deps.WebhookRateLimit, time.Second); err != nil {
		return fail(err)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.deps.WebhookMaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fail(fault.New(fault.TooLarge, "the body is larger than %d bytes", s.deps.WebhookMaxBodyBytes))
		}
		return fail(fault.Wrap(err, fault.Invalid, "the body could not be read"))
	}
	nonce, err := checkHookAuth(r, t, body, time.Now())
	if err != nil {
		return fail(err)
	}
	if err := s.deps.App.Triggers.Admit(r.Context(), t.OrganizationID); err != nil { // after auth: strangers spend no one's allowance
		return fail(err)
	}
	trigger, err := hookTriggerData(r, body, t.config)
	if err != nil {
		return fail(err)
	}

	id, err := uuid.NewV7()
	if err != nil {
		return fail(err)
	}
	exec := store.NewExecution{ID: id, OrganizationID: t.OrganizationID, WorkflowID: t.WorkflowID,
		WorkflowVersionID: t.VersionID, Version: t.Version, TriggerKind: "webhook", TriggerData: trigger,
		Priority: t.Priority}

	var finished <-chan store.ExecutionEvent
	if t.config.Response == nodes.WebhookRespondResult && s.deps.Events != nil {
		// Subscribed before the execution exists, so its end cannot be missed.
		ch, unsubscribe := s.deps.Events.Subscribe(func(e store.ExecutionEvent) bool {
			return e.ExecutionID == id && e.NodeID == "" && isFinal(e.Status)
		}, 1)
		defer unsubscribe()
		finished = ch
	}

	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > 255 {
			return fail(fault.Fields("bad Idempotency-Key", fault.FieldError{Field: "Idempotency-Key", Message: "must be at most 255 characters"}))
		}
		resp, replayed, err := s.deps.Store.ExecutionCreateIdempotent(r.Context(), exec, "webhook:"+t.WebhookID.String(), key, httpx.IdempotencyTTL, nonce)
		if err != nil {
			return fail(err)
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
			httpx.WriteJSON(w, resp.StatusCode, "application/json", resp.Body)
			return resp.StatusCode, nil, nil
		}
	} else if nonce != nil {
		if _, err := s.deps.Ingester.EnqueueOnce(r.Context(), exec, *nonce); err != nil {
			return fail(err)
		}
	} else if _, err := s.deps.Ingester.Enqueue(r.Context(), exec); err != nil {
		return fail(err)
	}

	if finished != nil {
		if status, out, ok := s.awaitResult(r, t, id, finished); ok {
			httpx.WriteJSON(w, status, "application/json", out)
			return status, &id, nil
		}
	}
	w.Header().Set("Location", "/api/v1/executions/"+id.String())
	httpx.Respond(w, http.StatusAccepted, map[string]any{"execution_id": id})
	return http.StatusAccepted, &id, nil
}

func isFinal(status string) bool {
	return status == store.StatusSucceeded || status == store.StatusFailed || status == store.StatusCanceled
}

// awaitResult waits (up to the trigger's timeout) for the execution and returns the workflow's result: the output
// of its last nodes, keyed by node id when several ran. ok is false when time ran out.
func (s *Handlers) awaitResult(r *http.Request, t *webhookTarget, id uuid.UUID, finished <-chan store.ExecutionEvent) (int, json.RawMessage, bool) {
	timer := time.NewTimer(time.Duration(t.config.TimeoutSeconds) * time.Second)
	defer timer.Stop()
	var ev store.ExecutionEvent
	select {
	case ev = <-finished:
	case <-timer.C:
		return 0, nil, false
	case <-r.Context().Done():
		return 0, nil, false
	}
	if ev.Status != store.StatusSucceeded {
		exec, err := s.deps.Store.ExecutionGet(r.Context(), t.OrganizationID, id)
		if err != nil {
			return 0, nil, false
		}
		body, _ := json.Marshal(map[string]any{"execution_id": id, "status": exec.Status, "error": exec.Error})
		return http.StatusBadGateway, body, true
	}
	runs, err := s.deps.Store.NodeRuns(r.Context(), t.OrganizationID, id)
	if err != nil {
		return 0, nil, false
	}
	outputs := map[string]json.RawMessage{}
	for _, run := range runs {
		for _, sink := range t.sinks {
			if run.NodeID == sink && run.Status == engine.NodeSucceeded && run.ItemIndex == nil {
				outputs[sink] = httpx.OrJSONNull(run.Output)
			}
		}
	}
	if len(outputs) == 1 {
		for _, out := range outputs {
			return http.StatusOK, out, true
		}
	}
	body, _ := json.Marshal(outputs)
	return http.StatusOK, body, true
}

var errBadSignature = fault.New(fault.Unauthorized, "the request is not signed with this webhook's secret")

// checkHookAuth applies the trigger's authentication mode. Every comparison is constant-time. A signed call gets
// its nonce, to be claimed with its execution so that it is accepted once; the other modes have none (their
// credential is the same on every call, so a repeat is indistinguishable from a new call).
func checkHookAuth(r *http.Request, t *webhookTarget, body []byte, now time.Time) (*store.WebhookNonce, error) {
	switch t.config.Auth {
	case nodes.WebhookAuthNone:
		return nil, nil
	case nodes.WebhookAuthHeader:
		return nil, matchSecret(t.Secrets, r.Header.Get(t.config.HeaderName))
	case nodes.WebhookAuthBasic:
		_, password, ok := r.BasicAuth()
		if !ok {
			return nil, errBadSignature
		}
		return nil, matchSecret(t.Secrets, password)
	default:
		signedAt, err := verifySignature(r.Header.Get(httpx.SignatureHeader), t.Secrets, body, now)
		if err != nil {
			return nil, err
		}
		return signatureNonce(t.WebhookID, signedAt, body), nil
	}
}

// signatureNonce identifies what a signature covers, the timestamp and the body: the same pair again is the same
// signed request, whichever secret or extra v1 values its header carries, so replaying it with a trimmed or
// reordered header is still a replay. The timestamp is the parsed one, so "t=0123" and "t=123" are one.
func signatureNonce(webhookID uuid.UUID, signedAt int64, body []byte) *store.WebhookNonce {
	h := sha256.New()
	h.Write([]byte(strconv.FormatInt(signedAt, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return &store.WebhookNonce{WebhookID: webhookID, Value: h.Sum(nil),
		ExpiresAt: time.Unix(signedAt, 0).Add(signatureTolerance + nonceClockSlack)}
}

func matchSecret(secrets [][]byte, given string) error {
	for _, secret := range secrets {
		if given != "" && subtle.ConstantTimeCompare(secret, []byte(given)) == 1 {
			return nil
		}
	}
	return errBadSignature
}

// verifySignature checks "t=<unix>,v1=<hex>[,v1=…]" against each secret, refusing a timestamp outside the window.
// It returns the signature's timestamp.
func verifySignature(header string, secrets [][]byte, body []byte, now time.Time) (int64, error) {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return 0, errBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > signatureTolerance || d < -signatureTolerance {
		return 0, fault.New(fault.Unauthorized, "the signature's timestamp is outside the 5-minute window")
	}
	for _, secret := range secrets {
		want := httpx.Sign(secret, sec, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return sec, nil
			}
		}
	}
	return 0, errBadSignature
}

// hookHeaderSkip are headers a workflow never sees: credentials and hop-by-hop noise.
var hookHeaderSkip = map[string]bool{"authorization": true, "cookie": true, strings.ToLower(httpx.SignatureHeader): true,
	"connection": true, "content-length": true}

// hookTriggerData is the trigger's output {body, headers, query, method}: JSON bodies parsed, forms as objects, any
// other body as text.
func hookTriggerData(r *http.Request, body []byte, cfg nodes.WebhookConfig) (json.RawMessage, error) {
	var parsed any = string(body)
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err := checkHookBody(mediaType, body); err != nil {
		return nil, err
	}
	switch {
	case len(body) == 0:
		parsed = nil
	case isJSONMediaType(mediaType):
		parsed = json.RawMessage(body)
	case mediaType == "application/x-www-form-urlencoded":
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fault.Fields("the form body is malformed", fault.FieldError{Field: "body", Message: "is not a valid form"})
		}
		parsed = flatten(values)
	}
	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		if lk := strings.ToLower(k); !hookHeaderSkip[lk] && (cfg.Auth != nodes.WebhookAuthHeader || !strings.EqualFold(k, cfg.HeaderName)) {
			headers[lk] = strings.Join(v, ", ")
		}
	}
	return json.Marshal(map[string]any{"body": parsed, "headers": headers, "query": flatten(r.URL.Query()),
		"method": r.Method})
}

// flatten turns repeated values into arrays and single ones into strings, as n8n shows query strings.
func flatten(values url.Values) map[string]any {
	out := make(map[string]any, len(values))
	for k, v := range values {
		if len(v) == 1 {
			out[k] = v[0]
		} else {
			out[k] = v
		}
	}
	return out
}
