package actions

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

// valueTemplate is a JSON value from a config whose strings are {{ }} templates (an HTTP body, a mapping): objects
// and arrays keep their shape, and a string that is a single {{ expression }} keeps its value's type.
type valueTemplate struct {
	tmpl *engine.Template
	keys []string // object keys, sorted, so the rendered JSON is stable
	obj  map[string]*valueTemplate
	arr  []*valueTemplate
	lit  any
	kind byte // 's' template, 'o' object, 'a' array, 'l' literal
}

// compileValue compiles every string of a JSON value as a template; field names the config field for errors.
func compileValue(c *engine.Compiler, field string, raw json.RawMessage) (*valueTemplate, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, engine.ConfigError(field, "is not valid JSON")
	}
	return compileAny(c, field, v)
}

func compileAny(c *engine.Compiler, field string, v any) (*valueTemplate, error) {
	switch x := v.(type) {
	case string:
		t, err := c.Template(field, x)
		if err != nil {
			return nil, err
		}
		return &valueTemplate{kind: 's', tmpl: t}, nil
	case map[string]any:
		vt := &valueTemplate{kind: 'o', obj: make(map[string]*valueTemplate, len(x))}
		for k, e := range x {
			sub, err := compileAny(c, field+"."+k, e)
			if err != nil {
				return nil, err
			}
			vt.obj[k] = sub
			vt.keys = append(vt.keys, k)
		}
		sort.Strings(vt.keys)
		return vt, nil
	case []any:
		vt := &valueTemplate{kind: 'a', arr: make([]*valueTemplate, len(x))}
		for i, e := range x {
			sub, err := compileAny(c, fmt.Sprintf("%s[%d]", field, i), e)
			if err != nil {
				return nil, err
			}
			vt.arr[i] = sub
		}
		return vt, nil
	}
	return &valueTemplate{kind: 'l', lit: v}, nil
}

// render evaluates the value.
func (vt *valueTemplate) render(ctx context.Context, vars *engine.Vars) (any, error) {
	switch vt.kind {
	case 's':
		return vt.tmpl.Value(ctx, vars)
	case 'o':
		out := make(map[string]any, len(vt.obj))
		for _, k := range vt.keys {
			v, err := vt.obj[k].render(ctx, vars)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case 'a':
		out := make([]any, len(vt.arr))
		for i, e := range vt.arr {
			v, err := e.render(ctx, vars)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return vt.lit, nil
}

// stringTemplates is a map of templates (headers, query parameters), rendered to text in key order.
type stringTemplates struct {
	keys  []string
	tmpls map[string]*engine.Template
}

func compileStringMap(c *engine.Compiler, field string, m map[string]string) (*stringTemplates, error) {
	st := &stringTemplates{tmpls: make(map[string]*engine.Template, len(m))}
	for k, src := range m {
		t, err := c.Template(field+"."+k, src)
		if err != nil {
			return nil, err
		}
		st.tmpls[k] = t
		st.keys = append(st.keys, k)
	}
	sort.Strings(st.keys)
	return st, nil
}

func (st *stringTemplates) render(ctx context.Context, vars *engine.Vars, each func(k, v string) error) error {
	for _, k := range st.keys {
		v, err := st.tmpls[k].Render(ctx, vars)
		if err != nil {
			return err
		}
		if err := each(k, v); err != nil {
			return err
		}
	}
	return nil
}

// File formats of exports and attachments.
const (
	FormatCSV    = "csv"
	FormatJSON   = "json"
	FormatNDJSON = "ndjson"
)

// contentTypes are the media types of the file formats.
var contentTypes = map[string]string{
	FormatCSV:    "text/csv; charset=utf-8",
	FormatJSON:   "application/json",
	FormatNDJSON: "application/x-ndjson",
}

// writeItems writes items to w in format, streaming: nothing but the current item is encoded at a time.
func writeItems(w io.Writer, format string, items []any, columns []string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	switch format {
	case FormatCSV:
		err = nodes.WriteCSV(bw, items, columns)
	case FormatNDJSON:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		for _, it := range items {
			if err = enc.Encode(it); err != nil {
				break
			}
		}
	default:
		// One item encoded at a time into a reused buffer, so the array is streamed like the other formats.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err = bw.WriteByte('['); err != nil {
			break
		}
		for i, it := range items {
			buf.Reset()
			if err = enc.Encode(it); err != nil {
				break
			}
			if i > 0 {
				if _, err = bw.WriteString(",\n"); err != nil {
					break
				}
			}
			if _, err = bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))); err != nil {
				break
			}
		}
		if err == nil {
			_, err = bw.WriteString("]\n")
		}
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// asItems reads the array a node writes: an array as is, null as none, anything else as one item (CSV and NDJSON
// of one object are still useful).
func asItems(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	}
	return []any{v}
}

// safeFilename keeps a user-chosen file name harmless wherever it is shown or sent (a download's
// Content-Disposition, an attachment): no directories, no control characters, bounded length.
func safeFilename(name, fallback string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f, r == '/', r == '\\', r == '"':
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	name = strings.TrimLeft(name, ".")
	if len(name) > 200 {
		name = strings.ToValidUTF8(name[:200], "")
	}
	if name == "" {
		return fallback
	}
	return name
}
