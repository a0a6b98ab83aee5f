package main

import (
	"strconv"
	"time"
)

// loadEvalConfig reads the limits on author-written code: jq programs, expressions and templates (README,
// "Limits on workflow code").
func loadEvalConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	limits := &cfg.Eval.Limits
	if d, err := time.ParseDuration(get("EVAL_TIMEOUT", "2s")); err != nil || d < 10*time.Millisecond || d > 10*time.Minute {
		bad("EVAL_TIMEOUT", "want a duration from 10ms to 10m such as 2s")
	} else {
		limits.Timeout = d
	}
	whole := func(name, def string, min, max int64, want string) int64 {
		n, err := strconv.ParseInt(get(name, def), 10, 64)
		if err != nil || n < min || n > max {
			bad(name, "want %s from %d to %d", want, min, max)
			return 0
		}
		return n
	}
	limits.Memory = whole("EVAL_MAX_MEMORY", "134217728", 16<<20, 16<<30, "a size in bytes")
	limits.MaxDepth = int(whole("EVAL_MAX_DEPTH", "128", 16, 10_000, "a number of levels"))
	limits.MaxBytes = int(whole("EVAL_MAX_OUTPUT_BYTES", "8388608", 1024, 256<<20, "a size in bytes"))
	cfg.Eval.Runners = int(whole("EVAL_RUNNERS", "4", 1, 256, "a number of processes"))
}
