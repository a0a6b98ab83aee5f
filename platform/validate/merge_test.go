package validate_test

import (
	"errors"
	"testing"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	name := fault.Fields("bad name", fault.FieldError{Field: "name", Message: "is required"})
	port := fault.Fields("bad port", fault.FieldError{Field: "port", Message: "is too large"})
	unnamed := fault.New(fault.Invalid, "the settings must be a JSON object")
	conflict := fault.New(fault.Conflict, "taken")
	tests := []struct {
		name   string
		errs   []error
		code   fault.Code
		fields []string
	}{
		{"nothing wrong", []error{nil, nil}, "", nil},
		{"every field at once", []error{name, nil, port}, fault.Invalid, []string{"name", "port"}},
		{"joined errors are flattened", []error{errors.Join(name, port)}, fault.Invalid, []string{"name", "port"}},
		{"another code wins", []error{name, conflict}, fault.Conflict, nil},
		{"an unnamed refusal is kept when alone", []error{nil, unnamed}, fault.Invalid, nil},
		{"named fields win over an unnamed refusal", []error{unnamed, port}, fault.Invalid, []string{"port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate.Merge(tt.errs...)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if fault.CodeOf(err) != tt.code {
				t.Fatalf("err %v, want %s", err, tt.code)
			}
			fields := fault.As(err).Fields
			if len(fields) != len(tt.fields) {
				t.Fatalf("fields %+v, want %v", fields, tt.fields)
			}
			for i, f := range fields {
				if f.Field != tt.fields[i] {
					t.Fatalf("fields %+v, want %v", fields, tt.fields)
				}
			}
		})
	}
}
