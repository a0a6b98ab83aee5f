package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestBackgroundRunsAndStopsItsServices starts the background parts of a web-only and of a worker process on a
// real database: a trigger is accepted (and, with workers, run to its end); stop ends every part, after which the
// ingester refuses triggers as a server shutting down does, and a second stop changes nothing.
func TestBackgroundRunsAndStopsItsServices(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		workers bool
		// want is the execution's status before the stop.
		want string
	}{
		{"web only", false, store.StatusQueued},
		{"with workers", true, store.StatusSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cfg, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": migratedDatabase(t),
				"SECRET_KEY": testSecretKey, "DATA_DIR": t.TempDir()}), configNeeds{secretKey: true})
			if err != nil {
				t.Fatal(err)
			}
			pool, err := openPool(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			st, err := store.New(pool)
			if err != nil {
				t.Fatal(err)
			}
			_, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "ops@example.com", Name: "Ops",
				PasswordHash: "x", OrganizationName: "Ops", Role: store.RoleOwner})
			if err != nil {
				t.Fatal(err)
			}
			wf, err := st.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: org.ID, Name: "hook",
				Definition: json.RawMessage(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}}],"edges":[]}`)})
			if err != nil {
				t.Fatal(err)
			}
			head, err := st.WorkflowHeadForRun(ctx, org.ID, wf.ID)
			if err != nil {
				t.Fatal(err)
			}
			trigger := store.NewExecution{OrganizationID: org.ID, WorkflowID: wf.ID, WorkflowVersionID: head.VersionID,
				Version: head.Version, TriggerKind: "webhook", TriggerData: json.RawMessage(`{"body":{}}`)}

			bg, err := startBackground(ctx, cfg, service.NewArchetype(slog.New(slog.DiscardHandler)), st,
				prometheus.NewRegistry(), tc.workers)
			if err != nil {
				t.Fatal(err)
			}
			defer bg.stop(context.Background()) //nolint:errcheck // a no-op after the stop below
			e, err := bg.Ingester.Enqueue(ctx, trigger)
			if err != nil {
				t.Fatalf("enqueue: %v", err)
			}
			for {
				got, err := st.ExecutionGet(ctx, org.ID, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status == tc.want {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("execution %s, want %s", got.Status, tc.want)
				case <-time.After(20 * time.Millisecond):
				}
			}

			for range 2 {
				if err := bg.stop(ctx); err != nil {
					t.Fatalf("stop: %v", err)
				}
				if _, err := bg.Ingester.Enqueue(ctx, trigger); !store.IsStopped(err) {
					t.Fatalf("enqueue after stop: %v, want the ingester stopped", err)
				}
			}
		})
	}
}
