package validate_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine/value"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
)

// FuzzCheckJSONText checks the JSON checker against decoders. Properties: a refusal is an Invalid fault naming
// one field; an accepted document decodes with value.Decode at the same depth, holds no NUL in any string or key,
// and re-encoded is accepted again.
func FuzzCheckJSONText(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c"}]}`, `"x\u0000"`, `{"k\ud800":1}`, `["\ud83d\ude00"]`,
		"\"\xff\"", `[[[[[[[[[[1]]]]]]]]]]`, `1e400`, `-0.0e-0`, `{"a":"\\u0000"}`, `{"a":"\"\ud800"}`, ` {"a" : [ ] } `} {
		f.Add([]byte(s), 8)
	}
	f.Fuzz(func(t *testing.T, data []byte, depth int) {
		depth = 1 + (depth&0xff)%40
		err := validate.JSONText("body", data, depth)
		if err != nil {
			e := fault.As(err)
			if e.Code != fault.Invalid || len(e.Fields) != 1 || !strings.HasPrefix(e.Fields[0].Field, "body") {
				t.Fatalf("refusal %#v", e)
			}
			return
		}
		v, err := value.Decode(data, depth)
		if err != nil {
			t.Fatalf("accepted at depth %d, but value.Decode refuses: %v\n%q", depth, err, data)
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				if strings.IndexByte(v, 0) >= 0 {
					t.Fatalf("accepted a NUL: %q", data)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			case map[string]any:
				for k, x := range v {
					walk(k)
					walk(x)
				}
			}
		}
		walk(v)
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted, but does not encode again: %v", err)
		}
		if err := validate.JSONText("", again, depth); err != nil {
			t.Fatalf("accepted, re-encoded refused: %v\n%q", err, again)
		}
	})
}
