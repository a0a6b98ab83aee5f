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
