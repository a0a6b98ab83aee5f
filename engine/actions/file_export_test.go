package actions_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/queue"
)

func TestFileExportStreamsToStorageAndRecordsTheFile(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	f := env.factory(t, func(c *actions.ServicesConfig) { c.FileRetention = 48 * time.Hour })
	// The worker's path: services built from a queue.Execution.
	svc := f.ForExecution(ctx, queue.Execution{ID: env.executionID, OrganizationID: env.org.ID, WorkflowID: env.workflowID})
	trigger := `{"body":{"rows":[{"name":"Ada","formula":"=HYPERLINK(\"x\")","n":1},{"name":"Bob","n":2.5}]}}`

	for _, tc := range []struct {
		format, cfg, want, ctype string
		expires                  time.Duration
	}{
		{"csv", `"retention":"1h"`, "formula,n,name\n\"'=HYPERLINK(\"\"x\"\")\",1,Ada\n,2.5,Bob\n", "text/csv; charset=utf-8", time.Hour},
		{"json", "", "[{\"formula\":\"=HYPERLINK(\\\"x\\\")\",\"n\":1,\"name\":\"Ada\"},\n{\"n\":2.5,\"name\":\"Bob\"}]\n", "application/json", 48 * time.Hour},
		{"ndjson", `"retention":"forever"`, "{\"formula\":\"=HYPERLINK(\\\"x\\\")\",\"n\":1,\"name\":\"Ada\"}\n{\"n\":2.5,\"name\":\"Bob\"}\n", "application/x-ndjson", 0},
	} {
		t.Run(tc.format, func(t *testing.T) {
			cfg := `{"items":"trigger.body.rows","format":"` + tc.format + `","filename":"../../people {{ 1 + 1 }}"`
			if tc.cfg != "" {
				cfg += "," + tc.cfg
			}
			_, runs, _ := runChain(t, svc, trigger, node{id: "export", typ: "action.file_export", cfg: cfg + "}"})
			out := output(t, runs["export"])
			sum := sha256.Sum256([]byte(tc.want))
			if out["filename"] != "_.._people 2."+tc.format || out["content_type"] != tc.ctype ||
				out["size"] != float64(len(tc.want)) || out["sha256"] != hex.EncodeToString(sum[:]) || out["items"] != float64(2) {
				t.Errorf("output %v", out)
			}
			file, rc, err := svc.Storage.Open(ctx, out["ref"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if file.Filename != out["filename"] || file.ContentType != tc.ctype || file.ID != out["upload_id"] {
				t.Errorf("opened %+v", file)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			if string(data) != tc.want {
				t.Errorf("file\n%q\nwant\n%q", data, tc.want)
			}
			up, err := env.store.UploadGet(ctx, env.org.ID, uuid.MustParse(out["upload_id"].(string)))
			if err != nil || up.Source != "export" || up.ExecutionID == nil || *up.ExecutionID != env.executionID ||
				up.StorageKey != out["ref"] || up.Filename != out["filename"] {
				t.Fatalf("upload %+v %v", up, err)
			}
			switch {
			case tc.expires == 0 && up.ExpiresAt != nil:
				t.Errorf("kept forever, yet expires at %s", up.ExpiresAt)
			case tc.expires > 0 && (up.ExpiresAt == nil || time.Until(*up.ExpiresAt) > tc.expires || time.Until(*up.ExpiresAt) < tc.expires-time.Minute):
				t.Errorf("expires at %v, want in %s", up.ExpiresAt, tc.expires)
			}
			// Another organization's services cannot open the file.
			if _, _, err := f.Services(env.other.ID, uuid.Nil, uuid.Nil).Storage.Open(ctx, out["ref"].(string)); err == nil {
				t.Error("another organization opened the file")
			}
		})
	}

	_, runs, _ := runChain(t, svc, `{"body":{"rows":[1,2]}}`, node{id: "export", typ: "action.file_export",
		cfg: `{"items":"trigger.body.rows","format":"csv","filename":"x.csv"}`})
	if r := runs["export"]; r.Status != engine.NodeFailed || !strings.Contains(r.Error, "not an object") {
		t.Errorf("CSV of numbers: %+v", r)
	}
}
