package value

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var jsonCorpus = []string{
	`null`, `true`, `false`, `0`, `-0`, `1`, `-12`, `123456789012345`, `1234567890123456789`, `12.5`, `-0.001`,
	`1e3`, `1E-3`, `2.5e+10`, `1e400`, `-1e400`, `0.1`, `9007199254740993`,
	`""`, `"plain"`, `"with \"quotes\" and \\ slash \/"`, `"\b\f\n\r\t"`, `"\u00e9\u4e2d"`, `"é中😀"`,
	`"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`, `"\ud83d\u0041"`, `"\ud83dx"`, "\"bad \xff utf8\"", "\"\xed\xa0\x80\"",
	`[]`, `{}`, ` [ 1 , [ 2 , [ ] ] , { } ] `, `{"a":1,"a":2}`, `{"k":{"nested":[true,null,"x",{"deep":-1.5}]}}`,
	"\t\n {\"ws\" : \r 1 }\n",
	// Invalid.
	``, ` `, `nul`, `tru`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `NaN`, `[1,]`, `{"a":1,}`, `{"a" 1}`,
	`{a:1}`, `[1 2]`, `"unterminated`, `"bad \x escape"`, `"\u12"`, `"\u12G4"`, "\"ctrl \x01\"", `{"a":1}x`, `[`, `{`,
	`{"a"`, `{"a":`, `[1`, `"\`, `truex`, `nullnull`,
}

func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range jsonCorpus {
		checkDecodeJSON(t, in)
	}
	deep := strings.Repeat("[", 101) + strings.Repeat("]", 101)
	if _, err := Decode([]byte(deep), 100); !IsLimit(err) {
		t.Errorf("101 levels under a limit of 100: %v, want a LimitError", err)
	}
	if _, err := Decode([]byte(deep), 101); err != nil {
		t.Errorf("101 levels under a limit of 101: %v", err)
	}
}

func checkDecodeJSON(t *testing.T, in string) {
	t.Helper()
	var want any
	wantErr := json.Unmarshal([]byte(in), &want)
	got, err := Decode([]byte(in), 10_000)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", in, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %#v, want %#v", in, got, want)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, in := range jsonCorpus {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkDecodeJSON(t, in)
	})
}

func BenchmarkDecodeJSON(b *testing.B) {
	in := []byte(`{"body":{"order_id":"A-1001","email":"buyer@example.com","lines":[{"sku":"X-1","price":12.5,"qty":2},{"sku":"Y-2","price":80,"qty":1}]},"headers":{"content-type":"application/json","user-agent":"shop/1.0"},"query":{},"method":"POST"}`)
	b.Run("decodeJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(in, 10_000); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(in, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
