package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/concertmaster/concertmaster/engine/value"
)

// batchLoop is a loop over batches being run by one Run call.
type batchLoop struct {
	*Batches
	node *planNode
}

func (b *batchLoop) size(k int) int64 {
	if b.Size == nil {
		return 0
	}
	return b.Size(k)
}

// runBatch runs batch k of a loop over batches. A batch an earlier pass checkpointed gives its recorded result
// without being loaded or run; any other is loaded, its body run, and then checkpointed: its runs and the
// checkpoint run go to RunInput.Batches in one call, with the execution's runs not recorded yet. A batch that did
// not finish (a failure, a cancel, the loop stopping) gets no checkpoint; its runs are recorded with the rest.
func (s *scope) runBatch(ctx context.Context, b *batchLoop, k int, stop *atomic.Bool) (*settled, error) {
	ex, n := s.ex, b.node
	if rec := ex.recorded[keyOf(n.idx, &k)]; rec != nil && rec.Status == NodeSucceeded && rec.Port == PortBatch {
		if st, ok := s.checkpointed(rec); ok {
			return st, nil
		}
	}
	started := ex.now()
	item, err := b.Load(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("batch %d: %w", k, err)
	}
	collected := &batchRuns{}
	res, err := s.runItem(ctx, n, k, item, stop, collected)
	if err != nil || ctx.Err() != nil || s.halted() || stop.Load() {
		ex.addRuns(collected.runs...)
		return res, err
	}
	cp := BatchCheckpoint{Batch: k, Batches: b.Count, Size: b.size(k), Total: b.Total, Unit: b.Unit}
	if res != nil {
		cp.Result = orNull(res.raw)
	}
	out, err := json.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("batch %d: checkpoint: %w", k, err)
	}
	idx := k
	runs := append(collected.runs, NodeRun{NodeID: n.ID, Type: n.Type, Status: NodeSucceeded, Attempt: 1,
		ItemIndex: &idx, Port: PortBatch, Output: out, StartedAt: started, FinishedAt: ex.now()})
	if ex.in.Batches == nil {
		ex.addRuns(runs...)
		return res, nil
	}
	ex.mu.Lock()
	pending := ex.runs
	ex.runs = nil
	ex.mu.Unlock()
	// Recorded even while the execution is being canceled: the batch finished.
	if err := ex.in.Batches.RecordBatch(context.WithoutCancel(ctx), append(pending, runs...)); err != nil {
		err = fmt.Errorf("record batch %d of node %q: %w", k, n.ID, err)
		ex.recordFailed(err)
		return nil, err
	}
	return res, nil
}

// checkpointed gives the result of a batch from its checkpoint run; ok is false when the record cannot be read,
// and the batch then runs again.
func (s *scope) checkpointed(rec *NodeRun) (st *settled, ok bool) {
	var cp BatchCheckpoint
	if err := json.Unmarshal(rec.Output, &cp); err != nil {
		return nil, false
	}
	if len(cp.Result) == 0 {
		return nil, true // the body delivered nothing
	}
	data, err := value.Decode(cp.Result, s.ex.x.maxDepth+1)
	if err != nil {
		return nil, false
	}
	return &settled{status: NodeSucceeded, deliver: true, data: data, raw: cp.Result}, true
}
