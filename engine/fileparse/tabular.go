package fileparse

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// candidateDelimiters are the delimiters a CSV file is guessed to use, in order of preference on a tie.
var candidateDelimiters = []rune{',', ';', '\t', '|'}

func (p *page) readCSV(ctx context.Context, format string, text *bufio.Reader) error {
	delim := '\t'
	if format == FormatCSV {
		if d := []rune(p.opts.Delimiter); len(d) == 1 {
			delim = d[0]
		} else {
			head, _ := text.Peek(sniffBytes)
			delim = guessDelimiter(string(head))
		}
	}
	p.res.Delimiter = string(delim)
	cr := csv.NewReader(text)
	cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord, cr.ReuseRecord = delim, true, -1, true
	t := &table{page: p}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.marks != nil {
			p.marks.at(cr.InputOffset())
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			p.finish()
			return nil
		}
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) && !errors.Is(err, ErrTooLarge) {
				return fmt.Errorf("%w: line %d: %v", ErrFormat, perr.StartLine, perr.Err)
			}
			return err
		}
		more, err := t.record(rec)
		if err != nil || !more {
			return err
		}
	}
}

// guessDelimiter picks the candidate that splits the first lines into the same number (above one) of fields most
// often; a file of one column gets a comma.
func guessDelimiter(head string) rune {
	lines := strings.Split(head, "\n")
	if len(lines) > 20 {
		lines = lines[:20]
	}
	if len(lines) > 1 {
		lines = lines[:len(lines)-1] // the last line of a prefix may be cut short
	}
	best, bestScore := ',', 0
	for _, d := range candidateDelimiters {
		counts := map[int]int{}
		for _, l := range lines {
			if n := countOutsideQuotes(l, d); n > 0 {
				counts[n]++
			}
		}
		score := 0
		for _, c := range counts {
			score = max(score, c)
		}
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	return best
}

// countOutsideQuotes counts d in line outside double quotes.
func countOutsideQuotes(line string, d rune) int {
	n, quoted := 0, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case r == d && !quoted:
			n++
		}
	}
	return n
}

// table turns records into items: it takes the header (given, guessed or absent) from the first record and names
// the columns.
type table struct {
	page *page
	// started is set once the first record has been looked at.
	started bool
	names   []string
}

// record takes one record (reused by the caller: copied here) and reports whether reading should go on.
func (t *table) record(rec []string) (bool, error) {
	if len(rec) > MaxColumns {
		return false, fmt.Errorf("%w: a row has %d columns, more than %d", ErrFormat, len(rec), MaxColumns)
	}
	if !t.started {
		t.started = true
		if t.page.preset != nil {
			// A batch: its file's header was read when the batches were planned.
			t.names = slices.Clone(t.page.preset)
			t.page.res.Columns = t.names
		} else if t.first(rec) {
			return true, nil
		}
	}
	if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" && len(t.names) != 1 {
		return true, nil // a blank line is no row
	}
	for len(t.names) < len(rec) {
		t.names = append(t.names, fmt.Sprintf("column_%d", len(t.names)+1))
	}
	t.page.res.Columns = t.names
	if !t.page.nextInPage() {
		return t.page.add(nil, nil) // rows outside the page are counted, not converted
	}
	return t.page.add(t.item(rec))
}

// first takes a file's first record as its header when the options say so (or it looks like one), and reports
// whether it did.
func (t *table) first(rec []string) bool {
	switch t.page.opts.Header {
	case "yes":
		t.setHeader(rec)
		return true
	case "", "auto":
		if looksLikeHeader(rec) {
			t.setHeader(rec)
			return true
		}
	}
	return false
}

// item converts a record to an object keyed by column, applying the declared types. Missing trailing cells are
// null.
func (t *table) item(rec []string) (any, *RowError) {
	row := t.page.seen + 1
	item := make(map[string]any, len(t.names))
	var firstErr *RowError
	for i, name := range t.names {
		if i >= len(rec) {
			item[name] = nil
			continue
		}
		v, err := convert(rec[i], t.page.opts.Types[name], t.page.opts.DateLayout)
		if err != nil {
			if firstErr == nil {
				firstErr = &RowError{Row: row, Column: name, Message: err.Error()}
			}
			v = nil
		}
		item[name] = v
	}
	return item, firstErr
}

// setHeader names the columns after rec: trimmed, blanks named by position, repeats numbered.
func (t *table) setHeader(rec []string) {
	seen := map[string]bool{}
	t.names = make([]string, len(rec))
	for i, h := range rec {
		name := strings.TrimSpace(h)
		if name == "" {
			name = fmt.Sprintf("column_%d", i+1)
		}
		for base, n := name, 2; seen[name]; n++ {
			name = fmt.Sprintf("%s_%d", base, n)
		}
		seen[name] = true
		t.names[i] = name
	}
	t.page.res.Columns = t.names
	t.page.headerSeen = true
}

// looksLikeHeader guesses that a first row names columns when every cell is a distinct, non-empty text that is
// not a number, a date or a boolean.
func looksLikeHeader(rec []string) bool {
	seen := map[string]bool{}
	for _, c := range rec {
		c = strings.TrimSpace(c)
		if c == "" || seen[c] {
			return false
		}
		seen[c] = true
		if _, err := strconv.ParseFloat(c, 64); err == nil {
			return false
		}
		if _, err := parseDate(c, ""); err == nil {
			return false
		}
	}
	return len(rec) > 0
}

// converters convert a cell's text by type name; the empty name keeps it.
var converters = map[string]func(s, layout string) (any, error){
	"":        func(s, _ string) (any, error) { return s, nil },
	"string":  func(s, _ string) (any, error) { return s, nil },
	"number":  func(s, _ string) (any, error) { return parseNumber(s) },
	"integer": func(s, _ string) (any, error) { return parseInteger(s) },
	"boolean": func(s, _ string) (any, error) { return parseBool(s) },
	"date":    func(s, layout string) (any, error) { return parseDate(s, layout) },
}

// convert reads one cell as typ. An empty cell of a typed column is null.
func convert(s, typ, layout string) (any, error) {
	if typ != "" && typ != "string" && strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return converters[typ](s, layout)
}

func parseNumber(s string) (any, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("%q is not a number", clip(s))
	}
	return f, nil
}

func parseInteger(s string) (any, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n > 1<<53 || n < -(1<<53) {
		return nil, fmt.Errorf("%q is not an integer", clip(s))
	}
	return float64(n), nil
}

func parseBool(s string) (any, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y", "1", "on":
		return true, nil
	case "false", "no", "n", "0", "off":
		return false, nil
	}
	return nil, fmt.Errorf("%q is not a boolean (true/false, yes/no, 1/0)", clip(s))
}

// dateLayouts are the layouts a date column accepts when no layout is given.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006/01/02"}

// parseDate reads a date and gives it as RFC 3339 (a layout without a clock as 2006-01-02), which expressions compare as text
// and date functions read.
func parseDate(s, layout string) (any, error) {
	s = strings.TrimSpace(s)
	layouts := dateLayouts
	if layout != "" {
		layouts = []string{layout}
	}
	for _, l := range layouts {
		t, err := time.Parse(l, s)
		if err != nil {
			continue
		}
		if !strings.Contains(l, "15") && !strings.Contains(l, "03") {
			return t.Format("2006-01-02"), nil
		}
		return t.Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("%q is not a date", clip(s))
}

// clip shortens a cell quoted in an error message.
func clip(s string) string {
	const limit = 40
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return s
}
