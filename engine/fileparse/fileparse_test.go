package fileparse_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/concertmaster/concertmaster/engine/fileparse"
)

// latin1 encodes s (whose runes are all in Latin-1) as ISO 8859-1 bytes.
func latin1(t *testing.T, s string) []byte {
	t.Helper()
	b, err := charmap.ISO8859_1.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// utf16LE encodes s as UTF-16 little-endian with a byte order mark, as Excel's "Unicode text" export does.
func utf16LE(t *testing.T, s string) []byte {
	t.Helper()
	b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// threeSheets builds an XLSX workbook with three sheets; the third has a title row above its header.
func threeSheets(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "Customers"))
	must(f.SetSheetRow("Customers", "A1", &[]any{"name", "city"}))
	must(f.SetSheetRow("Customers", "A2", &[]any{"Zoë", "Zürich"}))
	_, err := f.NewSheet("Orders")
	must(err)
	must(f.SetSheetRow("Orders", "A1", &[]any{"id", "total", "paid"}))
	must(f.SetSheetRow("Orders", "A2", &[]any{1, 19.5, true}))
	must(f.SetSheetRow("Orders", "A3", &[]any{2, 5, false}))
	_, err = f.NewSheet("Report")
	must(err)
	must(f.SetSheetRow("Report", "A1", &[]any{"Quarterly report"}))
	must(f.SetSheetRow("Report", "A3", &[]any{"region", "sales"}))
	must(f.SetSheetRow("Report", "A4", &[]any{"north", 100}))
	var buf bytes.Buffer
	must(f.Write(&buf))
	return buf.Bytes()
}

func TestParseSampleFiles(t *testing.T) {
	t.Parallel()
	bom := "\uFEFF"
	tests := []struct {
		name, filename string
		data           []byte
		opts           fileparse.Options
		want           []any
		wantEncoding   string
		wantDelimiter  string
	}{
		{
			name: "CSV with a BOM and a quoted newline", filename: "people.csv",
			data: []byte(bom + "name,note,age\r\n\"Doe, Jane\",\"line one\nline two\",41\r\nBob,\"said \"\"hi\"\"\",7\r\n"),
			opts: fileparse.Options{Types: map[string]string{"age": "number"}},
			want: []any{
				map[string]any{"name": "Doe, Jane", "note": "line one\nline two", "age": 41.0},
				map[string]any{"name": "Bob", "note": `said "hi"`, "age": 7.0},
			},
			wantEncoding: "utf-8", wantDelimiter: ",",
		},
		{
			name: "Latin-1 with semicolons, guessed", filename: "villes.csv",
			data: latin1(t, "ville;pays\nMünchen;Deutschland\nSão Paulo;Brasil\n"),
			want: []any{
				map[string]any{"ville": "München", "pays": "Deutschland"},
				map[string]any{"ville": "São Paulo", "pays": "Brasil"},
			},
			wantEncoding: "windows-1252", wantDelimiter: ";",
		},
		{
			name: "Latin-1 declared", filename: "villes.csv",
			data: latin1(t, "ville,prix\nKöln,12\n"), opts: fileparse.Options{Encoding: "latin-1"},
			want:         []any{map[string]any{"ville": "Köln", "prix": "12"}},
			wantEncoding: "latin-1", wantDelimiter: ",",
		},
		{
			name: "UTF-16 TSV", filename: "export.tsv",
			data: utf16LE(t, "sku\tqty\tshipped\r\nA-1\t3\tyes\r\nB-2\t\tno\r\n"),
			opts: fileparse.Options{Types: map[string]string{"qty": "integer", "shipped": "boolean"}},
			want: []any{
				map[string]any{"sku": "A-1", "qty": 3.0, "shipped": true},
				map[string]any{"sku": "B-2", "qty": nil, "shipped": false},
			},
			wantEncoding: "utf-16le", wantDelimiter: "\t",
		},
		{
			name: "no header guessed", filename: "nums.csv", data: []byte("1,2\n3,4\n"),
			want: []any{
				map[string]any{"column_1": "1", "column_2": "2"},
				map[string]any{"column_1": "3", "column_2": "4"},
			},
			wantEncoding: "utf-8", wantDelimiter: ",",
		},
		{
			name: "NDJSON", filename: "events.ndjson",
			data: []byte("{\"a\":1}\n\n{\"a\":2,\"b\":[true]}\r\n"),
			want: []any{map[string]any{"a": 1.0}, map[string]any{"a": 2.0, "b": []any{true}}}, wantEncoding: "utf-8",
		},
		{
			name: "JSON array", filename: "data.json", data: []byte(` [{"x": "é"}, 2, null]`),
			want: []any{map[string]any{"x": "é"}, 2.0, nil}, wantEncoding: "utf-8",
		},
		{
			name: "JSON object", filename: "", data: []byte(`{"one": {"deep": 1}}`),
			want: []any{map[string]any{"one": map[string]any{"deep": 1.0}}}, wantEncoding: "utf-8",
		},
		{
			name: "text lines", filename: "app.log", data: []byte("first\r\n\nthird"),
			want: []any{
				map[string]any{"line": 1.0, "text": "first"},
				map[string]any{"line": 2.0, "text": ""},
				map[string]any{"line": 3.0, "text": "third"},
			},
			wantEncoding: "utf-8",
		},
		{
			name: "XLSX first sheet", filename: "book.xlsx", data: threeSheets(t),
			want: []any{map[string]any{"name": "Zoë", "city": "Zürich"}},
		},
		{
			name: "XLSX sheet by name, typed", filename: "book.xlsx", data: threeSheets(t),
			opts: fileparse.Options{Sheet: "Orders", Types: map[string]string{"id": "integer", "total": "number", "paid": "boolean"}},
			want: []any{
				map[string]any{"id": 1.0, "total": 19.5, "paid": true},
				map[string]any{"id": 2.0, "total": 5.0, "paid": false},
			},
		},
		{
			name: "XLSX header on row 3", filename: "book.xlsx", data: threeSheets(t),
			opts: fileparse.Options{Sheet: "Report", HeaderRow: 3},
			want: []any{map[string]any{"region": "north", "sales": "100"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := fileparse.Parse(context.Background(), bytes.NewReader(tt.data), tt.filename, "", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Items, tt.want) {
				t.Errorf("items:\n got %#v\nwant %#v", res.Items, tt.want)
			}
			if len(res.Errors) != 0 {
				t.Errorf("errors: %v", res.Errors)
			}
			if res.Encoding != tt.wantEncoding || res.Delimiter != tt.wantDelimiter {
				t.Errorf("encoding %q delimiter %q, want %q %q", res.Encoding, res.Delimiter, tt.wantEncoding, tt.wantDelimiter)
			}
			if res.Total == nil || *res.Total != len(tt.want) || res.More {
				t.Errorf("total %v more %v, want %d rows and no more", res.Total, res.More, len(tt.want))
			}
		})
	}
}

func TestParseXLSXListsSheets(t *testing.T) {
	t.Parallel()
	res, err := fileparse.Parse(context.Background(), bytes.NewReader(threeSheets(t)), "", "", fileparse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Customers", "Orders", "Report"}; !reflect.DeepEqual(res.Sheets, want) || res.Format != "xlsx" {
		t.Errorf("sheets %v format %q, want %v sniffed as xlsx", res.Sheets, res.Format, want)
	}
	_, err = fileparse.Parse(context.Background(), bytes.NewReader(threeSheets(t)), "", "", fileparse.Options{Sheet: "Nope"})
	if err == nil || !strings.Contains(err.Error(), `no sheet "Nope"`) || !strings.Contains(err.Error(), "Orders") {
		t.Errorf("missing sheet: %v", err)
	}
}

func TestParseRowErrors(t *testing.T) {
	t.Parallel()
	data := []byte("id,amount,when,ok\n1,12.5,2026-01-31,true\n2,twelve,2026-02-30,maybe\n3,,2026-03-01T10:00:00Z,no\n")
	opts := fileparse.Options{Types: map[string]string{"id": "integer", "amount": "number", "when": "date", "ok": "boolean"}}
	res, err := fileparse.Parse(context.Background(), bytes.NewReader(data), "x.csv", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{
		map[string]any{"id": 1.0, "amount": 12.5, "when": "2026-01-31", "ok": true},
		map[string]any{"id": 2.0, "amount": nil, "when": nil, "ok": nil},
		map[string]any{"id": 3.0, "amount": nil, "when": "2026-03-01T10:00:00Z", "ok": false},
	}
	if !reflect.DeepEqual(res.Items, want) {
		t.Errorf("items:\n got %#v\nwant %#v", res.Items, want)
	}
	if len(res.Errors) != 1 || res.Errors[0].Row != 2 || res.Errors[0].Column != "amount" ||
		!strings.Contains(res.Errors[0].Message, `"twelve" is not a number`) {
		t.Errorf("errors: %v, want row 2's amount", res.Errors)
	}

	opts.FailOnRowError = true
	_, err = fileparse.Parse(context.Background(), bytes.NewReader(data), "x.csv", "", opts)
	var rowErr *fileparse.RowError
	if !errors.As(err, &rowErr) || rowErr.Row != 2 {
		t.Errorf("fail on row error: %v, want row 2", err)
	}

	res, err = fileparse.Parse(context.Background(), strings.NewReader("{\"a\":1}\n{nope\n"), "e.ndjson", "", fileparse.Options{})
	if err != nil || len(res.Items) != 1 || len(res.Errors) != 1 || res.Errors[0].Row != 2 {
		t.Errorf("ndjson bad line: %v %+v", err, res)
	}
}

func TestParsePages(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("n\n")
	for i := 1; i <= 25; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	read := func(offset, limit int, countAll bool) *fileparse.Result {
		t.Helper()
		res, err := fileparse.Parse(context.Background(), strings.NewReader(b.String()), "n.csv", "",
			fileparse.Options{Header: "yes", Offset: offset, Limit: limit, CountAll: countAll, Types: map[string]string{"n": "integer"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := read(10, 10, false)
	if len(res.Items) != 10 || res.Items[0].(map[string]any)["n"] != 11.0 || !res.More || res.Total != nil {
		t.Errorf("second page: %d items from %v, more %v, total %v", len(res.Items), res.Items[0], res.More, res.Total)
	}
	res = read(20, 10, false)
	if len(res.Items) != 5 || res.More || res.Total == nil || *res.Total != 25 {
		t.Errorf("last page: %d items, more %v, total %v", len(res.Items), res.More, res.Total)
	}
	res = read(0, 10, true)
	if len(res.Items) != 10 || !res.More || res.Total == nil || *res.Total != 25 {
		t.Errorf("first page counted: %d items, more %v, total %v", len(res.Items), res.More, res.Total)
	}
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	big := strings.Repeat("a,b\n", 1000)
	if _, err := fileparse.Parse(ctx, strings.NewReader(big), "x.csv", "", fileparse.Options{MaxBytes: 100}); !errors.Is(err, fileparse.ErrTooLarge) {
		t.Errorf("over MaxBytes: %v", err)
	}
	if _, err := fileparse.Parse(ctx, strings.NewReader(big), "x.csv", "", fileparse.Options{MaxBytes: int64(len(big))}); err != nil {
		t.Errorf("exactly MaxBytes: %v", err)
	}
	long := strings.Repeat("x", fileparse.MaxLineBytes+10)
	if _, err := fileparse.Parse(ctx, strings.NewReader(long), "x.txt", "", fileparse.Options{}); !errors.Is(err, fileparse.ErrFormat) {
		t.Errorf("over-long line: %v", err)
	}
	wide := strings.Repeat("c,", fileparse.MaxColumns+1) + "\n"
	if _, err := fileparse.Parse(ctx, strings.NewReader(wide), "x.csv", "", fileparse.Options{}); !errors.Is(err, fileparse.ErrFormat) {
		t.Errorf("too many columns: %v", err)
	}
	if _, err := fileparse.Parse(ctx, strings.NewReader("[1, 2"), "x.json", "", fileparse.Options{}); !errors.Is(err, fileparse.ErrFormat) {
		t.Errorf("cut JSON: %v", err)
	}
	if _, err := fileparse.Parse(ctx, strings.NewReader("PK\x03\x04 not really"), "x.xlsx", "", fileparse.Options{}); !errors.Is(err, fileparse.ErrFormat) {
		t.Errorf("broken XLSX: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := fileparse.Parse(canceled, strings.NewReader(big), "x.csv", "", fileparse.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	for _, bad := range []fileparse.Options{{Header: "maybe"}, {Delimiter: `"`}, {Types: map[string]string{"a": "money"}}, {Encoding: "ebcdic"}} {
		if _, err := fileparse.Parse(ctx, strings.NewReader(big), "x.csv", "", bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
}
