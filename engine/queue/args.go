// Package queue runs workflow executions as River jobs: the job arguments that the store inserts in the same
// transaction as an execution row, and the worker that loads the pinned version, runs it with the engine and
// records the result.
package queue

import "github.com/google/uuid"

// QueueExecutions is the River queue executions run on.
const QueueExecutions = "executions"

// ExecuteArgs asks a worker to run (or resume) one execution. It carries the id, and the organization so that the
// per-organization cap can count an organization's running jobs in river_job
// before the execution is read; everything else is read from the execution row, which is the source of truth.
type ExecuteArgs struct {
	ExecutionID uuid.UUID `json:"execution_id"`
	// OrganizationID is empty in jobs enqueued before it existed; those are not counted against the cap.
	OrganizationID uuid.UUID `json:"organization_id,omitzero"`
}

// Kind implements river.JobArgs.
func (ExecuteArgs) Kind() string { return "execute" }
