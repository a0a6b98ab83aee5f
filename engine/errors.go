package engine

import (
	"errors"
	"time"
)

// permanentError marks a failure that another attempt cannot fix.
type permanentError struct{ err error }

// Error returns the cause's message: being permanent is not news to the user.
func (e *permanentError) Error() string { return e.err.Error() }

// Unwrap returns the cause, so errors.Is and errors.As see through the mark.
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (a 4xx answer, a bad config, a type mismatch in the data): the node
// fails at once whatever its retry policy. Errors are retryable by default because most failures of outside
// services are passing ones.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError carries a service's own idea of when to try again.
type retryAfterError struct {
	err   error
	after time.Duration
}

// Error returns the cause's message.
func (e *retryAfterError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable after at least d, as a 429 or 503 answer's Retry-After header asks. The wait
// replaces the policy's backoff for that retry; the node still fails when its attempts run out.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

// retryAfterOf returns the hint given with RetryAfter, if any.
func retryAfterOf(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// FieldError is a config error that names the field at fault, so that a NodeType's Compile can point the editor at
// the right input (for example an invalid cron expression). Field is relative to the config: "cron" is reported as
// "config.cron".
type FieldError struct {
	Field   string
	Message string
}

// Error names the field, for logs; Validate reports Field and Message apart.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ConfigError returns a FieldError for a NodeType's Compile to return.
func ConfigError(field, message string) error {
	return &FieldError{Field: field, Message: message}
}
