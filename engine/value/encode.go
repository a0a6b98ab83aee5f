package value

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"
)

// LimitError says which limit an evaluation or a value went past. Its message is safe to show the workflow's
// author: it names the limit and its value, never the data.
type LimitError struct {
	// Limit is one of the Limit* names.
	Limit   string
	Message string
}

func (e *LimitError) Error() string { return e.Message }

// The limits a LimitError can name.
const (
	LimitTime    = "time"
	LimitMemory  = "memory"
	LimitOutput  = "output size"
	LimitDepth   = "nesting depth"
	LimitResults = "result count"
	LimitStack   = "stack"
)

// IsLimit reports whether err is a LimitError.
func IsLimit(err error) bool {
	var le *LimitError
	return errors.As(err, &le)
}

// DepthError is the error for a value nested deeper than max levels.
func DepthError(max int) *LimitError {
	return &LimitError{Limit: LimitDepth, Message: fmt.Sprintf("value is nested deeper than %d levels", max)}
}

// SizeError is the error for an encoded value larger than max bytes.
func SizeError(what string, max int) *LimitError {
	return &LimitError{Limit: LimitOutput, Message: fmt.Sprintf("%s is larger than %d bytes", what, max)}
}

// AppendJSON appends v encoded as JSON to dst, refusing values nested deeper than maxDepth or whose encoding would
// make dst longer than maxBytes. It stops at the first level or byte past a limit, so that a value of any depth or
// size (one a jq program or an expression built, or a million references to the same string) costs at most
// maxBytes of memory and maxDepth stack frames to refuse. The bytes are those json.Marshal writes (object keys
// sorted, HTML characters escaped), which keeps stored records unchanged; values of types other than the
// JSON-shaped ones (map[string]any, []any, string, float64, int, bool, nil …) go through json.Marshal and are then
// only size-checked.
func AppendJSON(dst []byte, v any, maxDepth, maxBytes int) ([]byte, error) {
	e := encoder{buf: dst, maxDepth: maxDepth, maxBytes: maxBytes}
	if err := e.value(v, 0); err != nil {
		return dst, err
	}
	return e.buf, nil
}

type encoder struct {
	buf      []byte
	maxDepth int
	maxBytes int
	keys     []string
}

func (e *encoder) full() bool { return len(e.buf) > e.maxBytes }

func (e *encoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
	case string:
		if len(e.buf)+len(x) > e.maxBytes {
			return SizeError("value", e.maxBytes)
		}
		e.buf = appendString(e.buf, x)
	case float64:
		var err error
		if e.buf, err = appendFloat(e.buf, x); err != nil {
			return err
		}
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, x, 10)
	case *big.Int:
		e.buf = x.Append(e.buf, 10)
	case json.Number:
		e.buf = append(e.buf, x...)
	case map[string]any:
		if depth >= e.maxDepth {
			return DepthError(e.maxDepth)
		}
		start := len(e.keys)
		for k := range x {
			e.keys = append(e.keys, k)
		}
		keys := e.keys[start:]
		slices.Sort(keys)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, k)
			e.buf = append(e.buf, ':')
			if err := e.value(x[k], depth+1); err != nil {
				return err
			}
			if e.full() {
				return SizeError("value", e.maxBytes)
			}
		}
		e.keys = e.keys[:start]
		e.buf = append(e.buf, '}')
	case []any:
		if depth >= e.maxDepth {
			return DepthError(e.maxDepth)
		}
		e.buf = append(e.buf, '[')
		for i, el := range x {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(el, depth+1); err != nil {
				return err
			}
			if e.full() {
				return SizeError("value", e.maxBytes)
			}
		}
		e.buf = append(e.buf, ']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		e.buf = append(e.buf, b...)
	}
	if e.full() {
		return SizeError("value", e.maxBytes)
	}
	return nil
}

// appendFloat writes f as encoding/json does: no exponent between 1e-6 and 1e21, a short exponent otherwise.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does with HTML escaping: <, > and & as \u00XX,
// invalid UTF-8 as U+FFFD, and U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
