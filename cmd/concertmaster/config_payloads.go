package main

import (
	"strconv"

	"github.com/concertmaster/concertmaster/sql/store"
)

// defaultNodeOutputMax is NODE_OUTPUT_MAX's default: room for a large API response or export, while a runaway
// node cannot hold a worker's memory.
const defaultNodeOutputMax = 16 << 20

// loadPayloadConfig reads PAYLOAD_INLINE_LIMIT (values above it go to the file storage, referenced from their row)
// and NODE_OUTPUT_MAX (a node whose output is larger fails). Offloaded values must be rarer than inline ones, so
// the inline limit cannot exceed the output cap; nor can EVAL_MAX_OUTPUT_BYTES (read before), which bounds a jq
// result and, unset, follows a smaller NODE_OUTPUT_MAX.
func loadPayloadConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	if n, err := strconv.Atoi(get("PAYLOAD_INLINE_LIMIT", strconv.Itoa(store.DefaultPayloadInlineLimit))); err != nil || n < 1024 || n > 16<<20 {
		bad("PAYLOAD_INLINE_LIMIT", "want a size in bytes from 1024 to 16777216")
	} else {
		cfg.PayloadInlineLimit = n
	}
	if n, err := strconv.Atoi(get("NODE_OUTPUT_MAX", strconv.Itoa(defaultNodeOutputMax))); err != nil || n < 64<<10 || n > 256<<20 {
		bad("NODE_OUTPUT_MAX", "want a size in bytes from 65536 to 268435456")
	} else {
		cfg.NodeOutputMax = n
	}
	if cfg.PayloadInlineLimit > 0 && cfg.NodeOutputMax > 0 && cfg.PayloadInlineLimit > cfg.NodeOutputMax {
		bad("PAYLOAD_INLINE_LIMIT", "must not exceed NODE_OUTPUT_MAX (%d)", cfg.NodeOutputMax)
	}
	// A jq result is, or becomes part of, a node's output: a larger one could never be recorded. Unset,
	// EVAL_MAX_OUTPUT_BYTES follows a NODE_OUTPUT_MAX set below its default; set above it, it is refused.
	if max := cfg.Eval.Limits.MaxBytes; max > 0 && cfg.NodeOutputMax > 0 && max > cfg.NodeOutputMax {
		if get("EVAL_MAX_OUTPUT_BYTES", "") == "" {
			cfg.Eval.Limits.MaxBytes = cfg.NodeOutputMax
		} else {
			bad("EVAL_MAX_OUTPUT_BYTES", "%d must not exceed NODE_OUTPUT_MAX (%d), which bounds a node's whole output",
				max, cfg.NodeOutputMax)
		}
	}
}

// usePayloads makes st keep large trigger data and node values in the file storage (STORAGE_URL, else DATA_DIR).
func usePayloads(cfg *config, st *store.Store) (closeFiles func(), err error) {
	files, err := openStorage(cfg)
	if err != nil {
		return nil, err
	}
	st.UsePayloads(files, cfg.PayloadInlineLimit)
	return func() { _ = files.Close() }, nil
}
