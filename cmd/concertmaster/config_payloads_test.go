package main

import (
	"strings"
	"testing"
)

func TestPayloadConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y"}), configNeeds{})
	if err != nil || cfg.PayloadInlineLimit != 64<<10 || cfg.NodeOutputMax != 16<<20 {
		t.Fatalf("defaults: %d, %d, %v", cfg.PayloadInlineLimit, cfg.NodeOutputMax, err)
	}
	cfg, err = loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y",
		"PAYLOAD_INLINE_LIMIT": "4096", "NODE_OUTPUT_MAX": "1048576"}), configNeeds{})
	if err != nil || cfg.PayloadInlineLimit != 4096 || cfg.NodeOutputMax != 1<<20 {
		t.Errorf("set: %d, %d, %v", cfg.PayloadInlineLimit, cfg.NodeOutputMax, err)
	}
	// A jq result is bounded below a node's output: 8 MiB by default, at most NODE_OUTPUT_MAX, which an unset
	// EVAL_MAX_OUTPUT_BYTES follows down.
	for _, c := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 8 << 20},
		{map[string]string{"NODE_OUTPUT_MAX": "1048576"}, 1 << 20},
		{map[string]string{"NODE_OUTPUT_MAX": "1048576", "EVAL_MAX_OUTPUT_BYTES": "65536"}, 64 << 10},
		{map[string]string{"NODE_OUTPUT_MAX": "33554432", "EVAL_MAX_OUTPUT_BYTES": "33554432"}, 32 << 20},
	} {
		c.env["DATABASE_URL"] = "postgres://x/y"
		cfg, err := loadConfig(envFrom(c.env), configNeeds{})
		if err != nil || cfg.Eval.Limits.MaxBytes != c.want {
			t.Errorf("%v: jq result limit %d, %v; want %d", c.env, cfg.Eval.Limits.MaxBytes, err, c.want)
		}
	}
	_, err = loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y", "EVAL_MAX_OUTPUT_BYTES": "16777217"}),
		configNeeds{})
	if err == nil || !strings.Contains(err.Error(), "EVAL_MAX_OUTPUT_BYTES: 16777217 must not exceed NODE_OUTPUT_MAX (16777216)") {
		t.Errorf("a jq result limit above the output cap: %v", err)
	}
	for _, c := range []struct{ env map[string]string }{
		{map[string]string{"PAYLOAD_INLINE_LIMIT": "64k"}},
		{map[string]string{"PAYLOAD_INLINE_LIMIT": "100"}},
		{map[string]string{"NODE_OUTPUT_MAX": "-1"}},
		{map[string]string{"NODE_OUTPUT_MAX": "1073741824"}},
		// Larger than the output cap: the inline limit is the one named.
		{map[string]string{"PAYLOAD_INLINE_LIMIT": "1048576", "NODE_OUTPUT_MAX": "65536"}},
	} {
		env := map[string]string{"DATABASE_URL": "postgres://x/y"}
		var name string
		for k, v := range c.env {
			env[k] = v
			if name == "" || k == "PAYLOAD_INLINE_LIMIT" {
				name = k
			}
		}
		_, err := loadConfig(envFrom(env), configNeeds{})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v does not name %s", c.env, err, name)
		}
	}
}
