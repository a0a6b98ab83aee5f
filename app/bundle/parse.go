package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
)

// Parse reads a bundle document of at most MaxBytes: a larger one is a TooLarge fault, malformed JSON or a value of
// the wrong type an Invalid fault naming where, and a document of another format or version an Invalid fault
// naming format or version. What it returns still has to pass Import's validation.
func Parse(r io.Reader) (Bundle, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return Bundle{}, fmt.Errorf("read bundle: %w", err)
	}
	if len(raw) > MaxBytes {
		return Bundle{}, fault.New(fault.TooLarge, "the bundle is larger than %d MiB", MaxBytes>>20)
	}
	// The format and version first: a document of another kind gets that answer, not a list of unknown fields.
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return Bundle{}, decodeError(err)
	}
	if head.Format != Format {
		return Bundle{}, fault.Fields("this is not a ConcertMaster bundle",
			fault.FieldError{Field: "format", Message: fmt.Sprintf("must be %q", Format)})
	}
	if head.Version != Version {
		return Bundle{}, fault.Fields("this bundle version is not supported",
			fault.FieldError{Field: "version", Message: fmt.Sprintf("must be %d (this instance reads version %d bundles)", Version, Version)})
	}
	// NUL characters, invalid UTF-8 and nesting: a definition may nest as deep as a save's body lets it, under the
	// levels of the bundle that hold it (workflows[i].versions[j].definition).
	if err := validate.JSONText("", raw, validate.MaxDocumentDepth+8); err != nil {
		return Bundle{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		return Bundle{}, decodeError(err)
	}
	return b, nil
}

// decodeError names where a document failed to decode.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fault.Fields("the bundle is not valid JSON",
			fault.FieldError{Field: "$", Message: fmt.Sprintf("is not valid JSON at byte %d: %v", syntax.Offset, syntax)})
	case errors.As(err, &typ):
		return fault.Fields("the bundle is not valid",
			fault.FieldError{Field: typ.Field, Message: fmt.Sprintf("must be %s, not %s", typ.Type, typ.Value)})
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fault.Fields("the bundle is not valid JSON", fault.FieldError{Field: "$", Message: "ends too early"})
	}
	return fault.Fields("the bundle is not valid", fault.FieldError{Field: "$", Message: err.Error()})
}
