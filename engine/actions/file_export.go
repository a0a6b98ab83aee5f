package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/engine"
)

// MaxFileRetention bounds how long a node may ask an export to be kept.
const MaxFileRetention = 366 * 24 * time.Hour

// FileExportConfig is the config of action.file_export.
type FileExportConfig struct {
	// Items is an expression giving the array to write; the input by default.
	Items  string `json:"items,omitempty"`
	Format string `json:"format"`
	// Filename is a template; the format's extension is added unless the name ends with it.
	Filename string `json:"filename"`
	// Retention is how long the file is kept ("720h"); the platform's default (FILE_RETENTION) when empty,
	// "forever" to keep it until deleted.
	Retention string `json:"retention,omitempty"`
	// Columns fixes the CSV columns and their order; every key found, sorted, by default.
	Columns []string `json:"columns,omitempty"`
}

const fileExportSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "items": {"title": "Items", "type": "string", "minLength": 1, "maxLength": 65536, "x-expression": "expression",
      "description": "An expression giving the array to write, such as input.orders; the input by default."},
    "format": {"title": "Format", "enum": ["csv", "json", "ndjson"]},
    "filename": {"title": "File name", "type": "string", "minLength": 1, "maxLength": 500, "x-expression": "template",
      "description": "A template, such as orders-{{ execution.id }}.csv."},
    "retention": {"title": "Keep for", "type": "string", "pattern": "^(forever|([0-9]+(\\.[0-9]+)?(m|h))+)$",
      "description": "How long the file stays downloadable, such as 168h; forever keeps it until deleted."},
    "columns": {"title": "Columns (CSV)", "type": "array", "maxItems": 500, "items": {"type": "string", "minLength": 1}}
  },
  "required": ["format", "filename"],
  "additionalProperties": false
}`

// FileExportAction writes items to a CSV, JSON or NDJSON file in the storage backend.
func FileExportAction() engine.NodeType {
	return engine.NodeType{
		Name:         "action.file_export",
		Category:     engine.CategoryAction,
		Title:        "Export file",
		Description:  "Writes items to a CSV, JSON or NDJSON file kept for download from the execution. Outputs the file's reference, name, type, size and SHA-256.",
		ConfigSchema: json.RawMessage(fileExportSchema),
		SideEffects:  true,
		Example:      json.RawMessage(`{"items": "input.orders", "format": "csv", "filename": "orders-{{ execution.id }}.csv", "retention": "168h"}`),
		Compile:      compileFileExport,
	}
}

type fileExportNode struct {
	items     *engine.Expression
	format    string
	filename  *engine.Template
	retention time.Duration // 0: the platform's default; -1: forever
	columns   []string
}

func compileFileExport(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
	conf, err := decodeConfig[FileExportConfig](cfg)
	if err != nil {
		return nil, err
	}
	n := &fileExportNode{format: conf.Format, columns: conf.Columns}
	if conf.Items != "" {
		if n.items, err = c.Expression("items", conf.Items); err != nil {
			return nil, err
		}
	}
	if n.filename, err = c.Template("filename", conf.Filename); err != nil {
		return nil, err
	}
	if len(conf.Columns) > 0 && conf.Format != FormatCSV {
		return nil, engine.ConfigError("columns", "columns apply to CSV only")
	}
	switch conf.Retention {
	case "":
	case "forever":
		n.retention = -1
	default:
		if n.retention, err = parseDurationField("retention", conf.Retention, 0, MaxFileRetention); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Run streams the items into storage through a pipe, so the encoded file is never held in memory whole, and
// outputs {ref, filename, content_type, size, sha256, expires_at?, upload_id?}.
func (n *fileExportNode) Run(ctx context.Context, in engine.Input) (engine.Output, error) {
	svc := in.Services
	if svc == nil || svc.Storage == nil {
		return engine.Output{}, engine.Permanent(errors.New("file storage is not available to this execution"))
	}
	vars := in.Vars()
	value := vars.Input()
	if n.items != nil {
		var err error
		if value, err = n.items.Eval(ctx, vars); err != nil {
			return engine.Output{}, err
		}
	}
	items := asItems(value)
	name, err := n.filename.Render(ctx, vars)
	if err != nil {
		return engine.Output{}, err
	}
	name = safeFilename(name, "export."+n.format)
	if !strings.HasSuffix(strings.ToLower(name), "."+n.format) {
		name += "." + n.format
	}
	ctype := contentTypes[n.format]

	pr, pw := io.Pipe()
	encodeErr := make(chan error, 1)
	go func() {
		err := writeItems(pw, n.format, items, n.columns)
		pw.CloseWithError(err)
		encodeErr <- err
	}()
	// The digest is computed here, from the bytes as they stream to storage.
	counter := &hashingReader{r: pr, h: sha256.New()}
	file, putErr := svc.Storage.Put(ctx, engine.NewFile{Name: name, ContentType: ctype, Retention: n.retention}, counter)
	pr.CloseWithError(errors.New("export stopped"))
	if err := <-encodeErr; err != nil && (putErr == nil || engine.IsPermanent(err)) {
		return engine.Output{}, err
	}
	if putErr != nil {
		return engine.Output{}, fmt.Errorf("store %s: %w", name, putErr)
	}
	out := map[string]any{"ref": file.Ref, "filename": name, "content_type": ctype}
	if file.ID != "" {
		out["upload_id"] = file.ID
	}
	if !file.ExpiresAt.IsZero() {
		out["expires_at"] = file.ExpiresAt.Format(time.RFC3339)
	}
	out["size"] = counter.n
	out["sha256"] = hex.EncodeToString(counter.h.Sum(nil))
	out["items"] = len(items)
	return engine.Output{Data: out}, nil
}

// hashingReader counts and digests what passes through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *hashingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}
