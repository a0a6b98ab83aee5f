// Package queue runs workflow executions as River jobs: the job arguments that the store inserts in the same
// transaction as an execution row, and the worker that loads the pinned version, runs it with the engine and
// records the result.
package queue

import "github.com/google/uuid"

// QueueExecutions is the River queue executions run on.
const QueueExecutions = "executions"

// ExecuteArgs asks a worker to run (or resume) one execution. It carries only the id: everything else is read
// from the execution row, which is the source of truth.
type ExecuteArgs struct {
	ExecutionID uuid.UUID `json:"execution_id"`
}

// Kind implements river.JobArgs.
func (ExecuteArgs) Kind() string { return "execute" }
