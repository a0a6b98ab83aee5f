package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// searchBundle is an organization with named workflows, forms, integrations and failed executions to search, and
// a second organization holding the same words, which no search of the first may return.
type searchBundle struct {
	testBundle
	other testBundle
}

func searchSetup(t *testing.T) searchBundle {
	t.Helper()
	b := setup(t)
	ctx := context.Background()
	other, otherOrg, err := b.store.UserCreateWithOrganization(ctx, store.NewUser{Email: "eve@example.com", Name: "Eve",
		PasswordHash: "x", OrganizationName: "Other", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	sb := searchBundle{testBundle: b, other: testBundle{store: b.store, org: otherOrg, user: other}}
	for _, owner := range []testBundle{b, sb.other} {
		for _, w := range [][2]string{
			{"Invoice sync", "copies paid invoices to the ledger"},
			{"Orders", "routes big orders; mentions invoice once"},
			{"Nightly report", "mails the sales report"},
		} {
			owner.named(t, w[0], w[1])
		}
		pool := b.store.Pool()
		for _, name := range []string{"Billing SMTP", "Warehouse Postgres"} {
			if _, err := pool.Exec(ctx, `INSERT INTO integrations (id, organization_id, name, kind, config)
				VALUES ($1, $2, $3, 'smtp', '{}')`, uuid.New(), owner.org.ID, name); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sb
}

// named creates a workflow with this name and description.
func (b testBundle) named(t *testing.T, name, description string) store.Workflow {
	t.Helper()
	wf, err := b.store.WorkflowCreate(context.Background(), store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID,
		Name: name, Description: description, Definition: json.RawMessage(definition), AuthorID: &b.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

// failed records a failed execution of wf with this error.
func (b testBundle) failed(t *testing.T, wf store.Workflow, errText string) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7() // the partition key: a random (v4) id falls in no day's partition
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.store.Pool().Exec(context.Background(), `INSERT INTO workflow_executions
		(id, organization_id, workflow_id, workflow_version_id, version, status, trigger_kind, error, finished_at)
		SELECT $1, organization_id, workflow_id, id, number, 'failed', 'manual', $3, now()
		FROM workflow_versions WHERE workflow_id = $2 AND number = 1`, id, wf.ID, errText)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func workflowNames(items []store.Workflow) []string {
	out := make([]string, len(items))
	for i, w := range items {
		out[i] = w.Name
	}
	return out
}

func TestSearchRanksNameAboveDescriptionAndMatchesPrefixes(t *testing.T) {
	t.Parallel()
	b := searchSetup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		query string
		want  string // the names, best first, joined by |
	}{
		{"invoice", "Invoice sync|Orders"}, // the name weighs more than the description
		{"invo", "Invoice sync|Orders"},    // the last word is a prefix while it is being typed
		{"nightly rep", "Nightly report"},
		{`"sales report"`, "Nightly report"},
		{"invoice -orders", "Invoice sync"},
		{"orders or nightly", "Nightly report|Orders"},
		{"ledger", "Invoice sync"},
		{"nothing-like-this", ""},
	} {
		t.Run(tc.query, func(t *testing.T) {
			items, err := b.store.WorkflowList(ctx, b.org.ID, store.WorkflowFilter{Query: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			got := workflowNames(items)
			if tc.query == "orders or nightly" { // equal ranks: only the set is defined
				got = sortedCopy(got)
			}
			if strings.Join(got, "|") != tc.want {
				t.Errorf("search %q = %q, want %q", tc.query, got, tc.want)
			}
			for _, w := range items {
				if w.OrganizationID != b.org.ID {
					t.Errorf("search %q returned another organization's workflow %s", tc.query, w.ID)
				}
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestSearchFindsIntegrationsAndExecutionErrors(t *testing.T) {
	t.Parallel()
	b := searchSetup(t)
	ctx := context.Background()
	integrations := store.NewIntegrationStore(b.store, nil)
	found, err := integrations.List(ctx, b.org.ID, store.IntegrationFilter{Query: "ware"})
	if err != nil || len(found) != 1 || found[0].Name != "Warehouse Postgres" || found[0].OrganizationID != b.org.ID {
		t.Fatalf("integration search: %+v %v", found, err)
	}
	wf := b.named(t, "Payments", "")
	timeout := b.failed(t, wf, `action.http: POST https://pay.example.com: connection timeout after 30s`)
	b.failed(t, wf, `action.email: mailbox unavailable`)
	b.other.failed(t, b.other.named(t, "Theirs", ""), `connection timeout`)
	for _, q := range []string{"timeout", "connection time", "pay.example.com"} {
		items, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Query: q})
		if err != nil || len(items) != 1 || items[0].ID != timeout {
			t.Errorf("execution search %q: %+v %v", q, items, err)
		}
	}
	// Filters still apply beside the search.
	items, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Query: "timeout", Status: store.StatusSucceeded})
	if err != nil || len(items) != 0 {
		t.Errorf("search with a status filter: %+v %v", items, err)
	}
}

// TestHostileSearchesNeverError sends what people and attackers type into a search box to every search: each
// answers (no match is fine), except the too long one, which is refused naming the field.
func TestHostileSearchesNeverError(t *testing.T) {
	t.Parallel()
	b := searchSetup(t)
	ctx := context.Background()
	integrations := store.NewIntegrationStore(b.store, nil)
	hostile := []string{
		`'`, `''`, `"`, `"""`, `\`, `\\'`, `:*`, `a:*`, `&`, `|`, `!`, `!!!`, `(`, `)`, `()`, `<->`, `a <-> b`,
		`a & | b`, `-`, `--`, `- -`, `or`, `OR OR`, `a or`, `-a`, `"unclosed`, `'; DROP TABLE workflows; --`,
		`%`, `_`, `*`, `invoice:A`, `invoice:*A`, `日本語`, `Ünïcödé`, "e\u0301", "\u0301", `🎉`, `a‐b`, `x:`, `:`,
		"tab\tsep", "new\nline", strings.Repeat("a", 200), strings.Repeat("ab ", 66), strings.Repeat("-x ", 60),
		`select * from pg_sleep(1)`, `${jndi:ldap://x}`, `<script>alert(1)</script>`, `1=1`, `0x00`, `NaN`,
	}
	for _, q := range hostile {
		if _, err := b.store.WorkflowList(ctx, b.org.ID, store.WorkflowFilter{Query: q}); err != nil {
			t.Errorf("workflows %q: %v", q, err)
		}
		if _, err := b.store.FormList(ctx, b.org.ID, store.FormFilter{Query: q}); err != nil {
			t.Errorf("forms %q: %v", q, err)
		}
		if _, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Query: q}); err != nil {
			t.Errorf("executions %q: %v", q, err)
		}
		if _, err := integrations.List(ctx, b.org.ID, store.IntegrationFilter{Query: q}); err != nil {
			t.Errorf("integrations %q: %v", q, err)
		}
	}
	for _, q := range []string{strings.Repeat("a", 201), "nul\x00byte", "bad\xffutf8"} {
		_, err := b.store.WorkflowList(ctx, b.org.ID, store.WorkflowFilter{Query: q})
		var fe *fault.Error
		if fault.CodeOf(err) != fault.Invalid || !errors.As(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0].Field != "q" {
			t.Errorf("search %q: want invalid naming q, got %v", q, err)
		}
	}
	// A search is one ranked page: a cursor with it is refused, naming the cursor.
	wf := b.named(t, "Paged", "")
	_, err := b.store.WorkflowList(ctx, b.org.ID, store.WorkflowFilter{Query: "paged", Before: &wf})
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.Invalid || len(fe.Fields) != 1 || fe.Fields[0].Field != "cursor" {
		t.Errorf("search with a cursor: %v", err)
	}
}
