package actions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// crashChildEnv carries a crashSpec to the child process of TestEmailCrashBetweenAcceptAndRecord.
const crashChildEnv = "CONCERTMASTER_TEST_EMAIL_CRASH"

// crashSpec is what the child process runs: the e-mail node of one node run, on the parent's database.
type crashSpec struct {
	DatabaseURL string    `json:"database_url"`
	Org         uuid.UUID `json:"org"`
	Workflow    uuid.UUID `json:"workflow"`
	Execution   uuid.UUID `json:"execution"`
	Run         string    `json:"run"`
	NodeConfig  string    `json:"node_config"`
}

// TestEmailCrashChild is the child process of TestEmailCrashBetweenAcceptAndRecord, run by it alone: it sends
// the message and SIGKILLs itself the moment the SMTP server has accepted it (its 250), before the delivery is
// recorded sent.
func TestEmailCrashChild(t *testing.T) {
	raw := os.Getenv(crashChildEnv)
	if raw == "" {
		t.Skip("the child process of TestEmailCrashBetweenAcceptAndRecord")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), spec.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.NewKeyring("integrations", testIntegrationKey, "")
	if err != nil {
		t.Fatal(err)
	}
	files, err := storage.NewLocal(t.TempDir(), storage.LocalOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	f, err := actions.NewServicesFactory(actions.ServicesConfig{Integrations: store.NewIntegrationStore(st, keys),
		Records: st, Files: files, RateLimiter: st.IntegrationRateLimiter(), OutboundAllowedHosts: []string{"127.0.0.1"},
		AfterSMTPAccept: func(uuid.UUID) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}})
	if err != nil {
		t.Fatal(err)
	}
	runChainAs(t, f.Services(spec.Org, spec.Workflow, spec.Execution), spec.Run, `{}`,
		node{id: "mail", typ: "action.email", cfg: spec.NodeConfig})
	t.Fatal("the process lived on after the SMTP server accepted the message")
}

// TestEmailCrashBetweenAcceptAndRecord kills a process (SIGKILL) between the SMTP server's "250" and the record of
// the delivery, then resumes the node run in another process, as a resumed execution does. By default no second
// message is delivered: the delivery becomes unknown and the node fails with email_delivery_unknown. With
// resend_if_unknown the message is delivered again, with the same Message-ID.
func TestEmailCrashBetweenAcceptAndRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		resend bool
	}{{"fails as unknown", false}, {"resend_if_unknown sends again", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			srv := mailtest.Start(t, mailtest.Options{})
			host, port := hostPort(t, "smtp://"+srv.Addr)
			smtpID := env.integration(t, actions.KindSMTP, fmt.Sprintf(`{"host":%q,"port":%d,"tls":"none","from":"shop@example.com"}`,
				host, port), 0, 0)
			cfg := fmt.Sprintf(`{"integration_id":%q,"to":"bob@example.com","subject":"Order 7","text":"Thanks","resend_if_unknown":%v}`,
				smtpID, tc.resend)
			run := uuid.NewString()
			spec, _ := json.Marshal(crashSpec{DatabaseURL: env.dbURL, Org: env.org.ID, Workflow: env.workflowID,
				Execution: env.executionID, Run: run, NodeConfig: cfg})
			child := exec.Command(os.Args[0], "-test.run=^TestEmailCrashChild$", "-test.count=1")
			child.Env = append(os.Environ(), crashChildEnv+"="+string(spec))
			out, err := child.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() ||
				exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed after the server's answer: %v\n%s", err, out)
			}
			if n := len(srv.Messages()); n != 1 {
				t.Fatalf("the server has %d messages after the crash, want 1", n)
			}
			deliveries := func() []store.EmailDelivery {
				ds, err := env.store.EmailDeliveryListForExecution(context.Background(), env.org.ID, env.executionID)
				if err != nil {
					t.Fatal(err)
				}
				return ds
			}
			if ds := deliveries(); len(ds) != 1 || ds[0].Status != actions.DeliverySending {
				t.Fatalf("deliveries after the crash: %+v, want one left sending", ds)
			}

			_, runs, _ := runChainAs(t, env.services(env.factory(t, nil)), run, `{}`, node{id: "mail", typ: "action.email", cfg: cfg})
			ds := deliveries()
			msgs := srv.Messages()
			if !tc.resend {
				if runs["mail"].Status != engine.NodeFailed || !strings.HasPrefix(runs["mail"].Error, "email_delivery_unknown:") {
					t.Errorf("resumed run %s: %s", runs["mail"].Status, runs["mail"].Error)
				}
				if len(msgs) != 1 || len(ds) != 1 || ds[0].Status != actions.DeliveryUnknown {
					t.Errorf("after the resume: %d messages, deliveries %+v; want 1 message, its delivery unknown", len(msgs), ds)
				}
				return
			}
			out2 := output(t, runs["mail"])
			first, _ := msgs[0].Parsed(t)
			if len(msgs) != 2 || len(ds) != 2 || ds[0].Status != actions.DeliveryUnknown || ds[1].Status != actions.DeliverySent {
				t.Fatalf("after the resend: %d messages, deliveries %+v", len(msgs), ds)
			}
			second, _ := msgs[1].Parsed(t)
			if id := first.Header.Get("Message-ID"); id == "" || id != second.Header.Get("Message-ID") || out2["message_id"] != id {
				t.Errorf("Message-IDs %q and %q, output %v: want one", id, second.Header.Get("Message-ID"), out2["message_id"])
			}
		})
	}
}
