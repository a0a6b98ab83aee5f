package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/fileparse"
)

// fileBatches is the batch plan a transform.parse with batch_size outputs under "batches", and what a
// condition.loop reads one batch at a time: the file, where its batches start, and how to read their rows. It is
// recorded with the parse node's run, so a resumed execution reads the same batches; and it is data a workflow
// could rewrite on its way, so the loop checks it again (fileparse.BatchPlan.Check) and reads through the
// execution's storage, which finds only the organization's own files.
type fileBatches struct {
	Ref string `json:"ref"`
	fileparse.BatchPlan
	Types      map[string]string `json:"types,omitempty"`
	DateLayout string            `json:"date_layout,omitempty"`
	OnRowError string            `json:"on_row_error,omitempty"`
}

// planBatches reads the whole file once, keeping only where its batches start, and outputs the batch plan.
func (n *parseNode) planBatches(ctx context.Context, file engine.File, body io.Reader) (engine.Output, error) {
	plan, err := fileparse.PlanBatches(ctx, body, file.Filename, file.ContentType, n.opts, n.batchSize)
	if err != nil {
		return engine.Output{}, parseError(err, n.opts.MaxBytes)
	}
	fb := fileBatches{Ref: file.Ref, BatchPlan: *plan, Types: n.opts.Types, DateLayout: n.opts.DateLayout,
		OnRowError: n.onRowError}
	out := map[string]any{"batches": fb, "total": plan.Total, "batch_size": plan.BatchSize, "format": plan.Format,
		"columns": plan.Columns, "file": map[string]any{"ref": file.Ref, "filename": file.Filename, "size": file.Size}}
	if plan.Delimiter != "" {
		out["delimiter"] = plan.Delimiter
	}
	return engine.Output{Data: out}, nil
}

// batchesOf reports whether v, what a loop's items gave, is a batched parse's output (or its "batches"), and
// reads its plan.
func batchesOf(v any) (*fileBatches, bool, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false, nil
	}
	if inner, ok := m["batches"].(map[string]any); ok {
		m = inner
	}
	if _, ok := m["offsets"]; !ok {
		return nil, false, nil
	}
	if _, ok := m["ref"]; !ok {
		return nil, false, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, true, engine.Permanent(fmt.Errorf("items: the batch plan cannot be read: %w", err))
	}
	var fb fileBatches
	if err := json.Unmarshal(raw, &fb); err != nil {
		return nil, true, engine.Permanent(fmt.Errorf("items: the batch plan cannot be read: %w", err))
	}
	if fb.Ref == "" {
		return nil, true, engine.Permanent(errors.New("items: the batch plan names no file"))
	}
	if err := fb.Check(); err != nil {
		return nil, true, engine.Permanent(fmt.Errorf("items: %w", err))
	}
	return &fb, true, nil
}

// loop returns the work of a loop over the plan's batches: each is read (a ranged read of the stored file) only
// when its turn comes, and its body sees {items, errors, columns, batch, row, rows}: the shape of an unbatched
// parse's output, so a body reads a batch as it would read a whole file.
func (fb *fileBatches) loop(svc *engine.Services, concurrency int) (*engine.Loop, error) {
	if svc == nil || svc.Storage == nil {
		return nil, engine.Permanent(errors.New("file storage is not available to this execution"))
	}
	storage := svc.Storage
	opts := fileparse.Options{Types: fb.Types, DateLayout: fb.DateLayout, FailOnRowError: fb.OnRowError == "fail"}
	load := func(ctx context.Context, k int) (any, error) {
		offset, length := fb.Range(k)
		rc, err := storage.OpenRange(ctx, fb.Ref, offset, length)
		if err != nil {
			return nil, storageError(err)
		}
		defer rc.Close()
		res, err := fileparse.ReadBatch(ctx, rc, &fb.BatchPlan, k, opts)
		if err != nil {
			return nil, parseError(err, fileparse.MaxBatchBytes)
		}
		// Plain JSON-shaped values, so the run loop hands the batch on without a round trip through JSON.
		errs := make([]any, len(res.Errors))
		for i, e := range res.Errors {
			m := map[string]any{"row": float64(e.Row), "message": e.Message}
			if e.Column != "" {
				m["column"] = e.Column
			}
			errs[i] = m
		}
		cols := make([]any, len(res.Columns))
		for i, c := range res.Columns {
			cols[i] = c
		}
		return map[string]any{"items": res.Items, "errors": errs, "columns": cols, "batch": float64(k),
			"row": float64(k*fb.BatchSize + 1), "rows": float64(fb.Rows(k))}, nil
	}
	return &engine.Loop{Concurrency: concurrency, Batches: &engine.Batches{Count: fb.Batches(), Total: int64(fb.Total),
		Unit: "rows", Size: func(k int) int64 { return int64(fb.Rows(k)) }, Load: load}}, nil
}
