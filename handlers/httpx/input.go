package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/views"
)

// Request body limits: forms are small; API JSON bodies (workflow definitions) larger.
const (
	MaxFormBytes = 64 << 10
	MaxJSONBytes = 1 << 20
)

// ParseForm reads a form body of bounded size, refusing fields (the URL's query included) that are not text.
func ParseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.New(fault.TooLarge, "the form is too large")
		}
		return fault.Wrap(err, fault.Invalid, "the form could not be read")
	}
	return validate.Values("", r.Form)
}

// DecodeJSON reads an API document of bounded size and depth into v, refusing unknown fields, trailing data and
// text that cannot be stored (see checkJSONText).
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSONDepth(w, r, v, validate.MaxDocumentDepth)
}

// DecodeJSONDepth is DecodeJSON for a body allowed to nest maxDepth deep (trigger bodies take validate.MaxTriggerDepth).
func DecodeJSONDepth(w http.ResponseWriter, r *http.Request, v any, maxDepth int) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.New(fault.TooLarge, "the request body is too large")
		}
		return fault.Wrap(err, fault.Invalid, "the request body could not be read")
	}
	if err := validate.JSONText("", body, maxDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.Wrap(err, fault.Invalid, "the request body is not valid JSON for this call")
	}
	return nil
}

// FormState turns a failed submission into what the form shows: values typed (the caller leaves passwords out) and
// a message per field, or an overall message for any other failure.
func FormState(values map[string]string, err error) views.Form {
	f := views.Form{Values: values, Errors: map[string]string{}}
	if err == nil {
		return f
	}
	e := fault.As(err)
	for _, fe := range e.Fields {
		if _, taken := f.Errors[fe.Field]; !taken {
			f.Errors[fe.Field] = Capitalize(fe.Message)
		}
	}
	if len(e.Fields) == 0 {
		f.Error = e.Message
	}
	return f
}

// Capitalize upper-cases a message's first letter, for showing a field's error on its own.
func Capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// FormStatus is the status a form page answers with after err: 422 for bad fields, the fault's own otherwise. It
// sets Retry-After on a rate limit and logs an internal error, as every error answer does.
func (k *Kit) FormStatus(w http.ResponseWriter, r *http.Request, err error) int {
	return StatusOf(k.Classify(w, r, err).Code)
}

// Rate-limit windows: RateWindowMinute is the API's per-caller window.
const (
	RateWindowMinute = time.Minute
)

// Allow counts one attempt against key and returns a RateLimited fault (with its Retry-After) when over limit. A
// limiter failure is logged and let through: the in-process fallback (see ratelimit.Fallback) keeps counting.
func (k *Kit) Allow(r *http.Request, key string, limit int, window time.Duration) error {
	ok, wait, err := k.Limiter().Allow(r.Context(), key, limit, window)
	if err != nil {
		logging.From(r.Context(), k.cfg.Logger).Error("rate limiter unavailable", "error", err)
		return nil
	}
	if !ok {
		kind, _, _ := strings.Cut(key, ":") // the kind only: keys hold addresses and e-mails
		logging.From(r.Context(), k.cfg.Logger).Warn("rate limited", "limit", kind)
		return fault.TooManyAttempts(wait)
	}
	return nil
}

// PathID reads a {name} path segment as a UUID; a malformed one is simply not found.
func PathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, fault.New(fault.NotFound, "not found")
	}
	return id, nil
}

// DefaultPageSize is a list's page size when the caller names none.
const DefaultPageSize = 50

// QueryLimit reads a list's limit query parameter: 1 to 500, DefaultPageSize when absent.
func QueryLimit(v string) (int, error) {
	if v == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		return 0, fault.Fields("bad limit", fault.FieldError{Field: "limit", Message: "must be a number from 1 to 500"})
	}
	return n, nil
}

// ClampedLimit is the page size a store list uses for limit n: a full page of it means there may be a next one.
func ClampedLimit(n int) int {
	if n <= 0 {
		return DefaultPageSize
	}
	return min(n, 500)
}
