// Package fileparse reads files people upload (CSV, TSV, JSON, NDJSON, XLSX, plain text) into items: JSON-shaped
// rows a workflow can filter, aggregate and loop over. It streams: rows before Options.Offset are read and dropped,
// rows after the page are not read at all, so a page of a large file costs the page, not the file (XLSX excepted:
// the format is a zip archive, read whole within the size limit).
//
// Every input is hostile: the file's size is bounded (ErrTooLarge), so are a text line's length and the number of
// columns, and a row that does not fit the declared types is reported in Result.Errors rather than failing the
// whole file, unless Options.FailOnRowError asks for that.
package fileparse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
)

// The formats.
const (
	FormatCSV    = "csv"
	FormatTSV    = "tsv"
	FormatJSON   = "json"
	FormatNDJSON = "ndjson"
	FormatXLSX   = "xlsx"
	FormatText   = "text"
)

// Limits that no option lifts.
const (
	// MaxColumns bounds the columns of one row (CSV, XLSX).
	MaxColumns = 1000
	// MaxLineBytes bounds one line of NDJSON or text. A CSV record or a JSON value is bounded by the file's
	// MaxBytes only.
	MaxLineBytes = 1 << 20
	// sniffBytes is how much of a file is looked at to guess its format, encoding and delimiter.
	sniffBytes = 64 << 10
)

// Options says how to read a file. The zero value guesses everything and reads every row.
type Options struct {
	// Format is one of the Format constants; empty guesses from the name, the content type and the bytes.
	Format string
	// Encoding of text formats: utf-8, latin-1, windows-1252, utf-16, utf-16le, utf-16be; empty guesses (a byte
	// order mark wins, then valid UTF-8, then UTF-16 by its zero bytes, else Windows-1252).
	Encoding string
	// Delimiter of CSV; empty guesses among , ; tab and |. TSV is CSV with a tab.
	Delimiter string
	// Header says whether the first row names the columns (CSV, XLSX): "auto" (or empty) guesses, "yes", "no".
	// Without one, columns are named column_1, column_2 and so on.
	Header string
	// HeaderRow is the 1-based row holding the header in a spreadsheet (rows above it are skipped); 0 is row 1.
	HeaderRow int
	// Sheet picks an XLSX sheet by name; empty is the first sheet.
	Sheet string
	// Types converts named columns: number, integer, boolean, date, string. Other columns stay strings.
	Types map[string]string
	// DateLayout is the Go time layout of date columns; empty accepts RFC 3339, 2006-01-02, 2006-01-02 15:04:05
	// and 2006/01/02.
	DateLayout string
	// FailOnRowError makes the first bad row an error instead of an entry in Result.Errors.
	FailOnRowError bool
	// Offset skips that many data rows; Limit bounds the rows returned (0: every row). Together they page a file.
	Offset, Limit int
	// MaxBytes bounds the file; 0 is no bound.
	MaxBytes int64
	// CountAll reads past the page to the end of the file to fill Result.Total.
	CountAll bool
}

// Result is a page of a parsed file.
type Result struct {
	Items []any `json:"items"`
	// Columns are the column names of tabular formats, in file order.
	Columns []string    `json:"columns,omitempty"`
	Errors  []*RowError `json:"errors"`
	// More says rows follow the page; Total counts every data row when it is known (the whole file was read).
	More  bool `json:"more"`
	Total *int `json:"total,omitempty"`
	// What was read: the format, encoding and delimiter used (guessed or given), and for XLSX the sheets.
	Format    string   `json:"format"`
	Encoding  string   `json:"encoding,omitempty"`
	Delimiter string   `json:"delimiter,omitempty"`
	Sheet     string   `json:"sheet,omitempty"`
	Sheets    []string `json:"sheets,omitempty"`
}

// RowError is a row that did not read as asked: its 1-based data row number (the header not counted), the column
// when one is to blame, and why.
type RowError struct {
	Row     int    `json:"row"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

func (e *RowError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("row %d, column %q: %s", e.Row, e.Column, e.Message)
	}
	return fmt.Sprintf("row %d: %s", e.Row, e.Message)
}

// OptionError is an option that cannot apply to this file (or at all): a sheet the file lacks, an unknown
// encoding. Field is the option's name in a node's config.
type OptionError struct {
	Field, Message string
}

func (e *OptionError) Error() string { return e.Field + ": " + e.Message }

func optionError(field, format string, args ...any) error {
	return &OptionError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Errors.
var (
	// ErrTooLarge: the file is larger than Options.MaxBytes.
	ErrTooLarge = errors.New("the file is larger than allowed")
	// ErrFormat: the file is not in the format given or guessed (bad JSON, not a spreadsheet).
	ErrFormat = errors.New("the file cannot be read")
)

// maxErrors bounds Result.Errors: past it, one more entry says how many were left out.
const maxErrors = 100

// Parse reads one page of a file. name and contentType (either may be empty) help guess the format.
func Parse(ctx context.Context, r io.Reader, name, contentType string, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	src := &limitedReader{ctx: ctx, r: r, left: opts.MaxBytes}
	br := bufio.NewReaderSize(src, sniffBytes)
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	format := opts.Format
	if format == "" {
		format = guessFormat(name, contentType, head)
	}
	p := &page{opts: opts, res: &Result{Format: format, Items: []any{}, Errors: []*RowError{}}}
	switch format {
	case FormatXLSX:
		err = p.readXLSX(ctx, br)
	default:
		text, encoding, encErr := decodeText(br, head, opts.Encoding)
		if encErr != nil {
			return nil, encErr
		}
		p.res.Encoding = encoding
		err = p.readText(ctx, format, text)
	}
	if err != nil {
		return nil, err
	}
	return p.res, nil
}

func (p *page) readText(ctx context.Context, format string, text *bufio.Reader) error {
	switch format {
	case FormatCSV, FormatTSV:
		return p.readCSV(ctx, format, text)
	case FormatJSON:
		return p.readJSON(ctx, text)
	case FormatNDJSON:
		return p.readNDJSON(ctx, text)
	case FormatText:
		return p.readLines(ctx, text)
	}
	return optionError("format", "unknown format %q", format)
}

func (o Options) check() error {
	switch o.Header {
	case "", "auto", "yes", "no":
	default:
		return optionError("header", "want auto, yes or no, got %q", o.Header)
	}
	if d := []rune(o.Delimiter); len(d) > 1 || (len(d) == 1 && (d[0] == '"' || d[0] == '\r' || d[0] == '\n')) {
		return optionError("delimiter", "%q is not one character other than a quote or a line break", o.Delimiter)
	}
	for col, typ := range o.Types {
		if _, ok := converters[typ]; !ok {
			return optionError("types."+col, "unknown type %q", typ)
		}
	}
	if o.Offset < 0 || o.Limit < 0 || o.HeaderRow < 0 {
		return optionError("header_row", "offset, limit and header_row cannot be negative")
	}
	return nil
}

// guessFormat picks a format from the file's name, then its content type, then its first bytes.
func guessFormat(name, contentType string, head []byte) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".csv":
		return FormatCSV
	case ".tsv", ".tab":
		return FormatTSV
	case ".json":
		return FormatJSON
	case ".ndjson", ".jsonl":
		return FormatNDJSON
	case ".xlsx":
		return FormatXLSX
	case ".txt", ".log":
		return FormatText
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "text/csv":
		return FormatCSV
	case "text/tab-separated-values":
		return FormatTSV
	case "application/json":
		return FormatJSON
	case "application/x-ndjson", "application/jsonl":
		return FormatNDJSON
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return FormatXLSX
	}
	return sniffFormat(head)
}

// sniffFormat guesses from the bytes: a zip archive is a spreadsheet, JSON starts with [ or {, and several lines
// that each start with { are NDJSON; anything else is read as CSV, whose delimiter guess falls back to one column.
func sniffFormat(head []byte) string {
	if strings.HasPrefix(string(head), "PK\x03\x04") {
		return FormatXLSX
	}
	s := strings.TrimLeft(strings.TrimPrefix(string(head), "\uFEFF"), " \t\r\n")
	switch {
	case strings.HasPrefix(s, "["):
		return FormatJSON
	case strings.HasPrefix(s, "{"):
		first, rest, ok := strings.Cut(s, "\n")
		if ok && strings.HasSuffix(strings.TrimSpace(first), "}") && strings.HasPrefix(strings.TrimSpace(rest), "{") {
			return FormatNDJSON
		}
		return FormatJSON
	}
	return FormatCSV
}

// page collects the rows of one page.
type page struct {
	opts Options
	res  *Result
	// seen counts the data rows read so far.
	seen int
	// dropped counts row errors past maxErrors.
	dropped int
	// marks, when set, notes where batches start (PlanBatches).
	marks *batchMarks
	// preset names the columns of a batch, whose header row is not in its range; headerSeen says a header row
	// named them.
	preset     []string
	headerSeen bool
}

// nextInPage reports whether the next data row belongs to the page.
func (p *page) nextInPage() bool {
	n := p.seen + 1
	return n > p.opts.Offset && (p.opts.Limit == 0 || n <= p.opts.Offset+p.opts.Limit)
}

// add takes one data row (nil with rowErr for a row that could not be read at all) and reports whether
// reading should go on.
func (p *page) add(item any, rowErr *RowError) (bool, error) {
	inPage := p.nextInPage()
	if p.marks != nil {
		if err := p.marks.row(p.seen); err != nil {
			return false, err
		}
	}
	p.seen++
	if !inPage {
		if p.seen > p.opts.Offset {
			p.res.More = true
		}
		return p.opts.CountAll || !p.res.More, nil
	}
	if rowErr != nil {
		if p.opts.FailOnRowError {
			return false, rowErr
		}
		p.recordError(rowErr)
	}
	if item != nil || rowErr == nil { // a JSON null is an item; a line that could not be read is not
		p.res.Items = append(p.res.Items, item)
	}
	return true, nil
}

func (p *page) recordError(e *RowError) {
	if len(p.res.Errors) < maxErrors {
		p.res.Errors = append(p.res.Errors, e)
		return
	}
	p.dropped++
}

// finish is called at the end of the file: every row was seen, so the total is known.
func (p *page) finish() {
	total := p.seen
	p.res.Total = &total
	if p.dropped > 0 {
		p.res.Errors = append(p.res.Errors, &RowError{Message: fmt.Sprintf("%d more rows had errors", p.dropped)})
	}
}

// limitedReader fails with ErrTooLarge past left bytes (no limit when left is 0 at the start) and stops when ctx
// ends, so a canceled node stops reading a large file.
type limitedReader struct {
	ctx     context.Context
	r       io.Reader
	left    int64
	limited bool
	started bool
	// read counts the bytes read.
	read int64
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if !l.started {
		l.started, l.limited = true, l.left > 0
	}
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	if !l.limited {
		n, err := l.r.Read(b)
		l.read += int64(n)
		return n, err
	}
	if l.left <= 0 {
		// One byte more than allowed tells a file exactly at the limit from a larger one.
		var one [1]byte
		if n, _ := io.ReadFull(l.r, one[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	l.read += int64(n)
	return n, err
}
