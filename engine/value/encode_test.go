package value

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func checkAppendJSON(t *testing.T, v any) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, err := AppendJSON(nil, v, 10_000, 1<<30)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%#v: error %v, encoding/json says %v", v, err, wantErr)
	}
	if err == nil && string(got) != string(want) {
		t.Fatalf("%#v: got %s, want %s", v, got, want)
	}
}

func TestAppendJSONWritesWhatEncodingJSONWrites(t *testing.T) {
	t.Parallel()
	for _, in := range jsonCorpus {
		v, err := Decode([]byte(in), 10_000)
		if err != nil {
			continue
		}
		checkAppendJSON(t, v)
	}
	for _, v := range []any{
		"<a href='x'>&amp;</a>", "line\u2028sep\u2029", "\x00\x01\x1f\x7f", "bad \xff utf8", 1e21, 1e20, 1e-6, 1e-7,
		-0.0, 123456789.125, 5e-324, 1.7976931348623157e308, 42, int64(-7), json.Number("12.50"),
		map[string]any{"b": 1.0, "a": []any{nil, true, "x"}, "": map[string]any{}},
		[]string{"typed", "slices", "go through encoding/json"},
	} {
		checkAppendJSON(t, v)
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, in := range jsonCorpus {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if v, err := Decode([]byte(in), 10_000); err == nil {
			checkAppendJSON(t, v)
		}
		checkAppendJSON(t, in)
	})
}

func TestAppendJSONRefusesDeepValuesWithoutRecursingIntoThem(t *testing.T) {
	t.Parallel()
	// A million levels: encoding/json would need a stack of about a gigabyte and kill the process.
	var deep any
	for range 1_000_000 {
		deep = []any{deep}
	}
	_, err := AppendJSON(nil, deep, 256, 1<<20)
	if !IsLimit(err) || !strings.Contains(err.Error(), "nested deeper than 256 levels") {
		t.Fatalf("got %v, want the depth limit", err)
	}
	within := []any{[]any{[]any{"three levels"}}}
	if _, err := AppendJSON(nil, within, 3, 1<<20); err != nil {
		t.Fatalf("three levels under a limit of 3: %v", err)
	}
}

func TestAppendJSONStopsAtTheSizeLimit(t *testing.T) {
	// Not parallel: it measures what the whole process allocates.
	// A million references to one megabyte: a terabyte once encoded, built for nothing by one expression.
	big := strings.Repeat("x", 1<<20)
	refs := make([]any, 1_000_000)
	for i := range refs {
		refs[i] = big
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := AppendJSON(nil, refs, 256, 4<<20)
	runtime.ReadMemStats(&after)
	if !IsLimit(err) || !strings.Contains(err.Error(), "larger than 4194304 bytes") {
		t.Fatalf("got %v, want the size limit", err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 32<<20 {
		t.Fatalf("refusing allocated %d bytes", allocated)
	}
}
