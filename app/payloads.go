package app

import (
	"context"
	"io"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
)

// OpenPayload streams the whole of a value an execution keeps in the file storage (its row holds a reference with
// the key, store.PayloadRef): for whoever may see the execution, and only an object that execution refers to, so a
// key copied from elsewhere opens nothing.
func (e *Executions) OpenPayload(ctx context.Context, c Caller, id uuid.UUID, key string) (io.ReadCloser, error) {
	exec, err := e.Get(ctx, c, id, authz.ExecutionView)
	if err != nil {
		return nil, err
	}
	return e.store.OpenPayload(ctx, exec.OrganizationID, &exec.ID, key)
}
