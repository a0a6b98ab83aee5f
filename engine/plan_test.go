package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPlanCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := NewPlanCache(2)
	a, b, d := &Plan{}, &Plan{}, &Plan{}
	c.Add("a", a)
	c.Add("b", b)
	if got, ok := c.Get("a"); !ok || got != a {
		t.Fatal("a missing")
	}
	c.Add("d", d) // evicts b, the least recently used
	if _, ok := c.Get("b"); ok {
		t.Error("b survived")
	}
	if _, ok := c.Get("a"); !ok {
		t.Error("a evicted")
	}
	if c.Len() != 2 {
		t.Errorf("len %d", c.Len())
	}
	c.Add("a", d)
	if got, _ := c.Get("a"); got != d || c.Len() != 2 {
		t.Error("replacing a key")
	}
	one := NewPlanCache(0)
	one.Add("a", a)
	one.Add("b", b)
	if got, ok := one.Get("b"); !ok || got != b || one.Len() != 1 {
		t.Error("a capacity below 1 holds one plan")
	}
}

func TestPlanCacheGetOrCompile(t *testing.T) {
	t.Parallel()
	c := NewPlanCache(10)
	var compiles atomic.Int32
	release := make(chan struct{})
	plan := &Plan{}
	var wg sync.WaitGroup
	results := make([]*Plan, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.GetOrCompile("v1", func() (*Plan, error) {
				compiles.Add(1)
				<-release
				return plan, nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = p
		}()
	}
	// Callers arriving while the compile runs wait for it; any arriving after it find its plan cached.
	close(release)
	wg.Wait()
	if n := compiles.Load(); n != 1 {
		t.Errorf("compiled %d times", n)
	}
	for _, p := range results {
		if p != plan {
			t.Fatal("a caller got another plan")
		}
	}

	// Errors and panics are reported, not cached.
	_, err := c.GetOrCompile("bad", func() (*Plan, error) { return nil, errors.New("no such version") })
	if err == nil {
		t.Fatal("no error")
	}
	_, err = c.GetOrCompile("bad", func() (*Plan, error) { panic("broken") })
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("panic: %v", err)
	}
	p, err := c.GetOrCompile("bad", func() (*Plan, error) { return plan, nil })
	if err != nil || p != plan {
		t.Fatal("an error was cached")
	}
}

func TestRetryWait(t *testing.T) {
	t.Parallel()
	x := NewExecutor(ExecutorOptions{Jitter: func(c time.Duration) time.Duration { return c }})
	exp := retryPolicy{maxAttempts: 10, exponential: true, initial: time.Second, max: 10 * time.Second}
	var got []time.Duration
	for attempt := 1; attempt <= 6; attempt++ {
		got = append(got, x.retryWait(exp, attempt, errors.New("x")))
	}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Errorf("attempt %d: %v, want %v", i+1, got[i], want[i]*time.Second)
		}
	}
	if d := x.retryWait(exp, 100, errors.New("x")); d != 10*time.Second {
		t.Errorf("no overflow at high attempts: %v", d)
	}
	if d := x.retryWait(exp, 1, RetryAfter(errors.New("x"), time.Hour)); d != MaxRetryInterval {
		t.Errorf("a hint is capped: %v", d)
	}
	if d := x.retryWait(exp, 1, fmt.Errorf("wrapped: %w", RetryAfter(errors.New("x"), 3*time.Second))); d != 3*time.Second {
		t.Errorf("a wrapped hint is found: %v", d)
	}

	// The default jitter stays within [0, ceiling].
	def := NewExecutor(ExecutorOptions{})
	for range 100 {
		if d := def.retryWait(exp, 3, errors.New("x")); d < 0 || d > 4*time.Second {
			t.Fatalf("jittered wait %v out of range", d)
		}
	}
}

func TestErrorsWrap(t *testing.T) {
	t.Parallel()
	base := errors.New("base")
	if !IsPermanent(fmt.Errorf("ctx: %w", Permanent(base))) || IsPermanent(base) {
		t.Error("IsPermanent")
	}
	if !errors.Is(Permanent(base), base) || !errors.Is(RetryAfter(base, time.Second), base) {
		t.Error("the cause is kept")
	}
	if Permanent(nil) != nil || RetryAfter(nil, time.Second) != nil {
		t.Error("nil stays nil")
	}
	var fe *FieldError
	if !errors.As(ConfigError("cron", "bad"), &fe) || fe.Field != "cron" {
		t.Error("ConfigError")
	}
}

type customStruct struct {
	A int64 `json:"a"`
}

func TestEncodeOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		out      Output
		wantRaw  string
		wantData string // the data as JSON, after normalisation
		wantErr  string
	}{
		{name: "plain data is kept", out: Output{Data: map[string]any{"a": []any{1.0, "x", nil, true}}}, wantRaw: `{"a":[1,"x",null,true]}`},
		{name: "structs are normalised", out: Output{Data: customStruct{A: 5}}, wantRaw: `{"a":5}`},
		{name: "typed slices are normalised", out: Output{Data: []string{"a"}}, wantRaw: `["a"]`},
		{name: "given JSON is trusted", out: Output{Data: "x", JSON: json.RawMessage(`"x"`)}, wantRaw: `"x"`},
		{name: "JSON alone is decoded", out: Output{JSON: json.RawMessage(`{"k":1}`)}, wantRaw: `{"k":1}`},
		{name: "unencodable", out: Output{Data: make(chan int)}, wantErr: "cannot be encoded"},
		{name: "too large", out: Output{Data: strings.Repeat("x", 100)}, wantErr: "output is larger than NODE_OUTPUT_MAX (50 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, raw, err := encodeOutput(tt.out, 10, 50)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !IsPermanent(err) {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil || string(raw) != tt.wantRaw {
				t.Fatalf("raw %s %v", raw, err)
			}
			if !isPlain(data, 0) {
				t.Errorf("data %#v is not plain", data)
			}
			b, _ := json.Marshal(data)
			if string(b) != tt.wantRaw {
				t.Errorf("data %s", b)
			}
		})
	}
}

func TestIsPlain(t *testing.T) {
	t.Parallel()
	deep := any(1.0)
	for range 200 {
		deep = []any{deep}
	}
	for _, tt := range []struct {
		v    any
		want bool
	}{
		{nil, true}, {1, true}, {1.5, true}, {"s", true}, {json.Number("1"), true},
		{map[string]any{"a": []any{map[string]any{}}}, true},
		{int64(1), false}, {[]string{}, false}, {map[string]string{}, false}, {time.Time{}, false},
		{map[string]any{"a": []any{int32(1)}}, false},
		{deep, false},
	} {
		if got := isPlain(tt.v, 0); got != tt.want {
			t.Errorf("isPlain(%T) = %v", tt.v, got)
		}
	}
}
