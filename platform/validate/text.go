package validate

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Input limits every surface applies before anything reaches the engine or the database. PostgreSQL refuses NUL
// characters and invalid UTF-8 in text and jsonb (errors 22021 and 22P05), lone surrogates cannot be stored in
// jsonb either, and a value nested thousands deep or a number of thousands of digits costs a stack or a numeric
// conversion on every later read: such input is refused at the edge, naming the field, rather than failing later
// as a server error.
const (
	// MaxDocumentDepth bounds the nesting of API documents (workflow definitions, forms, settings).
	MaxDocumentDepth = 64
	// MaxTriggerDepth bounds a trigger body's nesting: the trigger document wraps it in one more level and the
	// sandbox's default MaxDepth (128) bounds the whole, so a body the edge accepts can also be evaluated.
	MaxTriggerDepth = 127
	// MaxNumberLength bounds a JSON number literal, sign, fraction and exponent included.
	MaxNumberLength = 100
)

// TextProblem says why s is not text that can be stored and shown, "" when it is.
func TextProblem(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8 text"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL character"
	}
	return ""
}

// Text returns an Invalid fault naming field when value is not storable text, nil otherwise.
func Text(field, value string) error {
	if msg := TextProblem(value); msg != "" {
		return fault.Fields("the "+field+" "+msg, fault.FieldError{Field: field, Message: msg})
	}
	return nil
}

// Values checks every key and value of url-encoded or multipart fields, naming each bad field (prefixed, as
// "query.q", when prefix is set). Fields are reported in name order, so the answer is stable.
func Values(prefix string, values url.Values) error {
	var bad []fault.FieldError
	for k, vs := range values {
		name := k
		if msg := TextProblem(k); msg != "" {
			name = strconv.QuoteToASCII(k)
			bad = append(bad, fault.FieldError{Field: joinField(prefix, name), Message: "has a name that " + msg})
			continue
		}
		for _, v := range vs {
			if msg := TextProblem(v); msg != "" {
				bad = append(bad, fault.FieldError{Field: joinField(prefix, name), Message: msg})
				break
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
	// The message names the fields too: a page that shows only the message (an error page) still says which.
	if len(bad) == 1 {
		return fault.Fields("The field "+strconv.Quote(bad[0].Field)+" "+bad[0].Message+".", bad...)
	}
	names := make([]string, len(bad))
	for i, b := range bad {
		names[i] = strconv.Quote(b.Field)
	}
	return fault.Fields("These fields are not valid text: "+strings.Join(names, ", ")+".", bad...)
}

func joinField(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// StructText walks the string fields of a validated input struct (strings, *strings, and nested structs and
// slices of them), naming a bad one by its form or json tag: a name read by any surface is checked by the one
// validation every input struct goes through.
func StructText(in any) []fault.FieldError {
	var bad []fault.FieldError
	walkText(reflect.ValueOf(in), "", &bad, 0)
	return bad
}

func walkText(v reflect.Value, path string, bad *[]fault.FieldError, depth int) {
	if depth > 8 { // input structs are shallow; this only guards against a self-referencing type
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkText(v.Elem(), path, bad, depth+1)
		}
	case reflect.String:
		if msg := TextProblem(v.String()); msg != "" {
			*bad = append(*bad, fault.FieldError{Field: path, Message: msg})
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // raw bytes (json.RawMessage) are checked as JSON when read
		}
		for i := range v.Len() {
			walkText(v.Index(i), joinField(path, strconv.Itoa(i)), bad, depth+1)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			walkText(v.Field(i), joinField(path, tagName(f)), bad, depth+1)
		}
	}
}

// tagName names a field as its caller wrote it: its form tag, else its json tag, else its Go name in lower case
// (an untagged store input such as store.FormInput).
func tagName(f reflect.StructField) string {
	for _, tag := range []string{"form", "json"} {
		if name, _, _ := strings.Cut(f.Tag.Get(tag), ","); name != "" && name != "-" {
			return name
		}
	}
	return strings.ToLower(f.Name)
}

// JSONText checks that data is one JSON value that can be stored and evaluated: nested at most maxDepth
// deep, every string and key valid UTF-8 without \u0000 or a lone surrogate escape, every number at most
// MaxNumberLength characters and within float64's range. A failure is an Invalid fault naming field and the path
// inside it ("body.items.2.name").
//
// It does not decode: encoding/json's scanner checks the syntax (without recursion, so any depth is safe to scan)
// and one more pass over the bytes checks the rest, so the webhook hot path checks a body without building it.
func JSONText(field string, data []byte, maxDepth int) error {
	if !json.Valid(data) {
		return fault.Fields("the "+field+" is not valid JSON", fault.FieldError{Field: field, Message: "is not valid JSON"})
	}
	s := jsonTextScanner{data: data, maxDepth: maxDepth}
	if msg := s.scan(); msg != "" {
		path := joinField(field, s.path())
		if field == "" && path == "" {
			path = "body"
		}
		return fault.Fields("the "+path+" "+msg, fault.FieldError{Field: path, Message: msg})
	}
	return nil
}

// jsonFrame is one open object or array: the key or index the scanner is at, for naming a bad field.
type jsonFrame struct {
	array     bool
	index     int
	key       []byte // raw, as written between its quotes
	expectKey bool
}

type jsonTextScanner struct {
	data     []byte
	maxDepth int
	stack    []jsonFrame
}

// scan walks syntactically valid JSON and returns what is wrong with it, "" when nothing is.
func (s *jsonTextScanner) scan() string {
	d := s.data
	for i := 0; i < len(d); {
		switch c := d[i]; {
		case c == '{' || c == '[':
			if len(s.stack) >= s.maxDepth {
				return fmt.Sprintf("is nested deeper than %d levels", s.maxDepth)
			}
			s.stack = append(s.stack, jsonFrame{array: c == '[', expectKey: c == '{'})
			i++
		case c == '}' || c == ']':
			s.stack = s.stack[:len(s.stack)-1]
			i++
		case c == ',':
			if top := s.top(); top != nil {
				top.index++
				top.expectKey = !top.array
			}
			i++
		case c == ':':
			s.top().expectKey = false
			i++
		case c == '"':
			end, msg := s.str(i + 1)
			if msg != "" {
				return msg
			}
			if top := s.top(); top != nil && top.expectKey {
				top.key = d[i+1 : end]
			}
			i = end + 1
		case c == '-' || (c >= '0' && c <= '9'):
			start := i
			exponent := false
			for i < len(d) && strings.IndexByte("0123456789+-.eE", d[i]) >= 0 {
				exponent = exponent || d[i] == 'e' || d[i] == 'E'
				i++
			}
			if i-start > MaxNumberLength {
				return fmt.Sprintf("has a number longer than %d characters", MaxNumberLength)
			}
			if exponent {
				if _, err := strconv.ParseFloat(string(d[start:i]), 64); err != nil {
					return "has a number out of range"
				}
			}
		default:
			i++ // white space and the letters of true, false and null
		}
	}
	return ""
}

// str checks the string body starting at i and returns the index of its closing quote.
func (s *jsonTextScanner) str(i int) (int, string) {
	d := s.data
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			return i, ""
		case c == '\\':
			if d[i+1] != 'u' {
				i += 2
				continue
			}
			r := hexRune(d[i+2 : i+6])
			i += 6
			switch {
			case r == 0:
				return i, `contains a NUL character (\u0000)`
			case r >= 0xD800 && r <= 0xDBFF:
				if i+6 > len(d) || d[i] != '\\' || d[i+1] != 'u' {
					return i, "contains a lone surrogate escape"
				}
				if low := hexRune(d[i+2 : i+6]); low < 0xDC00 || low > 0xDFFF {
					return i, "contains a lone surrogate escape"
				}
				i += 6
			case r >= 0xDC00 && r <= 0xDFFF:
				return i, "contains a lone surrogate escape"
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return i, "is not valid UTF-8 text"
			}
			i += size
		default:
			i++
		}
	}
	return i, "is not valid JSON"
}

func (s *jsonTextScanner) top() *jsonFrame {
	if len(s.stack) == 0 {
		return nil
	}
	return &s.stack[len(s.stack)-1]
}

// path names where the scanner stopped: "a.b.3.c", as the form schema names its fields.
func (s *jsonTextScanner) path() string {
	var b strings.Builder
	for _, f := range s.stack {
		switch {
		case f.array:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strconv.Itoa(f.index))
		case f.key != nil && !f.expectKey:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.Write(f.key) // valid text: a bad key stops the scan before it becomes the frame's key
		}
	}
	return b.String()
}

func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
