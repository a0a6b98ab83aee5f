package fileparse

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// readJSON reads an array as one item per element, streaming through it; any other value is one item.
func (p *page) readJSON(ctx context.Context, text *bufio.Reader) error {
	dec := json.NewDecoder(text)
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if tok != json.Delim('[') {
		// A single value: read it whole from the start again.
		rest := io.MultiReader(strings.NewReader(tokenText(tok)), dec.Buffered(), text)
		var v any
		if err := json.NewDecoder(rest).Decode(&v); err != nil {
			return jsonError(err)
		}
		if _, err := p.add(v, nil); err != nil {
			return err
		}
		p.finish()
		return nil
	}
	for dec.More() {
		if err := ctx.Err(); err != nil {
			return err
		}
		var v any
		if !p.nextInPage() {
			var skip json.RawMessage
			err = dec.Decode(&skip)
		} else {
			err = dec.Decode(&v)
		}
		if err != nil {
			return jsonError(err)
		}
		more, err := p.add(v, nil)
		if err != nil || !more {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return jsonError(err)
	}
	p.finish()
	return nil
}

// tokenText writes a top-level token back as JSON text, so the value it starts can be decoded whole.
func tokenText(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return t.String()
	case nil:
		return "null"
	}
	b, _ := json.Marshal(tok)
	return string(b)
}

func jsonError(err error) error {
	if errors.Is(err, ErrTooLarge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: not valid JSON: %v", ErrFormat, err)
}

// readNDJSON reads one item per non-blank line; a line that is not JSON is a row error.
func (p *page) readNDJSON(ctx context.Context, text *bufio.Reader) error {
	return p.eachLine(ctx, text, func(line string) (any, *RowError) {
		if strings.TrimSpace(line) == "" {
			return nil, nil
		}
		if !p.nextInPage() {
			return struct{}{}, nil
		}
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return nil, &RowError{Row: p.seen + 1, Message: "not valid JSON: " + err.Error()}
		}
		return v, nil
	})
}

// readLines reads one item {line, text} per line, blank lines included: line numbers stay the file's.
func (p *page) readLines(ctx context.Context, text *bufio.Reader) error {
	return p.eachLine(ctx, text, func(line string) (any, *RowError) {
		return map[string]any{"line": float64(p.seen + 1), "text": line}, nil
	})
}

// eachLine calls row for each line (without its line break) and adds what it returns; a row func returning
// (nil, nil) skips the line without counting it.
func (p *page) eachLine(ctx context.Context, text *bufio.Reader, row func(string) (any, *RowError)) error {
	sc := bufio.NewScanner(text)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	if p.marks != nil {
		// Batches start at line starts: count what each line takes, its line break included.
		var consumed int64
		sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
			adv, tok, err := bufio.ScanLines(data, atEOF)
			if tok != nil {
				p.marks.at(consumed)
			}
			consumed += int64(adv)
			return adv, tok, err
		})
	}
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			return err
		}
		item, rowErr := row(strings.TrimSuffix(sc.Text(), "\r"))
		if item == nil && rowErr == nil {
			continue
		}
		if _, skipped := item.(struct{}); skipped {
			item = nil
		}
		more, err := p.add(item, rowErr)
		if err != nil || !more {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: line %d is longer than %d bytes", ErrFormat, p.seen+1, MaxLineBytes)
		}
		return err
	}
	p.finish()
	return nil
}

// maxUnzippedBytes bounds what a spreadsheet may unpack to, whatever its packed size: a zip bomb stops here.
const maxUnzippedBytes = 1 << 30

// readXLSX reads one sheet: rows above HeaderRow are skipped, the header row (unless Header is "no") names the
// columns. Cells come as the spreadsheet shows them (formatted text); Types converts them.
func (p *page) readXLSX(ctx context.Context, r io.Reader) error {
	f, err := excelize.OpenReader(r, excelize.Options{UnzipSizeLimit: maxUnzippedBytes, UnzipXMLSizeLimit: 64 << 20})
	if err != nil {
		if errors.Is(err, ErrTooLarge) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: not an XLSX spreadsheet: %v", ErrFormat, err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	p.res.Sheets = sheets
	sheet := p.opts.Sheet
	if sheet == "" && len(sheets) > 0 {
		sheet = sheets[0]
	}
	if idx, _ := f.GetSheetIndex(sheet); idx < 0 || sheet == "" {
		return optionError("sheet", "the spreadsheet has no sheet %q (it has %s)", clip(sheet), strings.Join(sheets, ", "))
	}
	p.res.Sheet = sheet
	rows, err := f.Rows(sheet)
	if err != nil {
		return fmt.Errorf("%w: sheet %q: %v", ErrFormat, sheet, err)
	}
	defer rows.Close()
	t := &table{page: p}
	for n := 1; rows.Next(); n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		cells, err := rows.Columns()
		if err != nil {
			return fmt.Errorf("%w: sheet %q, row %d: %v", ErrFormat, sheet, n, err)
		}
		if n < max(p.opts.HeaderRow, 1) {
			continue
		}
		if len(cells) == 0 {
			cells = []string{""}
		}
		more, err := t.record(cells)
		if err != nil || !more {
			return err
		}
	}
	if err := rows.Error(); err != nil {
		return fmt.Errorf("%w: sheet %q: %v", ErrFormat, sheet, err)
	}
	p.finish()
	return nil
}
