package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxDefinitionBytes bounds a stored definition so that a hostile or broken client cannot make every worker that
// loads the version parse megabytes of JSON.
const MaxDefinitionBytes = 2 << 20

// Definition is a workflow as drawn on the canvas and stored, immutably, per version. It is plain data: Validate
// says whether it makes sense and Compile turns it into a Plan that can run.
type Definition struct {
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
	// Notes are the sticky notes authors leave on the canvas. They never run; they are kept (and bounded, see
	// checkNotes) so that the explanation of a workflow travels with its versions, exports and copies.
	Notes []Note `json:"notes,omitempty"`
}

// Note is a sticky note on the canvas: plain text (the editor shows it as text, never as HTML), where it sits,
// how large it is drawn and its colour.
type Note struct {
	ID       string   `json:"id"`
	Text     string   `json:"text"`
	Position Position `json:"position"`
	Size     Size     `json:"size"`
	// Color is one of NoteColors; empty means the first.
	Color string `json:"color,omitempty"`
}

// Size is how large the editor draws a note, in canvas pixels.
type Size struct {
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// NoteColors are the colours a note may have: a fixed palette, so a stored value can never carry CSS.
var NoteColors = []string{"yellow", "blue", "green", "pink", "purple", "gray"}

// Node is one box on the canvas. Config is kept raw because only the node's type knows its shape; the type's JSON
// Schema checks it and the type's Compile turns it into something runnable.
type Node struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Name     string          `json:"name,omitempty"`
	Position Position        `json:"position"`
	Config   json.RawMessage `json:"config,omitempty"`
	Retry    *RetryPolicy    `json:"retry,omitempty"`
	// Timeout bounds each attempt; zero means the Executor's default.
	Timeout Duration `json:"timeout,omitempty"`
	// OnError is one of the OnError* constants; empty means OnErrorStop.
	OnError string `json:"on_error,omitempty"`
}

// Position is where the editor draws a node. The engine ignores it but keeps it so a definition round-trips.
type Position struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Edge connects an output port of one node to another node. An empty Port is the default output, used by nodes
// that have only one.
type Edge struct {
	From string `json:"from"`
	Port string `json:"port,omitempty"`
	To   string `json:"to"`
}

// What a node does when its last attempt fails. The names match n8n's "on error" setting so that users moving
// over find what they expect.
const (
	// OnErrorStop fails the whole execution with the node's error. It is the default because silently carrying on
	// after, say, a failed payment call surprises people more than stopping does.
	OnErrorStop = "stop"
	// OnErrorContinue records the node as failed and runs its children anyway with {"error": message} as input.
	OnErrorContinue = "continue"
	// OnErrorRoute sends {"error": message} out of the node's extra "error" port, leaving its normal ports untaken,
	// so a workflow can handle the failure on a branch of its own.
	OnErrorRoute = "error"
)

// Backoff names for RetryPolicy.Backoff.
const (
	BackoffExponential = "exponential"
	BackoffFixed       = "fixed"
)

// RetryPolicy says how often and how patiently a failing node is tried again. Only retryable errors are retried;
// see Permanent.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt too: 3 means one try and two retries.
	MaxAttempts int `json:"max_attempts"`
	// Backoff is BackoffExponential (the default) or BackoffFixed.
	Backoff string `json:"backoff,omitempty"`
	// InitialInterval is the wait before the first retry (default 1s); with exponential backoff it doubles each
	// time, capped at MaxInterval (default 1m). Waits are fully jittered so that many executions failing against
	// the same service do not retry in lockstep.
	InitialInterval Duration `json:"initial_interval,omitempty"`
	MaxInterval     Duration `json:"max_interval,omitempty"`
}

// Duration is a time.Duration that reads and writes as a Go duration string ("30s", "1h30m"), which is what people
// type in the editor and what reads well in stored JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string. A bare number is refused on purpose: "30" could mean seconds or
// nanoseconds, and guessing wrong makes a timeout a billion times off.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = 0
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"30s\" or \"5m\"")
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a form such as \"30s\", \"5m\" or \"1h30m\"", s)
	}
	*d = Duration(v)
	return nil
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// ParseDefinition decodes a stored or submitted definition. Unknown fields outside node configs are refused so that
// a typo such as "on_eror" is reported instead of silently ignored; configs are free-form here and checked against
// their type's schema by Validate. It checks shape only: call Validate or Compile for meaning.
func ParseDefinition(b []byte) (*Definition, error) {
	if len(b) > MaxDefinitionBytes {
		return nil, fmt.Errorf("definition is %d bytes, more than the %d allowed", len(b), MaxDefinitionBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var def Definition
	if err := dec.Decode(&def); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("definition is empty")
		}
		return nil, fmt.Errorf("definition is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("definition has data after its closing brace")
	}
	return &def, nil
}
