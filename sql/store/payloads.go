package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Payload offloading (PAYLOAD_INLINE_LIMIT). Trigger data and node inputs and outputs larger than the inline limit
// are written to the file storage backend, and the row holds a reference in their place:
//
//	{"$payload": {"key": "<storage key>", "size": <bytes>, "sha256": "<hex>", "preview": "<first bytes of the JSON>"}}
//
// One top-level key, because jsonb orders keys by length and the reference must read back with "$payload" first
// (detection is a prefix check, so small values pay nothing on the way out either). The preview is the start of
// the value's JSON text, cut at a character boundary: it is text to show, not JSON. Any value whose text contains
// "$payload" is offloaded whatever its size, so a workflow's own data never reads back as a reference; and a
// reference is followed only after its claim (execution_payloads) is found in the same organization, so even a
// forged one opens nothing of another tenant's.
//
// The common path costs nothing: a value under the limit is written inline, with no statement and no storage call
// added. An offloaded value costs one storage write and one claim insert, committed before the row that refers to
// it; an object whose row never commits is swept like one whose execution was pruned (SweepPayloads).

// DefaultPayloadInlineLimit is PAYLOAD_INLINE_LIMIT's default: 64 KiB keeps hot rows in a few pages while the
// ordinary webhook body, a few kilobytes, stays inline.
const DefaultPayloadInlineLimit = 64 << 10

// payloadPreviewBytes is how much of an offloaded value its reference shows.
const payloadPreviewBytes = 1024

// payloadSweepGrace is how old a claim must be before the sweep looks at it: its execution's row commits within a
// group commit or a worker pass, long before.
const payloadSweepGrace = time.Hour

var payloadMarker = []byte(`"$payload"`)

// PayloadRef is the reference an offloaded value leaves in its row.
type PayloadRef struct {
	Key     string `json:"key"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Preview string `json:"preview"`
}

type payloadEnvelope struct {
	Ref *PayloadRef `json:"$payload"`
}

// payloadStore offloads and resolves large values; nil (UsePayloads not called) keeps every value inline.
type payloadStore struct {
	files storage.Backend
	limit int
}

// UsePayloads makes the store keep values above inlineLimit bytes in files (see DefaultPayloadInlineLimit). Call it
// before the store is used.
func (s *Store) UsePayloads(files storage.Backend, inlineLimit int) {
	s.payloads = &payloadStore{files: files, limit: inlineLimit}
}

// ParsePayloadRef returns the reference v holds, or nil when v is a value of its own.
func ParsePayloadRef(v json.RawMessage) *PayloadRef {
	t := bytes.TrimLeft(v, " \t\r\n")
	if !bytes.HasPrefix(t, []byte(`{"$payload"`)) {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(t, &fields) != nil || len(fields) != 1 {
		return nil
	}
	var env payloadEnvelope
	if json.Unmarshal(t, &env) != nil || env.Ref == nil || !storage.ValidKey(env.Ref.Key) {
		return nil
	}
	return env.Ref
}

// offload returns v, or, when v is too large (or looks like a reference), the reference to v written to files and
// claimed for the execution.
func (s *Store) offload(ctx context.Context, org, execution uuid.UUID, v json.RawMessage) (json.RawMessage, error) {
	p := s.payloads
	if p == nil || (len(v) <= p.limit && !bytes.Contains(v, payloadMarker)) {
		return v, nil
	}
	obj, err := p.files.PutObject(ctx, "payload.json", "application/json", bytes.NewReader(v))
	if err != nil {
		// Storage full or down: a large value stays in its row (below NODE_OUTPUT_MAX it fits), so that the
		// execution goes on rather than failing or retrying forever. A value that looks like a reference cannot stay
		// (it would be followed), so it fails.
		if !bytes.Contains(v, payloadMarker) {
			logging.From(ctx, slog.Default()).WarnContext(ctx, "large payload kept in its row: the file storage refused it", "execution_id", execution,
				"bytes", len(v), "error", err)
			return v, nil
		}
		return nil, fmt.Errorf("store payload: %w", err)
	}
	if err := s.q.PayloadClaim(ctx, db.PayloadClaimParams{ExecutionID: execution, StorageKey: obj.Key,
		OrganizationID: org, SizeBytes: obj.Size}); err != nil {
		_ = p.files.Delete(ctx, obj.Key)
		return nil, interpret(err, "payload")
	}
	preview := v[:min(len(v), payloadPreviewBytes)]
	for len(preview) > 0 && !utf8.Valid(preview) {
		preview = preview[:len(preview)-1]
	}
	return json.Marshal(payloadEnvelope{Ref: &PayloadRef{Key: obj.Key, Size: obj.Size,
		SHA256: hex.EncodeToString(obj.SHA256), Preview: string(preview)}})
}

// offloadRuns offloads the inputs and outputs of runs in place.
func (s *Store) offloadRuns(ctx context.Context, e queue.ExecutionRef, runs []engine.NodeRun) error {
	if s.payloads == nil {
		return nil
	}
	for i := range runs {
		var err error
		if runs[i].Input, err = s.offload(ctx, e.OrganizationID, e.ID, runs[i].Input); err != nil {
			return err
		}
		if runs[i].Output, err = s.offload(ctx, e.OrganizationID, e.ID, runs[i].Output); err != nil {
			return err
		}
	}
	return nil
}

// resolve returns the value v stands for: v itself, or the stored value its reference names, read only when the
// organization claims it.
func (s *Store) resolve(ctx context.Context, org uuid.UUID, v json.RawMessage) (json.RawMessage, error) {
	ref := ParsePayloadRef(v)
	if ref == nil || s.payloads == nil {
		return v, nil
	}
	rc, err := s.OpenPayload(ctx, org, nil, ref.Key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	full, err := io.ReadAll(io.LimitReader(rc, ref.Size+1))
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	if sum := sha256.Sum256(full); int64(len(full)) != ref.Size || hex.EncodeToString(sum[:]) != ref.SHA256 {
		return nil, fault.New(fault.Internal, "a stored payload does not match its reference")
	}
	return full, nil
}

// resolveRuns resolves the inputs and outputs of runs in place, for a worker resuming them.
func (s *Store) resolveRuns(ctx context.Context, org uuid.UUID, runs []engine.NodeRun) error {
	for i := range runs {
		var err error
		if runs[i].Input, err = s.resolve(ctx, org, runs[i].Input); err != nil {
			return err
		}
		if runs[i].Output, err = s.resolve(ctx, org, runs[i].Output); err != nil {
			return err
		}
	}
	return nil
}

// OpenPayload streams a stored payload of the organization; with execution set, only one that execution refers to.
// An object the organization does not claim is not found, whoever's it is.
func (s *Store) OpenPayload(ctx context.Context, org uuid.UUID, execution *uuid.UUID, key string) (io.ReadCloser, error) {
	notFound := fault.New(fault.NotFound, "payload not found")
	if s.payloads == nil || !storage.ValidKey(key) {
		return nil, notFound
	}
	ok, err := s.q.PayloadClaimed(ctx, db.PayloadClaimedParams{StorageKey: key, OrganizationID: org, ExecutionID: execution})
	if err != nil {
		return nil, interpret(err, "payload")
	}
	if !ok {
		return nil, notFound
	}
	return s.payloads.files.Open(ctx, key)
}

// claimCarried claims, for a new execution, the references it carries over from another (a retry's trigger data
// and kept runs), so that the pruning of the first does not delete what the second still refers to.
func (s *Store) claimCarried(ctx context.Context, q *db.Queries, org, execution uuid.UUID, trigger json.RawMessage, runs []engine.NodeRun) error {
	values := []json.RawMessage{trigger}
	for _, r := range runs {
		values = append(values, r.Input, r.Output)
	}
	for _, v := range values {
		ref := ParsePayloadRef(v)
		if ref == nil {
			continue
		}
		// Only an object the organization already claims is carried: a reference is never a way into another's.
		if ok, err := q.PayloadClaimed(ctx, db.PayloadClaimedParams{StorageKey: ref.Key, OrganizationID: org}); err != nil || !ok {
			if err != nil {
				return interpret(err, "payload")
			}
			continue
		}
		if err := q.PayloadClaim(ctx, db.PayloadClaimParams{ExecutionID: execution, StorageKey: ref.Key,
			OrganizationID: org, SizeBytes: ref.Size}); err != nil {
			return interpret(err, "payload")
		}
	}
	return nil
}

// SweepPayloads deletes the stored payloads none of whose executions exists any more, claimed before `before`
// (pruned by batch or by a dropped partition, or never committed), and returns how many objects went. It is
// repeatable: an object is deleted before its claims, and deleting a missing object is no error.
func (s *Store) SweepPayloads(ctx context.Context, before time.Time, batch int) (int, error) {
	if s.payloads == nil {
		return 0, nil
	}
	deleted := 0
	for {
		keys, err := s.q.PayloadSweepList(ctx, db.PayloadSweepListParams{Before: before, MaxRows: int32(batch)})
		if err != nil {
			return deleted, interpret(err, "payloads")
		}
		for _, k := range keys {
			if err := s.payloads.files.Delete(ctx, k); err != nil {
				return deleted, err
			}
		}
		n, err := s.q.PayloadSweepDelete(ctx, db.PayloadSweepDeleteParams{StorageKeys: keys, Before: before})
		if err != nil {
			return deleted, interpret(err, "payloads")
		}
		deleted += len(keys)
		if n == 0 {
			return deleted, nil
		}
	}
}

// offloadIngest offloads an accepted request's trigger data, and the node runs of an execution run ahead of the
// queue, after the express path has run on the full values and before the group commit writes them.
func (s *Store) offloadIngest(ctx context.Context, r *ingestRequest) error {
	if s.payloads == nil {
		return nil
	}
	e := &r.execution
	var err error
	if e.TriggerData, err = s.offload(ctx, e.OrganizationID, e.ID, e.TriggerData); err != nil {
		return err
	}
	if r.finished == nil {
		return nil
	}
	c := *r.finished
	c.NodeRuns = append([]engine.NodeRun(nil), c.NodeRuns...) // the caller's completion keeps its full values
	if err := s.offloadRuns(ctx, c.Execution, c.NodeRuns); err != nil {
		return err
	}
	r.finished = &c
	return nil
}

// offloadCompletion returns c with its node runs' large values offloaded; the worker's own runs keep theirs.
func (s *Store) offloadCompletion(ctx context.Context, c queue.Completion) (queue.Completion, error) {
	if s.payloads == nil || len(c.NodeRuns) == 0 {
		return c, nil
	}
	c.NodeRuns = append([]engine.NodeRun(nil), c.NodeRuns...)
	return c, s.offloadRuns(ctx, c.Execution, c.NodeRuns)
}

// payloadsForCreate readies a new execution's values: trigger data carried over by reference (a retry) is claimed
// for it, like the references of the runs it keeps; new trigger data too large to keep inline is offloaded.
func (s *Store) payloadsForCreate(ctx context.Context, q *db.Queries, in *NewExecution, runs []engine.NodeRun) error {
	if s.payloads == nil {
		return nil
	}
	carried := in.TriggerData
	if ParsePayloadRef(in.TriggerData) == nil {
		var err error
		if in.TriggerData, err = s.offload(ctx, in.OrganizationID, in.ID, in.TriggerData); err != nil {
			return err
		}
		carried = nil
	}
	return s.claimCarried(ctx, q, in.OrganizationID, in.ID, carried, runs)
}
