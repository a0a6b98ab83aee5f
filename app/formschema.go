package app

import (
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// A form's schema is []store.FormField plus store.FormSettings. This file holds the two checks made against it: that
// a schema is well formed (CheckForm, which Forms.Create and Forms.Update make, and the builder's preview too), and
// that a submission fits a schema (CheckAnswers, which Forms.Accept makes, and CheckAnswer, the public page's inline
// validation of one field). Both read the same Go values the public page renders from.

// Schema limits. They bound what one submission may make the server hold: at most MaxFormFields values, each at
// most maxTextLimit characters.
const (
	MaxFormFields        = 100
	maxFieldOptions      = 200
	maxOptionLength      = 200
	maxPatternLength     = 500
	maxAcceptTypes       = 50
	maxFieldLabelLength  = 200
	maxFieldHelpLength   = 1000
	maxSuccessMessageLen = 2000
	maxRedirectURLLength = 2000
	// maxTextLimit is the most a max_length may allow.
	maxTextLimit = 20000
	// MaxFileFieldBytes is the most a file field's max_bytes may allow (the storage backend's own limit, FILE_MAX_BYTES,
	// applies on top of it).
	MaxFileFieldBytes = 1 << 30
)

// Default lengths when a field sets no max_length: a line of text is short, a textarea may hold a letter.
const (
	defaultTextMaxLength     = 1000
	defaultTextareaMaxLength = 10000
)

// DateLayout is the format of date values and date bounds: what <input type="date"> sends.
const DateLayout = "2006-01-02"

var (
	// formFieldNamePattern keeps field names usable as keys everywhere they go: submission data, expressions
	// (trigger.data.first_name), CSV headers and HTML names. A leading letter also keeps them apart from the
	// page's own inputs (the honeypot, _field), which start with an underscore.
	formFieldNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
	// formSlugPattern is the database's CHECK on forms.slug, repeated here to name the field instead of failing.
	formSlugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// redirectHostPattern is a redirect's host[:port]: a plain name, so the origin can go into the public page's
	// Content-Security-Policy as it is (see FormRedirectOrigin).
	redirectHostPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$`)
	// mediaRangePattern is a media type or family as trigger.file_upload's schema accepts them.
	mediaRangePattern = regexp.MustCompile(`^(\*/\*|[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*))$`)
)

// CheckForm normalizes a form (trimming, lower-casing media types) and checks it, returning an Invalid fault
// that names every bad field by its path ("slug", "fields.2.pattern", "settings.redirect_url"), or nil.
func CheckForm(in *store.FormInput) error {
	var errs []fault.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, fault.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	in.Name = strings.TrimSpace(in.Name)
	in.Slug = strings.TrimSpace(in.Slug)
	in.Description = strings.TrimSpace(in.Description)
	switch n := utf8.RuneCountInString(in.Name); {
	case n == 0:
		bad("name", "is required")
	case n > 200:
		bad("name", "must be at most 200 characters")
	}
	if !formSlugPattern.MatchString(in.Slug) {
		bad("slug", "must be 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit")
	}
	if utf8.RuneCountInString(in.Description) > 5000 {
		bad("description", "must be at most 5000 characters")
	}
	if len(in.Fields) > MaxFormFields {
		bad("fields", "must be at most %d", MaxFormFields)
	}
	if in.Published && len(in.Fields) == 0 {
		bad("fields", "must hold at least one field for the form to be published")
	}
	seen := map[string]int{}
	for i := range in.Fields {
		f := &in.Fields[i]
		errs = append(errs, checkFormField(fmt.Sprintf("fields.%d.", i), f)...)
		if first, dup := seen[strings.ToLower(f.Name)]; dup && f.Name != "" {
			bad(fmt.Sprintf("fields.%d.name", i), "is already the name of field %d", first+1)
		} else {
			seen[strings.ToLower(f.Name)] = i
		}
	}
	errs = append(errs, checkFormSettings(&in.Settings)...)
	errs = append(errs, validate.StructText(in)...)
	if len(errs) > 0 {
		return fault.Fields("the form is not valid", errs...)
	}
	return nil
}

// checkFormField normalizes and checks one field; prefix is its path ("fields.2.").
func checkFormField(prefix string, f *store.FormField) []fault.FieldError {
	var errs []fault.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, fault.FieldError{Field: prefix + field, Message: fmt.Sprintf(format, args...)})
	}
	f.Name, f.Label, f.Help = strings.TrimSpace(f.Name), strings.TrimSpace(f.Label), strings.TrimSpace(f.Help)
	f.Pattern = strings.TrimSpace(f.Pattern)
	if !formFieldNamePattern.MatchString(f.Name) {
		bad("name", "must start with a letter and hold at most 64 letters, digits, dashes and underscores")
	}
	switch n := utf8.RuneCountInString(f.Label); {
	case n == 0:
		bad("label", "is required")
	case n > maxFieldLabelLength:
		bad("label", "must be at most %d characters", maxFieldLabelLength)
	}
	if utf8.RuneCountInString(f.Help) > maxFieldHelpLength {
		bad("help", "must be at most %d characters", maxFieldHelpLength)
	}
	if !slices.Contains(store.FormFieldTypes, f.Type) {
		bad("type", "must be one of %s", strings.Join(store.FormFieldTypes, ", "))
		return errs
	}
	checkFieldOptions(f, bad)
	checkFieldBounds(f, bad)
	checkFieldText(f, bad)
	checkFieldFile(f, bad)
	return errs
}

// badField reports a problem with a property of a field being checked.
type badField func(property, format string, args ...any)

// checkFieldOptions normalizes and checks what select, radio and checkbox groups offer.
func checkFieldOptions(f *store.FormField, bad badField) {
	options := f.Options[:0:0]
	for _, o := range f.Options {
		if o = strings.TrimSpace(o); o != "" {
			options = append(options, o)
		}
	}
	f.Options = options
	switch {
	case f.Type == store.FieldSelect || f.Type == store.FieldRadio:
		if len(f.Options) == 0 {
			bad("options", "are required for a %s field", f.Type)
		}
	case f.Type != store.FieldCheckbox && len(f.Options) > 0:
		bad("options", "are only for select, radio and checkbox fields")
	}
	if len(f.Options) > maxFieldOptions {
		bad("options", "must be at most %d", maxFieldOptions)
	}
	for i, o := range f.Options {
		if utf8.RuneCountInString(o) > maxOptionLength {
			bad(fmt.Sprintf("options.%d", i), "must be at most %d characters", maxOptionLength)
		}
		if slices.Index(f.Options, o) != i {
			bad(fmt.Sprintf("options.%d", i), "repeats %q", o)
		}
	}
}

// checkFieldBounds checks the bounds of numbers and dates.
func checkFieldBounds(f *store.FormField, bad badField) {
	if f.Min != nil || f.Max != nil {
		switch f.Type {
		case store.FieldNumber, store.FieldDate:
			lo, loOK := checkBound(f.Type, f.Min, "min", bad)
			hi, hiOK := checkBound(f.Type, f.Max, "max", bad)
			if loOK && hiOK && f.Min != nil && f.Max != nil && lo > hi {
				bad("max", "must not be below min")
			}
		default:
			bad(boundName(f), "is only for number and date fields")
		}
	}
}

// checkFieldText checks the lengths and pattern of texts.
func checkFieldText(f *store.FormField, bad badField) {
	textual := f.Type == store.FieldText || f.Type == store.FieldTextarea || f.Type == store.FieldEmail
	if f.MinLength != nil || f.MaxLength != nil || f.Pattern != "" {
		if !textual {
			bad(textOptionName(f), "is only for text, textarea and email fields")
		} else {
			if f.MinLength != nil && (*f.MinLength < 0 || *f.MinLength > maxTextLimit) {
				bad("min_length", "must be from 0 to %d", maxTextLimit)
			}
			if f.MaxLength != nil && (*f.MaxLength < 1 || *f.MaxLength > maxTextLimit) {
				bad("max_length", "must be from 1 to %d", maxTextLimit)
			}
			if f.MinLength != nil && f.MaxLength != nil && *f.MinLength > *f.MaxLength {
				bad("max_length", "must not be below min_length")
			}
			if f.Pattern != "" {
				if len(f.Pattern) > maxPatternLength {
					bad("pattern", "must be at most %d characters", maxPatternLength)
				} else if _, err := compileFieldPattern(f.Pattern); err != nil {
					bad("pattern", "is not a valid regular expression (RE2 syntax)")
				}
			}
		}
	}
}

// checkFieldFile normalizes and checks the accepted types and size of files.
func checkFieldFile(f *store.FormField, bad badField) {
	if f.Type == store.FieldFile {
		if len(f.Accept) > maxAcceptTypes {
			bad("accept", "must list at most %d types", maxAcceptTypes)
		}
		for i, a := range f.Accept {
			f.Accept[i] = strings.ToLower(strings.TrimSpace(a))
			if !mediaRangePattern.MatchString(f.Accept[i]) {
				bad(fmt.Sprintf("accept.%d", i), "must be a media type such as application/pdf or a family such as image/*")
			}
		}
		if f.MaxBytes < 0 || f.MaxBytes > MaxFileFieldBytes {
			bad("max_bytes", "must be from 1 to %d", MaxFileFieldBytes)
		}
	} else if len(f.Accept) > 0 || f.MaxBytes != 0 {
		field := "accept"
		if len(f.Accept) == 0 {
			field = "max_bytes"
		}
		bad(field, "is only for file fields")
	}
}

func boundName(f *store.FormField) string {
	if f.Min != nil {
		return "min"
	}
	return "max"
}

func textOptionName(f *store.FormField) string {
	switch {
	case f.MinLength != nil:
		return "min_length"
	case f.MaxLength != nil:
		return "max_length"
	}
	return "pattern"
}

// checkBound parses a number or date bound, reporting it when it is neither; the float orders both kinds (dates
// as Unix days).
func checkBound(kind string, b *store.FormBound, name string, bad badField) (float64, bool) {
	if b == nil {
		return 0, true
	}
	v, ok := parseBound(kind, string(*b))
	if !ok {
		if kind == store.FieldDate {
			bad(name, "must be a date (YYYY-MM-DD)")
		} else {
			bad(name, "must be a number")
		}
	}
	return v, ok
}

func parseBound(kind, s string) (float64, bool) {
	if kind == store.FieldDate {
		t, err := time.Parse(DateLayout, s)
		return float64(t.Unix() / 86400), err == nil
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil && !math.IsInf(v, 0) && !math.IsNaN(v)
}

// compileFieldPattern compiles a field's pattern to match the whole value, as the HTML pattern attribute does. Go's
// regexp is RE2: matching time is linear in the input, so a stranger's text cannot make a pattern run away.
func compileFieldPattern(p string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + p + `)$`)
}

func checkFormSettings(s *store.FormSettings) []fault.FieldError {
	var errs []fault.FieldError
	bad := func(field, message string) {
		errs = append(errs, fault.FieldError{Field: "settings." + field, Message: message})
	}
	s.SuccessMessage = strings.TrimSpace(s.SuccessMessage)
	s.RedirectURL = strings.TrimSpace(s.RedirectURL)
	if utf8.RuneCountInString(s.SuccessMessage) > maxSuccessMessageLen {
		bad("success_message", fmt.Sprintf("must be at most %d characters", maxSuccessMessageLen))
	}
	if s.RedirectURL != "" {
		// Only absolute http(s) addresses: a javascript: or data: URL would run in the visitor's browser.
		u, err := url.Parse(s.RedirectURL)
		if err != nil || FormRedirectOrigin(s.RedirectURL) == "" || u.User != nil ||
			len(s.RedirectURL) > maxRedirectURLLength {
			bad("redirect_url", "must be an absolute http:// or https:// address")
		}
	}
	if s.SubmissionLimit != nil && *s.SubmissionLimit < 1 {
		bad("submission_limit", "must be at least 1")
	}
	if s.CloseAt != nil {
		t := s.CloseAt.UTC().Truncate(time.Second)
		s.CloseAt = &t
	}
	return errs
}

// FormRedirectOrigin is the origin ("https://example.com:8443") of a form's redirect setting, or "" when it is not an
// absolute http(s) address with a plain host: the public page adds it to its Content-Security-Policy's form-action,
// which browsers hold the redirect answering a submission to.
func FormRedirectOrigin(redirectURL string) string {
	u, err := url.Parse(redirectURL)
	if redirectURL == "" || err != nil || !redirectHostPattern.MatchString(u.Host) ||
		(u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// FileFieldLimit is the most a file field takes.
func FileFieldLimit(f store.FormField) int64 {
	if f.MaxBytes > 0 {
		return f.MaxBytes
	}
	return nodes.DefaultUploadBytes
}

// TextLimit is the most characters a text field takes.
func TextLimit(f store.FormField) int {
	switch {
	case f.MaxLength != nil:
		return *f.MaxLength
	case f.Type == store.FieldTextarea:
		return defaultTextareaMaxLength
	}
	return defaultTextMaxLength
}

// CheckAnswers checks a submission against a form's fields and returns the data to store (every field, by
// name) and a message per bad field. values are the texts sent; files the files stored for file fields; fileErrs
// the messages of files refused while streaming them (wrong type), which win over anything else about the field.
// Names the form does not have are ignored, so nothing but the schema's fields is ever stored.
func CheckAnswers(fields []store.FormField, values url.Values, files map[string]*store.ReceivedFile,
	fileErrs map[string]string) (map[string]any, map[string]string) {
	data := make(map[string]any, len(fields))
	errs := map[string]string{}
	for _, f := range fields {
		if msg, refused := fileErrs[f.Name]; refused {
			errs[f.Name] = msg
			continue
		}
		v, msg := CheckAnswer(f, values[f.Name], files[f.Name])
		if msg != "" {
			errs[f.Name] = msg
			continue
		}
		data[f.Name] = v
	}
	return data, errs
}

// CheckAnswer checks one field's values and returns what to store, or a message for the person filling the
// form in.
func CheckAnswer(f store.FormField, values []string, file *store.ReceivedFile) (any, string) {
	first := ""
	if len(values) > 0 {
		first = values[0]
	}
	switch f.Type {
	case store.FieldFile:
		if file == nil {
			if f.Required {
				return nil, "Choose a file."
			}
			return nil, ""
		}
		// ref lets a transform.parse node read the file; it opens only within the form's organization.
		return map[string]any{"upload_id": file.ID, "filename": file.Filename, "content_type": file.ContentType,
			"size": file.Size, "ref": file.StorageKey}, ""
	case store.FieldCheckbox:
		return checkCheckboxAnswer(f, first, values)
	case store.FieldSelect, store.FieldRadio:
		if first == "" {
			if f.Required {
				return nil, "Choose an option."
			}
			return "", ""
		}
		if !slices.Contains(f.Options, first) {
			return nil, "Choose from the options given."
		}
		return first, ""
	case store.FieldNumber:
		return checkNumberAnswer(f, strings.TrimSpace(first))
	case store.FieldDate:
		return checkDateAnswer(f, strings.TrimSpace(first))
	}
	return checkTextAnswer(f, first) // text, textarea, email
}

// checkCheckboxAnswer checks a box (a field without options) or a group of boxes.
func checkCheckboxAnswer(f store.FormField, first string, values []string) (any, string) {
	if len(f.Options) == 0 {
		checked := strings.TrimSpace(first) != ""
		if f.Required && !checked {
			return nil, "Tick this box to continue."
		}
		return checked, ""
	}
	chosen := []string{}
	for _, v := range values {
		if v == "" {
			continue
		}
		if !slices.Contains(f.Options, v) {
			return nil, "Choose from the options given."
		}
		if !slices.Contains(chosen, v) {
			chosen = append(chosen, v)
		}
	}
	if f.Required && len(chosen) == 0 {
		return nil, "Choose at least one option."
	}
	return chosen, ""
}

// checkNumberAnswer checks a number, trimmed, against the field's bounds.
func checkNumberAnswer(f store.FormField, s string) (any, string) {
	if s == "" {
		if f.Required {
			return nil, "This field is required."
		}
		return nil, ""
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) || len(s) > 64 {
		return nil, "Enter a number."
	}
	if f.Min != nil {
		if lo, ok := parseBound(f.Type, string(*f.Min)); ok && n < lo {
			return nil, fmt.Sprintf("Enter %s or more.", *f.Min)
		}
	}
	if f.Max != nil {
		if hi, ok := parseBound(f.Type, string(*f.Max)); ok && n > hi {
			return nil, fmt.Sprintf("Enter %s or less.", *f.Max)
		}
	}
	return n, ""
}

// checkDateAnswer checks a date, trimmed, against the field's bounds.
func checkDateAnswer(f store.FormField, s string) (any, string) {
	if s == "" {
		if f.Required {
			return nil, "This field is required."
		}
		return nil, ""
	}
	day, ok := parseBound(f.Type, s)
	if !ok {
		return nil, "Enter a date as YYYY-MM-DD."
	}
	if f.Min != nil {
		if lo, ok := parseBound(f.Type, string(*f.Min)); ok && day < lo {
			return nil, fmt.Sprintf("Enter %s or later.", *f.Min)
		}
	}
	if f.Max != nil {
		if hi, ok := parseBound(f.Type, string(*f.Max)); ok && day > hi {
			return nil, fmt.Sprintf("Enter %s or earlier.", *f.Max)
		}
	}
	return s, ""
}

// checkTextAnswer checks a text, textarea or e-mail address: its length, its form and the field's pattern.
func checkTextAnswer(f store.FormField, first string) (any, string) {
	s := strings.TrimSpace(first)
	if f.Type == store.FieldTextarea {
		s = strings.ReplaceAll(strings.TrimRight(first, " \t\r\n"), "\r\n", "\n")
		s = strings.TrimLeft(s, "\r\n")
	}
	if !utf8.ValidString(s) {
		return nil, "This text has characters that cannot be read."
	}
	n := utf8.RuneCountInString(s)
	if n == 0 {
		if f.Required {
			return nil, "This field is required."
		}
		return "", ""
	}
	if f.MinLength != nil && n < *f.MinLength {
		return nil, fmt.Sprintf("Enter at least %d characters.", *f.MinLength)
	}
	if limit := TextLimit(f); n > limit {
		return nil, fmt.Sprintf("Enter at most %d characters.", limit)
	}
	if f.Type == store.FieldEmail {
		addr, err := mail.ParseAddress(s)
		if err != nil || addr.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
			return nil, "Enter an e-mail address such as name@example.com."
		}
	}
	if f.Pattern != "" {
		if re, err := compileFieldPattern(f.Pattern); err == nil && !re.MatchString(s) {
			return nil, "Enter a value in the format asked for."
		}
	}
	return s, ""
}
