package actions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
)

// TestParseReadsTheOrganizationsFiles runs transform.parse against the real storage runtime: files stored for the
// execution's organization are read into items, and a reference from another organization, a made-up one or a
// path is refused as not found, whatever form it comes in.
func TestParseReadsTheOrganizationsFiles(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	f := env.factory(t, nil)
	svc := f.ForExecution(ctx, queue.Execution{ID: env.executionID, OrganizationID: env.org.ID, WorkflowID: env.workflowID})
	otherSvc := f.Services(env.other.ID, uuid.Nil, uuid.Nil)

	put := func(svc *engine.Services, name, content string) string {
		t.Helper()
		file, err := svc.Storage.Put(ctx, engine.NewFile{Name: name, ContentType: "text/csv"}, strings.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		return file.Ref
	}
	ours := put(svc, "orders.csv", "\uFEFFid;total;paid\n1;10.5;yes\n2;oops;no\n")
	theirs := put(otherSvc, "secret.csv", "a,b\n1,2\n")

	trigger, _ := json.Marshal(map[string]any{"body": map[string]any{"upload": map[string]any{"ref": ours}}})
	_, runs, _ := runChain(t, svc, string(trigger), node{id: "parse", typ: "transform.parse",
		cfg: `{"file": "trigger.body.upload", "types": {"id": "integer", "total": "number", "paid": "boolean"}}`})
	out := output(t, runs["parse"])
	items, _ := json.Marshal(out["items"])
	if string(items) != `[{"id":1,"paid":true,"total":10.5},{"id":2,"paid":false,"total":null}]` {
		t.Errorf("items %s", items)
	}
	errs, _ := json.Marshal(out["errors"])
	if string(errs) != `[{"column":"total","message":"\"oops\" is not a number","row":2}]` || out["total"] != 2.0 || out["delimiter"] != ";" ||
		out["more"] != false || out["format"] != "csv" {
		t.Errorf("output %v", out)
	}
	if file, _ := out["file"].(map[string]any); file["ref"] != ours || file["filename"] != "orders.csv" {
		t.Errorf("file %v", out["file"])
	}

	for name, ref := range map[string]string{
		"another organization's file": theirs,
		"a made-up reference":         uuid.New().String()[:32],
		"a path":                      "../../etc/passwd",
	} {
		t.Run(name, func(t *testing.T) {
			trigger, _ := json.Marshal(map[string]any{"body": map[string]any{"ref": ref}})
			_, runs, _ := runChain(t, svc, string(trigger), node{id: "parse", typ: "transform.parse", cfg: `{"file": "trigger.body.ref"}`})
			if r := runs["parse"]; r.Status != engine.NodeFailed || !strings.Contains(r.Error, "no such file in this organization") {
				t.Errorf("run %s: %s", r.Status, r.Error)
			}
		})
	}

	t.Run("limits and bad input fail at once", func(t *testing.T) {
		for cfg, want := range map[string]string{
			`{"file": "trigger.body.ref", "max_bytes": 10}`:                                      "larger than max_bytes (10 bytes)",
			`{"file": "trigger.body.ref", "format": "json"}`:                                     "not valid JSON",
			`{"file": "trigger.body.ref", "types": {"total": "number"}, "on_row_error": "fail"}`: `row 2, column "total"`,
			`{"file": "trigger"}`: "the object has no ref",
			`{"file": "42"}`:      "got a number",
		} {
			trigger, _ := json.Marshal(map[string]any{"body": map[string]any{"ref": ours}})
			_, runs, sleeps := runChain(t, svc, string(trigger), node{id: "parse", typ: "transform.parse", cfg: cfg,
				retry: &engine.RetryPolicy{MaxAttempts: 3}})
			if r := runs["parse"]; r.Status != engine.NodeFailed || !strings.Contains(r.Error, want) || len(*sleeps) != 0 {
				t.Errorf("%s: run %s after %d retries: %s, want %q", cfg, r.Status, len(*sleeps), r.Error, want)
			}
		}
	})
}
