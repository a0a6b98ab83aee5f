package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/views"
)

// Request body limits: forms are small; API JSON bodies (workflow definitions) larger.
const (
	maxFormBytes = 64 << 10
	maxJSONBytes = 1 << 20
)

// parseForm reads a form body of bounded size, refusing fields (the URL's query included) that are not text.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.New(fault.TooLarge, "the form is too large")
		}
		return fault.Wrap(err, fault.Invalid, "the form could not be read")
	}
	return validate.Values("", r.Form)
}

// decodeJSON reads an API document of bounded size and depth into v, refusing unknown fields, trailing data and
// text that cannot be stored (see checkJSONText).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSONDepth(w, r, v, validate.MaxDocumentDepth)
}

// decodeJSONDepth is decodeJSON for a body allowed to nest maxDepth deep (trigger bodies take validate.MaxTriggerDepth).
func decodeJSONDepth(w http.ResponseWriter, r *http.Request, v any, maxDepth int) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBytes))
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

// formState turns a failed submission into what the form shows: values typed (the caller leaves passwords out) and
// a message per field, or an overall message for any other failure.
func formState(values map[string]string, err error) views.Form {
	f := views.Form{Values: values, Errors: map[string]string{}}
	if err == nil {
		return f
	}
	e := fault.As(err)
	for _, fe := range e.Fields {
		if _, taken := f.Errors[fe.Field]; !taken {
			f.Errors[fe.Field] = capitalize(fe.Message)
		}
	}
	if len(e.Fields) == 0 {
		f.Error = e.Message
	}
	return f
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// formStatus is the status a form page answers with after err: 422 for bad fields, the fault's own otherwise. It
// sets Retry-After on a rate limit and logs an internal error, as every error answer does.
func (s *Server) formStatus(w http.ResponseWriter, r *http.Request, err error) int {
	return statusOf(s.classify(w, r, err).Code)
}

// Rate-limit windows.
const (
	rateWindowMinute = time.Minute
)

// allow counts one attempt against key and returns a RateLimited fault (with its Retry-After) when over limit. A
// limiter failure is logged and let through: the in-process fallback (see ratelimit.Fallback) keeps counting.
func (s *Server) allow(r *http.Request, key string, limit int, window time.Duration) error {
	ok, wait, err := s.limiter.Allow(r.Context(), key, limit, window)
	if err != nil {
		logging.From(r.Context(), s.deps.Logger).Error("rate limiter unavailable", "error", err)
		return nil
	}
	if !ok {
		kind, _, _ := strings.Cut(key, ":") // the kind only: keys hold addresses and e-mails
		logging.From(r.Context(), s.deps.Logger).Warn("rate limited", "limit", kind)
		return fault.TooManyAttempts(wait)
	}
	return nil
}
