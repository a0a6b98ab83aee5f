// Package validate checks input at the edge, the same way for every surface (pages, the API, public forms,
// webhooks): struct fields by their `validate` tags (go-playground/validator), and text that PostgreSQL could not
// store or that would cost too much to read back (invalid UTF-8, NUL, lone surrogates, deep nesting, huge numbers).
// A failure is a fault.Invalid error naming each bad field by its form or json tag. It imports nothing of the
// application but platform/fault.
package validate

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// structs checks input structs by their `validate` tags and names fields by their `form` (or `json`) tag.
var structs = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		for _, tag := range []string{"form", "json"} {
			if name, _, _ := strings.Cut(f.Tag.Get(tag), ","); name != "" && name != "-" {
				return name
			}
		}
		return f.Name
	})
	return v
}()

// Struct validates in and returns an Invalid fault with one message per bad field, nil when all is well.
func Struct(in any) error {
	fields := StructText(in)
	err := structs.Struct(in)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) && err != nil {
		return err
	}
	for _, fe := range verrs {
		fields = append(fields, fault.FieldError{Field: fe.Field(), Message: fieldMessage(fe)})
	}
	if len(fields) == 0 {
		return nil
	}
	return fault.Fields("some fields need attention", fields...)
}

func fieldMessage(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "email":
		return "must be an e-mail address"
	case "min":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("must be at least %s characters", fe.Param())
		}
		return "is too small"
	case "max":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("must be at most %s characters", fe.Param())
		}
		return "is too large"
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "eqfield":
		return "does not match"
	case "uuid":
		return "is not a valid id"
	}
	return "is not valid"
}

// Join merges extra field errors into a validation result.
func Join(err error, extra ...*fault.FieldError) error {
	var fields []fault.FieldError
	if err != nil {
		e := fault.As(err)
		if e.Code != fault.Invalid {
			return err
		}
		fields = e.Fields
	}
	for _, f := range extra {
		if f != nil {
			fields = append(fields, *f)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return fault.Fields("some fields need attention", fields...)
}

// Merge joins validation results (nil, Invalid faults, errors.Join of them) into one Invalid fault listing every
// field, so a caller learns all that is wrong at once. Any other error wins as it is. An Invalid fault naming no
// field is returned as it is when no result names one, rather than lost.
func Merge(errs ...error) error {
	var fields []fault.FieldError
	var unnamed error
	for _, err := range errs {
		for _, e := range leaves(err) {
			f := fault.As(e)
			switch {
			case f.Code != fault.Invalid:
				return e
			case len(f.Fields) == 0 && unnamed == nil:
				unnamed = e
			}
			fields = append(fields, f.Fields...)
		}
	}
	if len(fields) == 0 {
		return unnamed
	}
	return fault.Fields("some fields need attention", fields...)
}

// leaves flattens errors.Join trees; nil has none.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}
