package nodes

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/concertmaster/concertmaster/engine"
)

// Output formats of transform.format.
const (
	FormatText = "text"
	FormatHTML = "html"
	FormatCSV  = "csv"
	FormatJSON = "json"
)

// FormatConfig is the config of transform.format.
type FormatConfig struct {
	// Template is the document with {{ expressions }}; required for every output but csv.
	Template string `json:"template,omitempty"`
	// Output says how values are written into the document: text as they are, html escaped, json encoded.
	Output string `json:"output"`
	// Items (csv) is an expression giving the array of objects to write; the input by default.
	Items string `json:"items,omitempty"`
	// Columns (csv) fixes the columns and their order; by default every key found, sorted.
	Columns []string `json:"columns,omitempty"`
}

const formatSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "template": {"title": "Template", "type": "string", "maxLength": 65536, "x-expression": "template",
      "description": "Text with {{ expressions }}. In html output values are escaped; in json output they are JSON-encoded."},
    "output": {"title": "Output", "enum": ["text", "html", "csv", "json"], "default": "text"},
    "items": {"title": "Items (CSV)", "type": "string", "minLength": 1, "x-expression": "expression",
      "description": "An expression giving the array of objects to write; the input when empty."},
    "columns": {"title": "Columns (CSV)", "type": "array", "maxItems": 500, "items": {"type": "string", "minLength": 1}}
  },
  "required": ["output"],
  "additionalProperties": false,
  "if": {"properties": {"output": {"const": "csv"}}},
  "then": {"not": {"required": ["template"]}},
  "else": {"required": ["template"], "properties": {"items": false, "columns": false}}
}`

// FormatTransform renders a document (text, HTML, CSV or JSON) from the data, for e-mails, files and API bodies.
// Its output is the document as a string. Like html/template, it escapes values and only values: the template's
// own markup is trusted, data never is.
func FormatTransform() engine.NodeType {
	return engine.NodeType{
		Name:         "transform.format",
		Category:     engine.CategoryTransform,
		Title:        "Format",
		Description:  "Renders text, HTML or JSON from a {{ template }}, or CSV from an array of objects.",
		ConfigSchema: json.RawMessage(formatSchema),
		Example:      json.RawMessage(`{"output": "html", "template": "<p>Order {{ input.id }} from {{ input.customer.name }}</p>"}`),
		Compile:      compileFormat,
	}
}

func compileFormat(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[FormatConfig](cfg)
	if err != nil {
		return nil, err
	}
	if conf.Output == FormatCSV {
		var itemsExpr *engine.Expression
		if conf.Items != "" {
			if itemsExpr, err = c.Expression("items", conf.Items); err != nil {
				return nil, err
			}
		}
		columns := conf.Columns
		return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
			list, err := items(ctx, itemsExpr, in.Vars())
			if err != nil {
				return engine.Output{}, err
			}
			buf := &boundedBuffer{limit: engine.MaxTemplateBytes}
			if err := WriteCSV(buf, list, columns); err != nil {
				return engine.Output{}, err
			}
			return engine.Output{Data: buf.String()}, nil
		}), nil
	}

	tmpl, err := c.Template("template", conf.Template)
	if err != nil {
		return nil, err
	}
	var format func(any) (string, error)
	switch conf.Output {
	case FormatHTML:
		format = func(v any) (string, error) { return html.EscapeString(engine.FormatValue(v)), nil }
	case FormatJSON:
		format = func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		}
	default:
		format = func(v any) (string, error) { return engine.FormatValue(v), nil }
	}
	asJSON := conf.Output == FormatJSON
	return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
		doc, err := tmpl.RenderFunc(ctx, in.Vars(), format)
		if err != nil {
			return engine.Output{}, err
		}
		if asJSON && !json.Valid([]byte(doc)) {
			return engine.Output{}, engine.Permanent(fmt.Errorf("the rendered template is not valid JSON"))
		}
		return engine.Output{Data: doc}, nil
	}), nil
}

// WriteCSV writes an array of objects as CSV with a header row. Without explicit columns it uses every key found,
// sorted, because JSON objects have no order to keep. Nested values are written as JSON. Text cells that a
// spreadsheet would run as a formula get a leading quote (OWASP's advice against CSV injection). transform.format,
// e-mail attachments and file exports all write CSV through it, so they agree.
func WriteCSV(w io.Writer, items []any, columns []string) error {
	if len(columns) == 0 {
		seen := map[string]bool{}
		for _, it := range items {
			obj, ok := it.(map[string]any)
			if !ok {
				continue
			}
			for k := range obj {
				if !seen[k] {
					seen[k] = true
					columns = append(columns, k)
				}
			}
		}
		sort.Strings(columns)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	row := make([]string, len(columns))
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return engine.Permanent(fmt.Errorf("item %d is %s, not an object: CSV needs objects", i, describe(it)))
		}
		for j, col := range columns {
			row[j] = csvCell(obj[col])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// boundedBuffer is a buffer that refuses to grow past limit, so a rendered document stays within the template
// bounds however many items it is given.
type boundedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, engine.Permanent(fmt.Errorf("CSV is larger than %d bytes", b.limit))
	}
	return b.Buffer.Write(p)
}

func csvCell(v any) string {
	s := engine.FormatValue(v)
	str, isString := v.(string)
	if !isString || str == "" {
		return s
	}
	switch str[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if _, err := strconv.ParseFloat(strings.TrimSpace(str), 64); err != nil {
			return "'" + s
		}
	}
	return s
}
