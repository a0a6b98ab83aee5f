package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestValuesTheDatabaseRefusesAreInvalid: text and JSON PostgreSQL refuses as input (a NUL, invalid UTF-8, a
// \u0000 or lone surrogate in jsonb, a number past numeric's range) are the caller's mistake, an Invalid fault, and
// not an internal error, whether the statement ran alone or inside a transaction.
func TestValuesTheDatabaseRefusesAreInvalid(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wf := b.workflow(t)
	head, err := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"NUL in a name": func() error {
			_, err := b.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID,
				Name: "a\x00b", Definition: json.RawMessage(definition)})
			return err
		},
		"invalid UTF-8 in a name": func() error {
			_, err := b.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID,
				Name: "a\xffb", Definition: json.RawMessage(definition)})
			return err
		},
		`\u0000 in trigger data`:      func() error { return b.trigger(ctx, head, `{"a":"\u0000"}`) },
		"lone surrogate in trigger":   func() error { return b.trigger(ctx, head, `{"a":"\ud800"}`) },
		"number past numeric's range": func() error { return b.trigger(ctx, head, `{"a":1e1000000}`) },
	} {
		if err := call(); fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%s: %v (code %s), want an Invalid fault", name, err, fault.CodeOf(err))
		}
	}
}

func (b testBundle) trigger(ctx context.Context, head store.WorkflowHead, data string) error {
	_, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID,
		WorkflowID: head.WorkflowID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual",
		TriggerData: json.RawMessage(data)})
	return err
}
