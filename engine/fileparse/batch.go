package fileparse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Limits of batches.
const (
	// MaxBatches bounds the batches of one plan: its offsets travel with the execution's recorded output.
	MaxBatches = 100_000
	// MaxBatchSize bounds the rows of one batch.
	MaxBatchSize = 100_000
	// MaxBatchBytes bounds the bytes ReadBatch reads for one batch, whatever the plan says: a plan is data a
	// workflow could have rewritten.
	MaxBatchBytes = 64 << 20
)

// BatchPlan says where the batches of a large text file start, so that each can be read on its own (through a
// ranged read of the stored file) long after the plan was made, in another process if need be. Making it reads the
// whole file once but keeps none of its rows: memory stays flat whatever the file's size.
//
// Offsets are in the file's bytes, which is why a plan reads UTF-8 files only: in other encodings (and through
// the replacement of invalid bytes) decoded text and file bytes do not line up.
type BatchPlan struct {
	Format    string `json:"format"`
	Delimiter string `json:"delimiter,omitempty"`
	// Header says the columns were named by a header row (which precedes the first batch); without one, each
	// batch names its columns column_1, column_2 … as they come.
	Header  bool     `json:"header,omitempty"`
	Columns []string `json:"columns,omitempty"`
	// BatchSize is the data rows of every batch but the last; Total counts every data row.
	BatchSize int `json:"batch_size"`
	Total     int `json:"total"`
	// Offsets are the byte offsets where each batch's first data row starts; a batch ends where the next starts,
	// the last at the end of the file, Size bytes.
	Offsets []int64 `json:"offsets"`
	Size    int64   `json:"size"`
}

// Batches is the number of batches.
func (b *BatchPlan) Batches() int { return len(b.Offsets) }

// Rows is the number of data rows of batch k.
func (b *BatchPlan) Rows(k int) int {
	return min(b.BatchSize, b.Total-k*b.BatchSize)
}

// Range is the byte range of batch k: its offset and length (-1: to the end of the file).
func (b *BatchPlan) Range(k int) (offset, length int64) {
	if k+1 < len(b.Offsets) {
		return b.Offsets[k], b.Offsets[k+1] - b.Offsets[k]
	}
	return b.Offsets[k], -1
}

// Check reports a plan that cannot have been made by PlanBatches: one a workflow rewrote on its way to the loop.
func (b *BatchPlan) Check() error {
	switch b.Format {
	case FormatCSV, FormatTSV, FormatNDJSON, FormatText:
	default:
		return optionError("batches.format", "%q is not a format read in batches", clip(b.Format))
	}
	if b.BatchSize < 1 || b.BatchSize > MaxBatchSize || b.Total < 0 || len(b.Offsets) > MaxBatches ||
		len(b.Offsets) != (b.Total+b.BatchSize-1)/b.BatchSize || len(b.Columns) > MaxColumns {
		return optionError("batches", "the batch plan is inconsistent (batch_size, total and offsets disagree)")
	}
	for k, off := range b.Offsets {
		if off < 0 || (k > 0 && off <= b.Offsets[k-1]) || (b.Size > 0 && off >= b.Size) {
			return optionError("batches.offsets", "offset %d is out of order or outside the file", k)
		}
	}
	return Options{Delimiter: b.Delimiter}.check()
}

// batchMarks notes the byte offset of every batchSize-th data row while a file is read.
type batchMarks struct {
	size int
	// base is added to every offset: the bytes before the reader's start (a byte order mark).
	base    int64
	pending int64
	offsets []int64
}

// at says the next row, if it is one, starts at offset (of the reader's input).
func (m *batchMarks) at(offset int64) { m.pending = offset }

// row is called before data row seen+1 is counted.
func (m *batchMarks) row(seen int) error {
	if seen%m.size != 0 {
		return nil
	}
	if len(m.offsets) == MaxBatches {
		return optionError("batch_size", "the file has more than %d batches of %d rows; raise batch_size", MaxBatches, m.size)
	}
	m.offsets = append(m.offsets, m.base+m.pending)
	return nil
}

// PlanBatches reads a whole CSV, TSV, NDJSON or text file in UTF-8 (with or without a byte order mark) and
// returns where its batches of batchSize data rows start. Rows are counted, not kept or converted. Other
// formats and encodings are refused with an OptionError on batch_size.
func PlanBatches(ctx context.Context, r io.Reader, name, contentType string, opts Options, batchSize int) (*BatchPlan, error) {
	if batchSize < 1 || batchSize > MaxBatchSize {
		return nil, optionError("batch_size", "want 1 to %d, got %d", MaxBatchSize, batchSize)
	}
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
	switch format {
	case FormatCSV, FormatTSV, FormatNDJSON, FormatText:
	default:
		return nil, optionError("batch_size", "batches read CSV, TSV, NDJSON and text files, not %s; parse it without batch_size", format)
	}
	enc := opts.Encoding
	if enc == "" || enc == "auto" {
		enc = guessEncoding(head)
	}
	if enc != EncodingUTF8 && enc != "utf8" {
		return nil, optionError("batch_size", "batches read UTF-8 files only, and this file is %s; convert it, or parse it without batch_size", enc)
	}
	marks := &batchMarks{size: batchSize}
	if bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
		marks.base = 3
	}
	opts.Offset, opts.Limit, opts.CountAll = math.MaxInt, 0, true
	p := &page{opts: opts, res: &Result{Format: format, Items: []any{}, Errors: []*RowError{}}, marks: marks}
	// The file's own bytes, not decoded: offsets must be the file's.
	if err := p.readText(ctx, format, br); err != nil {
		return nil, err
	}
	plan := &BatchPlan{Format: format, Delimiter: p.res.Delimiter, BatchSize: batchSize, Total: *p.res.Total,
		Offsets: marks.offsets, Size: src.read}
	if plan.Offsets == nil {
		plan.Offsets = []int64{}
	}
	if format == FormatCSV || format == FormatTSV {
		plan.Columns = make([]string, len(p.res.Columns))
		for i, c := range p.res.Columns {
			plan.Columns[i] = validText(c)
		}
		plan.Header = p.opts.Header == "yes" || (p.opts.Header != "no" && p.headerSeen)
	}
	return plan, nil
}

// validText gives s as a reading through the UTF-8 decoder would: invalid bytes replaced.
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, _, err := transform.String(unicode.UTF8.NewDecoder(), s)
	if err != nil {
		return s
	}
	return out
}

// ReadBatch reads batch k of plan from r, the file's bytes from the batch's offset on (to the next batch's, or
// further: reading stops after the batch's rows). Row numbers (in Result.Errors and text lines) are the file's.
// opts supplies the conversions (Types, DateLayout, FailOnRowError); the plan, the reading.
func ReadBatch(ctx context.Context, r io.Reader, plan *BatchPlan, k int, opts Options) (*Result, error) {
	if err := plan.Check(); err != nil {
		return nil, err
	}
	if k < 0 || k >= plan.Batches() {
		return nil, optionError("batches", "there is no batch %d", k)
	}
	opts.Format, opts.Delimiter, opts.CountAll, opts.MaxBytes = plan.Format, plan.Delimiter, false, 0
	opts.Offset, opts.Limit = k*plan.BatchSize, plan.Rows(k)
	if plan.Header {
		opts.Header = "yes"
	} else {
		opts.Header = "no"
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	src := &limitedReader{ctx: ctx, r: io.LimitReader(r, MaxBatchBytes+1), left: MaxBatchBytes}
	text := bufio.NewReaderSize(transform.NewReader(src, unicode.UTF8.NewDecoder()), sniffBytes)
	p := &page{opts: opts, seen: opts.Offset, res: &Result{Format: plan.Format, Encoding: EncodingUTF8, Items: []any{},
		Errors: []*RowError{}}}
	if plan.Header {
		p.preset = plan.Columns
	}
	err := p.readText(ctx, plan.Format, text)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("%w: batch %d is larger than %d bytes; lower batch_size", ErrTooLarge, k, MaxBatchBytes)
	}
	if err != nil {
		return nil, err
	}
	// The batch's range ends where the next batch starts: reaching its end is not the end of the file.
	p.res.Total, p.res.More = nil, k+1 < plan.Batches()
	return p.res, nil
}
