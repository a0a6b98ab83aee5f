package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/flags"
)

// TestExpressPathFollowsTheFlagPerOrganization runs the real serve command with two organizations, one of them
// overridden to engine.execution_path=queue. A webhook call to the default organization's pure workflow is
// answered once its execution is written finished, with no job; the other's is queued with its job and run by a
// worker. Each organization's exposure to its variant is recorded.
func TestExpressPathFollowsTheFlagPerOrganization(t *testing.T) {
	t.Parallel()
	dbURL := migratedDatabase(t)
	pool := connectPool(t, dbURL)
	ctx := context.Background()
	const pure = `{"nodes":[
		 {"id":"hook","type":"trigger.webhook","config":{}},
		 {"id":"shape","type":"transform.data","config":{"jq":"{n: .body.n}"}},
		 {"id":"big","type":"condition.if","config":{"condition":"input.n > 0"}}],
		 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`
	express := activeWebhookWorkflow(t, pool, "Express", pure)
	queued := activeWebhookWorkflow(t, pool, "Queued", pure)
	if _, err := pool.Exec(ctx, `INSERT INTO feature_flag_overrides (flag, organization_id, value, reason)
		SELECT $1, organization_id, to_jsonb($3::text), 'test' FROM workflows WHERE id = $2`,
		flags.EngineExecutionPath, queued.WorkflowID, flags.ExecutionPathQueue); err != nil {
		t.Fatal(err)
	}
	base := startServe(t, map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0", "SECRET_KEY": testSecretKey})

	status, id, _ := signedCall(t, base+"/hooks/"+express.Token, express.Secret, 1)
	if status != http.StatusAccepted {
		t.Fatalf("express organization's call answered %d", status)
	}
	var state string
	var jobs int
	if err := pool.QueryRow(ctx, `SELECT status, (SELECT count(*) FROM river_job WHERE args->>'execution_id' = $1)
		FROM workflow_executions WHERE id = $1::uuid`, id.String()).Scan(&state, &jobs); err != nil || state != "succeeded" || jobs != 0 {
		t.Errorf("express execution right after its 202: %s with %d jobs (%v), want succeeded with none", state, jobs, err)
	}

	status, id, _ = signedCall(t, base+"/hooks/"+queued.Token, queued.Secret, 2)
	if status != http.StatusAccepted {
		t.Fatalf("queued organization's call answered %d", status)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args->>'execution_id' = $1`, id.String()).Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("queued execution has %d jobs (%v), want 1", jobs, err)
	}
	if _, ok := waitExecutionsSucceeded(t, pool, []uuid.UUID{id}, time.Now().Add(time.Minute)); !ok {
		return
	}

	var exposures string
	if err := pool.QueryRow(ctx, `SELECT string_agg(o.name || '=' || x.variant, ',' ORDER BY o.name)
		FROM feature_flag_exposures x JOIN organizations o ON o.id = x.subject_id WHERE x.flag = $1`,
		flags.EngineExecutionPath).Scan(&exposures); err != nil || exposures != "Express=express,Queued=queue" {
		t.Errorf("exposures %q (%v), want Express=express,Queued=queue", exposures, err)
	}
}
