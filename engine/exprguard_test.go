package engine

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The hostile expressions of the issue and their kin: each ends with a permanent error naming its limit, soon.
func TestHostileExpressionsEndWithTheirLimit(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	input := map[string]any{"big": big, "s": "ab"}
	tests := []struct {
		name, src, want string
	}{
		{"nested reduce burns CPU", `let r = 1..800; reduce(r, #acc + reduce(r, #acc + reduce(r, #acc+1, 0), 0), 0) > 0`, "ran longer than"},
		{"string doubling", `let a = input.big + input.big; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; len(f + f)`, "built more than"},
		{"a million references joined", `len(join(map(1..300000, input.big), ""))`, "would build more than"},
		{"references encoded", `len(toJSON(map(1..300000, input.big)))`, "would build more than"},
		{"upper in a loop", `len(map(1..100000, upper(input.big)))`, "more than 32 MiB"},
		{"nested references flattened", `let a = map(1..1000, input.s); let b = map(1..1000, a); let c = map(1..1000, b); len(flatten(c))`, "would build more than"},
		{"reserved names", `__guard`, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := (&Compiler{}).Expression("e", tt.src)
			if err != nil {
				if strings.Contains(err.Error(), tt.want) {
					return
				}
				t.Fatal(err)
			}
			vars := testVars(input)
			if strings.Contains(tt.want, "longer") {
				vars = quickVars(input)
			}
			_, err = e.Eval(context.Background(), vars)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !IsPermanent(err) {
				t.Fatalf("got %v, want a permanent error with %q", err, tt.want)
			}
		})
	}
}

// Cancel stops a running expression: its goroutine returns, which is the only way its CPU stops.
func TestCanceledExpressionStopsRunning(t *testing.T) {
	t.Parallel()
	e, err := (&Compiler{}).Condition("c", `let r = 1..2000; reduce(r, #acc + reduce(r, #acc + reduce(r, #acc+1, 0), 0), 0) > 0`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.Eval(ctx, testVars(nil))
		done <- err
	}()
	runtime.Gosched()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || IsPermanent(err) {
			t.Fatalf("got %v, want context.Canceled (not the expression's fault)", err)
		}
	case <-time.After(30 * time.Second): // the expression alone would run for hours
		t.Fatal("cancel did not stop the expression")
	}
}

// The guard costs ordinary expressions nothing they could notice, and they still work: + on numbers, strings and
// mixed types, predicates, builtins.
func TestGuardedExpressionsKeepTheirMeaning(t *testing.T) {
	t.Parallel()
	tests := map[string]any{
		`1 + 2`:                              3,
		`1.5 + 2`:                            3.5,
		`"a" + "b"`:                          "ab",
		`filter([1, 2, 3], # > 1)`:           []any{2, 3},
		`reduce(1..4, #acc + #, 0)`:          10,
		`join(["a", "b"], "-")`:              "a-b",
		`upper("x") + lower("Y")`:            "Xy",
		`len(toJSON({"k": [1, 2]}))`:         29, // toJSON indents
		`sort([3, 1, 2])`:                    []any{1, 2, 3},
		`max(1, 5, 3)`:                       5,
		`trim("  x ")`:                       "x",
		`flatten([[1], [2, [3]]])`:           []any{1, 2, 3},
		`all([1, 2], {# > 0}) && 7 % 2 == 1`: true,
	}
	for src, want := range tests {
		e, err := (&Compiler{}).Expression("e", src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := e.Eval(context.Background(), testVars(nil))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if FormatValue(got) != FormatValue(want) {
			t.Errorf("%s = %v, want %v", src, got, want)
		}
	}
}
