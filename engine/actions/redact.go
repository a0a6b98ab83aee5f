package actions

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/concertmaster/concertmaster/engine"
)

// Redacted replaces a secret wherever it would surface.
const Redacted = "[redacted]"

// minRedactLen is the shortest secret redacted. A secret of one to three bytes ("1", "abc") occurs by chance in
// almost any text, so replacing it would garble outputs while hiding nothing a guess would not find; such a
// secret is no protection anyway. Every secret of four bytes or more is redacted.
const minRedactLen = 4

// Redactor replaces the secret values of the integrations a node uses, and the forms they take on the wire, by
// "[redacted]" in the node's output and error. It is applied where an action node's result leaves the node, so
// everything downstream (node_executions, the execution page, SSE, logs, the next nodes' input) only ever sees the
// redacted values. The zero value redacts nothing.
type Redactor struct {
	needles []string
}

// Add registers secret values. Each is also registered in its URL query- and path-escaped forms and in standard
// and URL-safe base64, the forms a secret takes in a URL or an encoded header.
func (r *Redactor) Add(secrets ...string) {
	for _, s := range secrets {
		if len(s) < minRedactLen {
			continue
		}
		r.add(s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s)),
			base64.RawURLEncoding.EncodeToString([]byte(s)))
		// A secret inside a JSON string (an error answer echoing a request) has its quotes and backslashes escaped.
		if b, err := json.Marshal(s); err == nil {
			r.add(string(b[1 : len(b)-1]))
		}
	}
}

// AddBasicAuth registers the Authorization value of HTTP basic authentication, which is base64 of
// "user:password" and contains neither part on its own.
func (r *Redactor) AddBasicAuth(user, password string) {
	if password == "" {
		return
	}
	v := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	r.add(v)
}

func (r *Redactor) add(forms ...string) {
	for _, f := range forms {
		if len(f) >= minRedactLen && !slices.Contains(r.needles, f) {
			r.needles = append(r.needles, f)
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	slices.SortFunc(r.needles, func(a, b string) int { return len(b) - len(a) })
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, n := range r.needles {
		if strings.Contains(s, n) {
			s = strings.ReplaceAll(s, n, Redacted)
		}
	}
	return s
}

// Value returns v (a node output: JSON-like maps, slices and scalars) with every secret replaced in its strings,
// object keys included. Maps and slices are copied, never changed in place.
func (r *Redactor) Value(v any) any {
	if r == nil || len(r.needles) == 0 {
		return v
	}
	switch x := v.(type) {
	case string:
		return r.String(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[r.String(k)] = r.Value(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.Value(e)
		}
		return out
	case nil, bool, float64, int, int64, json.Number:
		return x
	}
	// Anything else (a struct, a typed slice, raw JSON) is read as the JSON it encodes to, which is what the
	// engine records of it.
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var plain any
	if json.Unmarshal(b, &plain) != nil {
		return v
	}
	return r.Value(plain)
}

// Error returns err with its message redacted. The result wraps err, so whether it is permanent or carries a
// retry-after hint (engine.IsPermanent, errors.As) is unchanged; only its text differs. An error whose message
// holds no secret is returned as it is.
func (r *Redactor) Error(err error) error {
	if err == nil || r == nil || len(r.needles) == 0 {
		return err
	}
	msg := err.Error()
	red := r.String(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// Result redacts a node's output and error together, for a deferred call at the top of an action's Run.
func (r *Redactor) Result(out engine.Output, err error) (engine.Output, error) {
	if r == nil || len(r.needles) == 0 {
		return out, err
	}
	if len(out.JSON) > 0 {
		if out.Data == nil {
			out.Data = out.JSON
		}
		out.JSON = nil // encoded again from the redacted Data
	}
	out.Data = r.Value(out.Data)
	return out, r.Error(err)
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap lets errors.Is and errors.As reach the classification marks (engine.Permanent, engine.RetryAfter).
func (e *redactedError) Unwrap() error { return e.err }

// addIntegration registers the secrets of an integration's settings: its kind's secret fields, and for HTTP the
// encoded basic-auth value.
func (r *Redactor) addIntegration(kind string, settings json.RawMessage) {
	var all map[string]any
	if json.Unmarshal(settings, &all) != nil {
		return
	}
	for _, f := range secretFields[kind] {
		if s, ok := all[f].(string); ok {
			r.Add(s)
		}
	}
	if kind == KindHTTP {
		user, _ := all["username"].(string)
		pass, _ := all["password"].(string)
		r.AddBasicAuth(user, pass)
	}
}
