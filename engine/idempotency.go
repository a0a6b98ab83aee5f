package engine

import (
	"strconv"

	"github.com/google/uuid"
)

// idempotencyNamespace is the namespace of the name-based UUIDs IdempotencyKey derives.
var idempotencyNamespace = uuid.MustParse("3c0f6c1e-5b7a-4d52-9a63-0c8e2f41d7b9")

// IdempotencyKey returns the key of this node run: a UUID derived (SHA-1, RFC 9562 version 5) from the execution's
// id, the node's id and the loop item's index. Every attempt of the run and every resume of the execution after a
// crash or a lost record (which run the node again when its run was not recorded) get the same key; other runs,
// other items and other executions (a retry of a failed execution is a new one) get another. Side-effecting
// nodes hand it to whoever can deduplicate on it: the HTTP node's Idempotency-Key header, the e-mail node's
// Message-ID, a database upsert's key column.
func (in Input) IdempotencyKey() string {
	var execution string
	var item *int
	if in.Env != nil {
		execution, item = in.Env.Execution.ID, in.Env.ItemIndex
	}
	name := execution + "\x00" + in.NodeID
	if item != nil {
		name += "\x00" + strconv.Itoa(*item)
	}
	return uuid.NewSHA1(idempotencyNamespace, []byte(name)).String()
}
