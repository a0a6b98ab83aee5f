package actions_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

func TestEmailSendsWithAttachmentsAndRecordsTheDelivery(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	srv := mailtest.Start(t, mailtest.Options{Username: "mailer", Password: "s3cret"})
	host, port := hostPort(t, "smtp://"+srv.Addr)
	smtpID := env.integration(t, actions.KindSMTP, fmt.Sprintf(
		`{"host":%q,"port":%d,"tls":"none","username":"mailer","password":"s3cret","from":"Shop <shop@example.com>"}`,
		host, port), 0, 0)
	svc := env.services(env.factory(t, nil))

	trigger := `{"body":{"email":"Bob <bob@example.com>","name":"<script>x</script>",
		"orders":[{"id":1,"total":12.5},{"id":2,"total":99}]}}`
	res, runs, _ := runChain(t, svc, trigger,
		node{id: "export", typ: "action.file_export", cfg: `{"items":"trigger.body.orders","format":"csv","filename":"orders"}`},
		node{id: "mail", typ: "action.email", cfg: fmt.Sprintf(`{"integration_id":%q,
			"to":"{{ trigger.body.email }}", "cc":["carl@example.com"], "bcc":"{{ ['hidden@example.com'] }}",
			"subject":"{{ len(trigger.body.orders) }} orders",
			"text":"Hello {{ trigger.body.name }}", "html":"<p>Hello <b>{{ trigger.body.name }}</b></p>",
			"attachments":[{"from_node":"export"},
				{"content":"{{ trigger.body.orders }}","format":"json","filename":"orders.json"},
				{"from_node":"in","format":"csv","filename":"in.csv"}]}`, smtpID)})
	if res.Status != engine.ExecutionSucceeded {
		t.Fatalf("execution %s: %s", res.Status, res.Error)
	}
	out := output(t, runs["mail"])

	got := srv.WaitFor(t, func(mailtest.Received) bool { return true })
	if got.Username != "mailer" || got.From != "shop@example.com" || len(got.Recipients) != 3 {
		t.Fatalf("envelope user=%q from=%q rcpt=%v", got.Username, got.From, got.Recipients)
	}
	m, _ := got.Parsed(t)
	if m.Header.Get("Subject") != "2 orders" || m.Header.Get("Message-ID") != out["message_id"] ||
		strings.Contains(m.Header.Get("To"), "hidden") {
		t.Errorf("headers %v, output %v", m.Header, out)
	}
	files, types := got.Attachments(t)
	if string(files["orders.csv"]) != "id,total\n1,12.5\n2,99\n" || !strings.HasPrefix(types["orders.csv"], "text/csv") {
		t.Errorf("exported CSV attachment %q (%s)", files["orders.csv"], types["orders.csv"])
	}
	if !strings.Contains(string(files["orders.json"]), `"total": 12.5`) {
		t.Errorf("JSON attachment %q", files["orders.json"])
	}
	if len(files["in.csv"]) == 0 {
		t.Error("a node's output rendered as CSV is missing")
	}
	bodies := string(files[""])
	if !strings.Contains(bodies, "&lt;script&gt;") || strings.Contains(bodies, "<b><script>") {
		t.Errorf("HTML body did not escape the value: %q", bodies)
	}

	deliveries, err := env.store.EmailDeliveryListForExecution(context.Background(), env.org.ID, env.executionID)
	if err != nil || len(deliveries) != 1 {
		t.Fatalf("deliveries %+v %v", deliveries, err)
	}
	d := deliveries[0]
	if d.Status != actions.DeliverySent || d.MessageID != out["message_id"] || d.SMTPReply == "" || d.NodeID != "mail" ||
		d.Subject != "2 orders" || len(d.Recipients) != 3 || out["delivery_id"] != d.ID.String() {
		t.Errorf("delivery %+v, output %v", d, out)
	}
}

// TestEmailMessageIDIsOneRunsOwn: the e-mail node run again for the same run (an execution resumed after the node
// run's record was lost, its delivery recorded sent) does not send again and outputs the first sending's receipt;
// another execution's message is sent, with another Message-ID.
func TestEmailMessageIDIsOneRunsOwn(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	srv := mailtest.Start(t, mailtest.Options{})
	host, port := hostPort(t, "smtp://"+srv.Addr)
	smtpID := env.integration(t, actions.KindSMTP, fmt.Sprintf(`{"host":%q,"port":%d,"tls":"none","from":"shop@example.com"}`,
		host, port), 0, 0)
	svc := env.services(env.factory(t, nil))
	mailNode := node{id: "mail", typ: "action.email", cfg: fmt.Sprintf(`{"integration_id":%q,"to":"bob@example.com",
		"subject":"Order {{ trigger.body.id }}","text":"Thanks"}`, smtpID)}
	execution := uuid.NewString()
	var ids []string
	for _, run := range []string{execution, execution, uuid.NewString()} {
		_, runs, _ := runChainAs(t, svc, run, `{"body":{"id":7}}`, mailNode)
		ids = append(ids, output(t, runs["mail"])["message_id"].(string))
	}
	if ids[0] != ids[1] || ids[0] == ids[2] || !strings.HasSuffix(ids[0], "@example.com>") {
		t.Errorf("Message-IDs %q: want the first two the same (one run), the third another, in the sender's domain", ids)
	}
	var received []string
	for _, m := range srv.Messages() {
		parsed, _ := m.Parsed(t)
		received = append(received, parsed.Header.Get("Message-ID"))
	}
	if strings.Join(received, " ") != ids[0]+" "+ids[2] {
		t.Errorf("the server received Message-IDs %q, the node output %q: want the run's message once", received, ids)
	}
}

// A server that quotes the password it refused: neither the node's error nor the delivery record holds it.
func TestEmailErrorsCarryNoSecret(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	srv := mailtest.Start(t, mailtest.Options{Username: "shop", Password: "the-right-one", Quote: true})
	host, port := hostPort(t, "smtp://"+srv.Addr)
	const secret = "s3cret-password-of-the-shop"
	smtpID := env.integration(t, actions.KindSMTP, fmt.Sprintf(`{"host":%q,"port":%d,"tls":"none","from":"shop@example.com",
		"username":"shop","password":%q}`, host, port, secret), 0, 0)
	cfg := fmt.Sprintf(`{"integration_id":%q,"to":"bob@example.com","subject":"Hi","text":"Hello"}`, smtpID)
	_, runs, _ := runChain(t, env.services(env.factory(t, nil)), `{}`, node{id: "mail", typ: "action.email", cfg: cfg})
	r := runs["mail"]
	if r.Status != engine.NodeFailed || !strings.Contains(r.Error, "535") || strings.Contains(r.Error, secret) ||
		!strings.Contains(r.Error, "[redacted]") {
		t.Errorf("run %+v, want a failure quoting the reply with the password redacted", r)
	}
	ds, _ := env.store.EmailDeliveryListForExecution(ctx, env.org.ID, env.executionID)
	if len(ds) != 1 || strings.Contains(ds[0].Error, secret) || !strings.Contains(ds[0].Error, "[redacted]") {
		t.Errorf("deliveries %+v", ds)
	}
}

func TestEmailFailuresAreRecordedAndClassified(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	srv := mailtest.Start(t, mailtest.Options{Reject: 550})
	host, port := hostPort(t, "smtp://"+srv.Addr)
	settings := fmt.Sprintf(`{"host":%q,"port":%d,"tls":"none","from":"shop@example.com"}`, host, port)
	smtpID := env.integration(t, actions.KindSMTP, settings, 0, 0)
	httpID := env.integration(t, actions.KindHTTP, `{"auth":"none"}`, 0, 0)
	otherOrgID := func() string {
		config, _, _ := actions.SplitSettings(actions.KindSMTP, []byte(settings))
		in, err := env.integrations.Create(ctx, storeNewIntegration(env.other.ID, "theirs", actions.KindSMTP, config), storeSystem)
		if err != nil {
			t.Fatal(err)
		}
		return in.ID.String()
	}()
	mailCfg := func(id string) string {
		return fmt.Sprintf(`{"integration_id":%q,"to":"bob@example.com","subject":"Hi","text":"Hello"}`, id)
	}
	retry := &engine.RetryPolicy{MaxAttempts: 3}

	// A recipient refused with 5xx fails at once, and the delivery says why.
	_, runs, _ := runChain(t, env.services(env.factory(t, nil)), `{}`, node{id: "mail", typ: "action.email", cfg: mailCfg(smtpID), retry: retry})
	if r := runs["mail"]; r.Status != engine.NodeFailed || r.Attempt != 1 || !strings.Contains(r.Error, "550") {
		t.Errorf("refused recipient: %+v", r)
	}
	ds, _ := env.store.EmailDeliveryListForExecution(ctx, env.org.ID, env.executionID)
	if len(ds) != 1 || ds[0].Status != actions.DeliveryFailed || !strings.Contains(ds[0].Error, "550") {
		t.Errorf("deliveries %+v", ds)
	}

	for name, tc := range map[string]struct {
		cfg     string
		factory func(*actions.ServicesConfig)
		want    string
	}{
		"another organization's integration": {cfg: mailCfg(otherOrgID), want: "not found"},
		"an unknown integration":             {cfg: mailCfg(uuid.NewString()), want: "not found"},
		"an integration of another kind":     {cfg: mailCfg(httpID), want: "not smtp"},
		"a server on a private address":      {cfg: mailCfg(smtpID), factory: func(c *actions.ServicesConfig) { c.OutboundAllowedHosts = nil }, want: "loopback"},
	} {
		t.Run(name, func(t *testing.T) {
			_, runs, _ := runChain(t, env.services(env.factory(t, tc.factory)), `{}`, node{id: "mail", typ: "action.email", cfg: tc.cfg, retry: retry})
			if r := runs["mail"]; r.Status != engine.NodeFailed || r.Attempt != 1 || !strings.Contains(r.Error, tc.want) {
				t.Errorf("run %+v, want a permanent failure with %q", r, tc.want)
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages accepted", n)
	}
}

// TestEmailRetriesAnSMTPServerThatIsDown runs an e-mail node without a retry policy of its own against a real SMTP
// server that is stopped, or answers 421, or 550: the node retries the transient faults with backoff
// (EmailDefaultRetry) and succeeds once the server is back, fails naming the server and its error when it never
// is, and fails at once on a permanent refusal. Every attempt is a delivery record.
func TestEmailRetriesAnSMTPServerThatIsDown(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		// down puts the server in its fault; up, when set, is called at the first wait between attempts.
		down, up func(t *testing.T, srv *mailtest.Server)
		// wantAttempts is how many attempts the node makes, each recorded as a delivery; the last one sent the
		// message when want is empty, else its error contains every string of want.
		wantAttempts int
		want         []string
	}{
		{name: "refuses connections, then comes back",
			down: func(t *testing.T, srv *mailtest.Server) { srv.Stop() },
			up:   func(t *testing.T, srv *mailtest.Server) { srv.Restart(t) }, wantAttempts: 2},
		{name: "answers 421, then takes it",
			down: func(t *testing.T, srv *mailtest.Server) { srv.Answer(421) },
			up:   func(t *testing.T, srv *mailtest.Server) { srv.Answer(0) }, wantAttempts: 2},
		{name: "stays down", down: func(t *testing.T, srv *mailtest.Server) { srv.Stop() },
			wantAttempts: actions.EmailDefaultRetry.MaxAttempts, want: []string{"SMTP server 127.0.0.1:", "connection refused"}},
		{name: "answers 421 all along", down: func(t *testing.T, srv *mailtest.Server) { srv.Answer(421) },
			wantAttempts: actions.EmailDefaultRetry.MaxAttempts, want: []string{"SMTP server 127.0.0.1:", "421"}},
		{name: "refuses with 550", down: func(t *testing.T, srv *mailtest.Server) { srv.Answer(550) },
			wantAttempts: 1, want: []string{"SMTP server 127.0.0.1:", "550"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			srv := mailtest.Start(t, mailtest.Options{})
			host, port := hostPort(t, "smtp://"+srv.Addr)
			smtpID := env.integration(t, actions.KindSMTP,
				fmt.Sprintf(`{"host":%q,"port":%d,"tls":"none","from":"shop@example.com"}`, host, port), 0, 0)
			c.down(t, srv)
			var up sync.Once
			beforeRetry := func(time.Duration) {
				if c.up != nil {
					up.Do(func() { c.up(t, srv) })
				}
			}
			_, runs, sleeps := runChainWaiting(t, env.services(env.factory(t, nil)), uuid.NewString(), beforeRetry, `{}`,
				node{id: "mail", typ: "action.email",
					cfg: fmt.Sprintf(`{"integration_id":%q,"to":"bob@example.com","subject":"Hi","text":"Hello"}`, smtpID)})

			r := runs["mail"]
			if r.Attempt != c.wantAttempts {
				t.Errorf("attempts %d, want %d (error %q)", r.Attempt, c.wantAttempts, r.Error)
			}
			wantSleeps := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}[:c.wantAttempts-1]
			if !slices.Equal(*sleeps, wantSleeps) {
				t.Errorf("waits between attempts %v, want %v", *sleeps, wantSleeps)
			}
			ds, err := env.store.EmailDeliveryListForExecution(context.Background(), env.org.ID, env.executionID)
			if err != nil || len(ds) != c.wantAttempts {
				t.Fatalf("%d deliveries (%v), want one per attempt", len(ds), err)
			}
			if c.want == nil {
				output(t, r)
				srv.WaitFor(t, func(mailtest.Received) bool { return true })
				if !slices.ContainsFunc(ds, func(d store.EmailDelivery) bool { return d.Status == actions.DeliverySent }) {
					t.Errorf("no delivery recorded as sent: %+v", ds)
				}
				return
			}
			if r.Status != engine.NodeFailed {
				t.Fatalf("node %s, want failed", r.Status)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("node error %q does not say %q", r.Error, w)
				}
			}
			for _, d := range ds {
				if d.Status != actions.DeliveryFailed || !strings.Contains(d.Error, c.want[0]) {
					t.Errorf("delivery %s %q, want failed naming the server", d.Status, d.Error)
				}
			}
		})
	}
}
