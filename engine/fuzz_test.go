package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/itchyny/gojq"
)

// fuzzInput is the input expressions are evaluated on in FuzzExpression.
const fuzzInput = `{"total":150,"items":[{"n":1,"s":"a"},{"n":2,"s":"b"}],"name":"Ada","flag":true,"nested":{"a":{"b":[1,2,3]}}}`

// FuzzExpression compiles expressions as Validate does and evaluates the ones that compile on a small input under
// a short deadline. Properties: nothing panics; an evaluation ends in a value, a Permanent error (the same data
// would fail again) or the deadline, never in a retryable error of its own. Seeds: testdata/fuzz/FuzzExpression.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{"input.total > 100", "len(input.items) == 2 && input.flag", `input.name + "!"`,
		"map(input.items, .n * 2)", "filter(input.items, .n > 1)", `trigger.body.email`, "input.nested.a.b[1]",
		"1 / 0", "repeat('x', 1000000)", "input.missing.deeper", `{"a": [input.total]}`, "index % 2"} {
		f.Add(s)
	}
	input := decode(f, fuzzInput)
	f.Fuzz(func(t *testing.T, src string) {
		e, err := compileExpression(src)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err = e.Eval(ctx, testVars(input))
		if err != nil && !IsPermanent(err) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("expression %q: an error neither permanent nor the deadline: %v", src, err)
		}
	})
}

// FuzzJQCompile compiles jq programs as Validate does. Properties: nothing panics; a program that compiles prints
// (gojq's String) as a program that parses again and prints the same, so what is saved is what runs. Running
// programs is the sandbox's business and is fuzzed there by its hostile tests; a process round trip per exec
// would make this target slow. Seeds: testdata/fuzz/FuzzJQCompile.
func FuzzJQCompile(f *testing.F) {
	for _, s := range []string{".", "{total: .body.total}", "[.items[] | select(.n > 1)]", "def f: f; f",
		"reduce .[] as $x (0; . + $x)", `$nodes.a.output // "none"`, "path(..)", `"\(.a)-\(.b)"`, "try error catch .",
		"limit(3; repeat(1))", ".a as [$x, {b: $y}] | $x + $y", "@base64d", "getpath([\"a\",0])"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if _, err := compileJQ(src); err != nil {
			return
		}
		q, err := gojq.Parse(src)
		if err != nil {
			t.Fatalf("compiled but does not parse: %q: %v", src, err)
		}
		printed := q.String()
		q2, err := gojq.Parse(printed)
		if err != nil {
			t.Fatalf("%q prints as %q, which does not parse: %v", src, printed, err)
		}
		if again := q2.String(); again != printed {
			t.Fatalf("%q prints as %q, then as %q", src, printed, again)
		}
	})
}
