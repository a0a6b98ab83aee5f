package engine

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/concertmaster/concertmaster/engine/sandbox"
)

func TestJQProjectionsAreTheProgramsThatCannotGrow(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]bool{
		`{id: .body.order_id, email: .body.email}`: true,
		`.`:                                  true,
		`.a.b?.c`:                            true,
		`.a["b"][0]`:                         true,
		`{a, $trigger, "k": 1}`:              true,
		`.a // "none"`:                       true,
		`.a == 1 and (.b or .c)`:             true,
		`.body | {total: .total}`:            true,
		`[.a]`:                               true,
		`$input.x`:                           true,
		`null`:                               true,
		`[.a, .b]`:                           false, // ",": several values
		`.[]`:                                false,
		`.a[]`:                               false,
		`..`:                                 false,
		`. + .`:                              false,
		`"x" * 1000000000`:                   false,
		`.a - 1`:                             false,
		`def f: f; f`:                        false,
		`"\(.a)"`:                            false,
		`.a[1:2]`:                            false,
		`.[.k]`:                              false,
		`{(.k): 1}`:                          false,
		`length`:                             false,
		`$ENV`:                               false,
		`@base64`:                            false,
		`reduce range(10) as $i (0; . + $i)`: false,
		`.a as $x | $x`:                      false,
		`if .a then .b else .c end`:          false,
		`try .a`:                             false,
		`-(.a)`:                              false,
	} {
		q, err := compileJQ(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := q.local != nil; got != want {
			t.Errorf("%s: projection %v, want %v", src, got, want)
		}
	}
}

// A projection gives what a runner gives, values and errors alike; where this process cannot run it (a Go value
// gojq does not take), the runner does.
func TestProjectionsRunHereAsInARunner(t *testing.T) {
	t.Parallel()
	input := decode(t, `{"body":{"order_id":"A-1","email":"a@example.com","total":250,"n":1.5,"list":[1,{"x":null}]}}`)
	for _, src := range []string{
		`{id: .body.order_id, email: .body.email}`,
		`.body.list[1].x // "none"`,
		`.body.total == 250 and .body.n < 2`,
		`{t: $trigger.body.email, i: $item, x: $index, e: $execution.id}`,
		`.missing.deeper?`,
		`.body.total.x`, // an error: a number has no fields
		`[.body]`,
	} {
		local, err := compileJQ(src)
		if err != nil || local.local == nil {
			t.Fatalf("%s: %v, or not a projection", src, err)
		}
		remote := *local
		remote.local = nil
		here, hereErr := local.Run(context.Background(), testVars(input))
		there, thereErr := remote.Run(context.Background(), testVars(input))
		if !reflect.DeepEqual(here, there) || (hereErr == nil) != (thereErr == nil) ||
			(hereErr != nil && hereErr.Error() != thereErr.Error()) {
			t.Errorf("%s: here %v (%v), in a runner %v (%v)", src, here, hereErr, there, thereErr)
		}
	}
	// A typed Go value, as an action's output may hold: gojq refuses it, so the runner (through JSON) answers.
	typed := map[string]any{"headers": map[string][]string{"x": {"1"}}}
	q, _ := compileJQ(`.headers.x`)
	got, err := q.Run(context.Background(), testVars(typed))
	if b, _ := json.Marshal(got); err != nil || string(b) != `[["1"]]` {
		t.Errorf("typed input: %s %v", b, err)
	}
}

// The projection does not touch the sandbox: it runs with every runner closed.
func TestProjectionsNeedNoRunner(t *testing.T) {
	t.Parallel()
	closed := sandbox.NewPool(sandbox.Options{})
	closed.Close()
	q, _ := compileJQ(`{total: .body.total}`)
	got, err := q.First(context.Background(), varsIn(closed, decode(t, `{"body":{"total":3}}`)))
	if b, _ := json.Marshal(got); err != nil || string(b) != `{"total":3}` {
		t.Fatalf("%s %v", b, err)
	}
	q, _ = compileJQ(`.body.total + 1`)
	if _, err := q.First(context.Background(), varsIn(closed, decode(t, `{"body":{"total":3}}`))); err == nil {
		t.Fatal("a program that is not a projection ran without a runner")
	}
}
