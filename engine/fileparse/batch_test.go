package fileparse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine/fileparse"
)

// readAllBatches plans a file's batches and reads each from its offset on (as a ranged read of the stored file
// gives it), returning every batch's items and errors in order.
func readAllBatches(t *testing.T, data []byte, name string, opts fileparse.Options, size int) (*fileparse.BatchPlan, []any, []*fileparse.RowError) {
	t.Helper()
	ctx := context.Background()
	plan, err := fileparse.PlanBatches(ctx, bytes.NewReader(data), name, "", opts, size)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	// The plan travels as JSON between the nodes that make and read it.
	raw, _ := json.Marshal(plan)
	var got fileparse.BatchPlan
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	var items []any
	var errs []*fileparse.RowError
	for k := range got.Batches() {
		off, n := got.Range(k)
		part := data[off:]
		if n >= 0 {
			part = data[off : off+n]
		}
		res, err := fileparse.ReadBatch(ctx, bytes.NewReader(part), &got, k, opts)
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
		if len(res.Items) > got.Rows(k) { // fewer when a row could not be read at all (NDJSON)
			t.Errorf("batch %d has %d items, more than its %d rows", k, len(res.Items), got.Rows(k))
		}
		items = append(items, res.Items...)
		errs = append(errs, res.Errors...)
	}
	return &got, items, errs
}

// TestBatchesReadWhatParseReads reads files in batches of several sizes and compares with one whole Parse: the
// same items and row errors, in the same order, for CSV with a BOM, quoted fields holding line breaks and
// delimiters (so some batches start right after a multi-line record), blank lines, NDJSON and text.
func TestBatchesReadWhatParseReads(t *testing.T) {
	t.Parallel()
	var csv strings.Builder
	csv.WriteString("\uFEFFid,note,amount\n")
	for i := 1; i <= 97; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&csv, "%d,\"two\nlines, \"\"quoted\"\"\",%d\n", i, i)
		case 1:
			fmt.Fprintf(&csv, "%d,plain,%d\r\n\n", i, i)
		case 2:
			fmt.Fprintf(&csv, "%d,bad,x%d\n", i, i) // a row error in amount
		default:
			fmt.Fprintf(&csv, "%d,\"multi\nline\nnote\",%d\n", i, i)
		}
	}
	var ndjson, text strings.Builder
	for i := 1; i <= 41; i++ {
		fmt.Fprintf(&ndjson, "{\"n\":%d}\n", i)
		if i%7 == 0 {
			ndjson.WriteString("not json\n\n")
		}
		fmt.Fprintf(&text, "line %d\n", i)
		if i%9 == 0 {
			text.WriteString("\n")
		}
	}
	cases := []struct {
		name, file string
		data       string
		opts       fileparse.Options
	}{
		{"csv", "orders.csv", csv.String(), fileparse.Options{Types: map[string]string{"amount": "integer", "id": "integer"}}},
		{"csv without header", "rows.csv", strings.SplitN(csv.String(), "\n", 2)[1], fileparse.Options{Header: "no"}},
		{"tsv", "t.tsv", "a\tb\n1\t2\n3\t\"x\ny\"\n5\t6\n", fileparse.Options{}},
		{"ndjson", "e.ndjson", ndjson.String(), fileparse.Options{}},
		{"text", "log.txt", text.String(), fileparse.Options{}},
	}
	for _, c := range cases {
		whole, err := fileparse.Parse(context.Background(), strings.NewReader(c.data), c.file, "", c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantItems, _ := json.Marshal(whole.Items)
		wantErrs, _ := json.Marshal(whole.Errors)
		for _, size := range []int{1, 2, 3, 7, 10, 1000} {
			t.Run(fmt.Sprintf("%s/%d", c.name, size), func(t *testing.T) {
				plan, items, errs := readAllBatches(t, []byte(c.data), c.file, c.opts, size)
				if plan.Total != *whole.Total || plan.Batches() != (*whole.Total+size-1)/size {
					t.Errorf("plan total %d in %d batches, want %d rows", plan.Total, plan.Batches(), *whole.Total)
				}
				if errs == nil {
					errs = []*fileparse.RowError{}
				}
				gotItems, _ := json.Marshal(items)
				gotErrs, _ := json.Marshal(errs)
				if string(gotItems) != string(wantItems) {
					t.Errorf("items\n got %s\nwant %s", gotItems, wantItems)
				}
				if string(gotErrs) != string(wantErrs) {
					t.Errorf("errors\n got %s\nwant %s", gotErrs, wantErrs)
				}
			})
		}
	}
}

// TestBatchPlanRefusals: formats and encodings whose offsets cannot be the file's are refused naming batch_size,
// and a plan rewritten on its way (offsets out of order, sizes that disagree) is refused when read.
func TestBatchPlanRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, c := range map[string]struct {
		data, file string
		opts       fileparse.Options
	}{
		"json":    {`[{"a":1}]`, "a.json", fileparse.Options{}},
		"latin-1": {"a,b\n\xe9,1\n", "a.csv", fileparse.Options{}},
		"utf-16":  {"a,b\n", "a.csv", fileparse.Options{Encoding: "utf-16"}},
	} {
		_, err := fileparse.PlanBatches(ctx, strings.NewReader(c.data), c.file, "", c.opts, 10)
		var oe *fileparse.OptionError
		if !errors.As(err, &oe) || oe.Field != "batch_size" {
			t.Errorf("%s: %v, want an error on batch_size", name, err)
		}
	}
	good := fileparse.BatchPlan{Format: "csv", BatchSize: 2, Total: 3, Offsets: []int64{4, 10}, Size: 20}
	for name, mutate := range map[string]func(p *fileparse.BatchPlan){
		"offsets out of order": func(p *fileparse.BatchPlan) { p.Offsets = []int64{10, 4} },
		"negative offset":      func(p *fileparse.BatchPlan) { p.Offsets = []int64{-1, 4} },
		"count disagrees":      func(p *fileparse.BatchPlan) { p.Total = 9 },
		"format":               func(p *fileparse.BatchPlan) { p.Format = "xlsx" },
		"batch size":           func(p *fileparse.BatchPlan) { p.BatchSize = 0 },
	} {
		p := good
		p.Offsets = append([]int64(nil), good.Offsets...)
		mutate(&p)
		if _, err := fileparse.ReadBatch(ctx, strings.NewReader("a,b\n1,2\n"), &p, 0, fileparse.Options{}); err == nil {
			t.Errorf("%s: read", name)
		}
	}
	if err := good.Check(); err != nil {
		t.Errorf("good plan: %v", err)
	}
}
