// Package fault is the error vocabulary shared by every layer: a code that says what kind of failure happened and
// a message that is safe to show a user. Handlers map the code to an HTTP status; only internal errors are logged
// with their cause, and their message is never shown.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies a failure; each maps to one HTTP status.
type Code string

// The codes, from the caller's point of view.
const (
	Invalid      Code = "invalid"      // the input is wrong; FieldErrors say where
	NotFound     Code = "not_found"    // no such thing, or not visible to the caller (never "forbidden" across tenants)
	Conflict     Code = "conflict"     // the state moved on (stale version, duplicate name)
	Unauthorized Code = "unauthorized" // who the caller is could not be established
	Forbidden    Code = "forbidden"    // known caller, not allowed
	RateLimited  Code = "rate_limited" // too many attempts; retry later
	TooLarge     Code = "too_large"    // a body or upload over its limit
	Unavailable  Code = "unavailable"  // a dependency is down; retry later
	// InsufficientStorage: the disk (or quota) that keeps files is full; nothing was kept, and a retry may pass
	// once space is freed.
	InsufficientStorage Code = "insufficient_storage"
	Internal            Code = "internal" // a bug or an unexpected failure; the message is generic
)

// FieldError names one bad input field. Field is a dotted path ("config.condition", "email"); NodeID is set when
// the field belongs to a workflow node.
type FieldError struct {
	NodeID  string `json:"node_id,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Error is a failure with a code and a message safe to show.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// Err is the cause, kept for logs and errors.Is; never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the given code and safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with the given code and safe message that keeps err as its cause.
func Wrap(err error, code Code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// Fields returns an Invalid error listing every bad field.
func Fields(message string, fields ...FieldError) *Error {
	return &Error{Code: Invalid, Message: message, Fields: fields}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal for any other error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain, or an Internal one wrapping err.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", Err: err}
}

// TooManyAttempts is the fault of a rate limit: RateLimited, with a message saying when to try again and the wait
// itself, which RetryAfter reads back for a Retry-After header. The wait is rounded up to whole seconds.
func TooManyAttempts(wait time.Duration) error {
	wait = max(time.Second, wait.Round(time.Second))
	msg := fmt.Sprintf("Too many attempts: try again in %s.", wait)
	if wait >= time.Minute {
		msg = fmt.Sprintf("Too many attempts: try again in %d minutes.", int((wait+time.Minute-1)/time.Minute))
	}
	return Wrap(retryAfter(wait), RateLimited, msg)
}

// Unreachable is the fault of a dependency that cannot be reached for now (a database restarting or failing over):
// Unavailable, with message, cause, and the wait after which to try again, which RetryAfter reads back for a
// Retry-After header. The wait is rounded up to whole seconds.
func Unreachable(message string, wait time.Duration, cause error) error {
	wait = max(time.Second, wait.Round(time.Second))
	return &Error{Code: Unavailable, Message: message, Err: errors.Join(retryAfter(wait), cause)}
}

// RetryAfter returns the wait a TooManyAttempts or Unreachable fault carries.
func RetryAfter(err error) (time.Duration, bool) {
	var ra retryAfter
	if errors.As(err, &ra) {
		return time.Duration(ra), true
	}
	return 0, false
}

// retryAfter is the cause of a TooManyAttempts fault: when the caller may try again.
type retryAfter time.Duration

func (d retryAfter) Error() string { return "retry after " + time.Duration(d).String() }
