package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/fileparse"
	"github.com/concertmaster/concertmaster/platform/fault"
)

// ParseTransformType is the node type that reads a stored file into items.
const ParseTransformType = "transform.parse"

// Limits of transform.parse.
const (
	// DefaultParseRows and MaxParseRows bound the items of one run: they become the node's recorded output, which
	// is kept with the execution.
	DefaultParseRows = 10_000
	MaxParseRows     = 100_000
	// DefaultParseBytes and MaxParseBytes bound the file read.
	DefaultParseBytes = 50 << 20
	MaxParseBytes     = 1 << 30
)

// ParseConfig is the config of transform.parse.
type ParseConfig struct {
	// File is an expression giving the file: a reference string, or an object with a ref (the output of a file
	// upload trigger, a form's file field, an HTTP download or a file export). The input by default.
	File string `json:"file,omitempty"`
	// Format is auto (guessed from the name, type and bytes), csv, tsv, json, ndjson, xlsx or text.
	Format     string            `json:"format,omitempty"`
	Encoding   string            `json:"encoding,omitempty"`
	Delimiter  string            `json:"delimiter,omitempty"`
	Header     string            `json:"header,omitempty"`
	HeaderRow  int               `json:"header_row,omitempty"`
	Sheet      string            `json:"sheet,omitempty"`
	Types      map[string]string `json:"types,omitempty"`
	DateLayout string            `json:"date_layout,omitempty"`
	// OnRowError is collect (the default: bad rows are listed in errors, their bad cells null) or fail.
	OnRowError string `json:"on_row_error,omitempty"`
	MaxRows    int    `json:"max_rows,omitempty"`
	MaxBytes   int64  `json:"max_bytes,omitempty"`
	// BatchSize, when set, reads the file in batches of that many rows: the node outputs a batch plan, which a
	// condition.loop reads one batch at a time (see fileBatches).
	BatchSize int `json:"batch_size,omitempty"`
}

const parseSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "file": {"title": "File", "type": "string", "minLength": 1, "maxLength": 65536, "x-expression": "expression",
      "description": "An expression giving the file: a reference, or an object with a ref such as trigger or input.attachment; the input when empty."},
    "format": {"title": "Format", "enum": ["auto", "csv", "tsv", "json", "ndjson", "xlsx", "text"], "default": "auto"},
    "encoding": {"title": "Encoding", "enum": ["auto", "utf-8", "latin-1", "windows-1252", "utf-16", "utf-16le", "utf-16be"], "default": "auto"},
    "delimiter": {"title": "Delimiter (CSV)", "type": "string", "minLength": 1, "maxLength": 1,
      "description": "Guessed among , ; tab and | when empty."},
    "header": {"title": "First row is a header", "enum": ["auto", "yes", "no"], "default": "auto"},
    "header_row": {"title": "Header row (XLSX)", "type": "integer", "minimum": 1, "maximum": 1000, "default": 1},
    "sheet": {"title": "Sheet (XLSX)", "type": "string", "minLength": 1, "maxLength": 100,
      "description": "The sheet's name; the first sheet when empty."},
    "types": {"title": "Column types", "type": "object", "maxProperties": 200,
      "propertyNames": {"minLength": 1, "maxLength": 200},
      "additionalProperties": {"enum": ["string", "number", "integer", "boolean", "date"]}},
    "date_layout": {"title": "Date layout", "type": "string", "minLength": 1, "maxLength": 100,
      "description": "A Go time layout such as 02/01/2006; ISO dates are read when empty."},
    "on_row_error": {"title": "On a bad row", "enum": ["collect", "fail"], "default": "collect"},
    "max_rows": {"title": "Maximum rows", "type": "integer", "minimum": 1, "maximum": 100000, "default": 10000},
    "max_bytes": {"title": "Maximum file size (bytes)", "type": "integer", "minimum": 1, "maximum": 1073741824, "default": 52428800,
      "description": "50 MB by default; 1 GB with batch_size, since batches keep memory flat."},
    "batch_size": {"title": "Batch size (rows)", "type": "integer", "minimum": 1, "maximum": 100000,
      "description": "Read a large UTF-8 CSV, TSV, NDJSON or text file in batches of this many rows: the output is a batch plan (batches, total, columns) for a Loop node with items set to input, whose body runs once per batch with {items, errors, batch, row}. Each finished batch is a checkpoint: a resumed execution skips it."}
  },
  "additionalProperties": false
}`

// ParseTransform reads a stored file (CSV, TSV, JSON, NDJSON, XLSX, text) into items. It is in beta behind the
// feature flag node.transform.parse.
func ParseTransform() engine.NodeType {
	return engine.NodeType{
		Name:     ParseTransformType,
		Category: engine.CategoryTransform,
		Title:    "Parse file",
		Beta:     true,
		Description: "Reads an uploaded, downloaded or exported file (CSV, TSV, JSON, NDJSON, XLSX or text) into items, " +
			"with typed columns; rows that do not fit are listed in errors. Outputs {items, columns, errors, total, more, format}.",
		ConfigSchema: json.RawMessage(parseSchema),
		Example:      json.RawMessage(`{"file": "trigger", "format": "csv", "types": {"amount": "number", "paid": "boolean"}}`),
		Compile:      compileParse,
	}
}

type parseNode struct {
	file       *engine.Expression
	opts       fileparse.Options
	batchSize  int
	onRowError string
}

func compileParse(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[ParseConfig](cfg)
	if err != nil {
		return nil, err
	}
	n := &parseNode{opts: fileparse.Options{Format: conf.Format, Encoding: conf.Encoding, Delimiter: conf.Delimiter,
		Header: conf.Header, HeaderRow: conf.HeaderRow, Sheet: conf.Sheet, Types: conf.Types, DateLayout: conf.DateLayout,
		FailOnRowError: conf.OnRowError == "fail", Limit: conf.MaxRows, MaxBytes: conf.MaxBytes}}
	if n.opts.Format == "auto" {
		n.opts.Format = ""
	}
	if n.opts.Limit == 0 {
		n.opts.Limit = DefaultParseRows
	}
	n.batchSize, n.onRowError = conf.BatchSize, conf.OnRowError
	if n.opts.MaxBytes == 0 {
		n.opts.MaxBytes = DefaultParseBytes
		if n.batchSize > 0 {
			n.opts.MaxBytes = MaxParseBytes
		}
	}
	if conf.File != "" {
		if n.file, err = c.Expression("file", conf.File); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Run opens the file through the execution's storage, which finds only the organization's own files, and parses
// the page of rows the config allows.
func (n *parseNode) Run(ctx context.Context, in engine.Input) (engine.Output, error) {
	if in.Services == nil || in.Services.Storage == nil {
		return engine.Output{}, engine.Permanent(errors.New("file storage is not available to this execution"))
	}
	vars := in.Vars()
	value := vars.Input()
	if n.file != nil {
		var err error
		if value, err = n.file.Eval(ctx, vars); err != nil {
			return engine.Output{}, err
		}
	}
	ref, err := FileRef(value)
	if err != nil {
		return engine.Output{}, engine.Permanent(err)
	}
	file, body, err := in.Services.Storage.Open(ctx, ref)
	if err != nil {
		return engine.Output{}, storageError(err)
	}
	defer body.Close()
	if n.batchSize > 0 {
		return n.planBatches(ctx, file, body)
	}
	res, err := fileparse.Parse(ctx, body, file.Filename, file.ContentType, n.opts)
	if err != nil {
		return engine.Output{}, parseError(err, n.opts.MaxBytes)
	}
	out := map[string]any{"items": res.Items, "columns": res.Columns, "errors": res.Errors, "more": res.More,
		"format": res.Format, "file": map[string]any{"ref": file.Ref, "filename": file.Filename, "size": file.Size}}
	if res.Total != nil {
		out["total"] = *res.Total
	}
	for k, v := range map[string]string{"encoding": res.Encoding, "delimiter": res.Delimiter, "sheet": res.Sheet} {
		if v != "" {
			out[k] = v
		}
	}
	if len(res.Sheets) > 0 {
		out["sheets"] = res.Sheets
	}
	return engine.Output{Data: out}, nil
}

// FileRef reads a file reference from a value: a reference string, or an object holding one under "ref" (the
// output of a file upload trigger, a form's file field, an HTTP download, a file export).
func FileRef(v any) (string, error) {
	switch x := v.(type) {
	case string:
		if x != "" {
			return x, nil
		}
	case map[string]any:
		if ref, ok := x["ref"].(string); ok && ref != "" {
			return ref, nil
		}
		keys := slices.Sorted(maps.Keys(x))
		if len(keys) > 20 {
			keys = append(keys[:20], "…")
		}
		return "", fmt.Errorf("file: the object has no ref (it has %s)", strings.Join(keys, ", "))
	}
	return "", fmt.Errorf("file: want a file reference or an object with a ref, got %s", describe(v))
}

// storageError reports a file that cannot be opened: one that is not the organization's (or has expired) is a
// permanent failure; a storage outage may pass.
func storageError(err error) error {
	switch fault.CodeOf(err) {
	case fault.NotFound:
		return engine.Permanent(errors.New("file: no such file in this organization (or it has expired)"))
	case fault.Invalid, fault.Forbidden:
		return engine.Permanent(fmt.Errorf("file: %w", err))
	}
	return fmt.Errorf("open file: %w", err)
}

// parseError marks what a retry cannot fix as permanent: the file's own faults and the config's.
func parseError(err error, maxBytes int64) error {
	var rowErr *fileparse.RowError
	var optErr *fileparse.OptionError
	switch {
	case errors.Is(err, fileparse.ErrTooLarge):
		return engine.Permanent(fmt.Errorf("file: larger than max_bytes (%d bytes)", maxBytes))
	case errors.Is(err, fileparse.ErrFormat), errors.As(err, &rowErr), errors.As(err, &optErr):
		return engine.Permanent(err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("read file: %w", err)
}
