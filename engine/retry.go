package engine

// RetryRuns returns the recorded runs of a failed (or canceled) execution to keep when the user retries it from the
// failed node: pass them as RunInput.Recorded to a new Run and it resumes there, feeding the failed node the same
// input it had (its parents' recorded outputs) without repeating anything that succeeded.
//
// Dropped are the failed runs, the runs left "running" by an interrupted worker, and every run downstream of a
// failed one, since their inputs may change. Inside a loop body only the failing item's downstream runs are dropped
// (other items keep their results), along with the loop node itself and what follows it; a loop over batches keeps
// the checkpoints of the other batches, which the retry reuses without reading those batches again. Parked delays are kept so
// they keep their resume time.
func (p *Plan) RetryRuns(runs []NodeRun) []NodeRun {
	dropNode := make([]bool, len(p.nodes))
	dropItem := make(map[runKey]bool)

	var taintAll func(i int)
	taintAll = func(i int) {
		if dropNode[i] {
			return
		}
		dropNode[i] = true
		for _, c := range p.nodes[i].children {
			taintAll(c)
		}
	}
	var taintItem func(i, item int)
	taintItem = func(i, item int) {
		k := runKey{node: int32(i), item: int32(item)}
		if dropItem[k] {
			return
		}
		dropItem[k] = true
		for _, c := range p.nodes[i].children {
			taintItem(c, item)
		}
	}

	for _, r := range runs {
		i, ok := p.index[r.NodeID]
		if !ok {
			continue
		}
		n := p.nodes[i]
		interrupted := r.Status == NodeRunning && !n.typ.Waits
		if r.Status != NodeFailed && !interrupted {
			continue
		}
		if r.ItemIndex != nil && n.bodyOf >= 0 {
			taintItem(i, *r.ItemIndex)
			// The item's batch checkpoint too, if it has one (a failure its body continued past): it runs again.
			dropItem[keyOf(n.bodyOf, r.ItemIndex)] = true
			taintAll(n.bodyOf)
			continue
		}
		taintAll(i)
	}

	kept := make([]NodeRun, 0, len(runs))
	for _, r := range runs {
		i, ok := p.index[r.NodeID]
		if !ok {
			continue
		}
		if r.ItemIndex != nil {
			if dropItem[keyOf(i, r.ItemIndex)] {
				continue
			}
			// A body run survives a drop of its loop: the new loop run reuses it for its item. So does the
			// checkpoint of a batch of a loop over batches, so that the batch is not even read again.
			if dropNode[i] && (p.nodes[i].bodyOf >= 0 || r.Port == PortBatch) && !p.loopBodyTainted(i, dropNode) {
				kept = append(kept, r)
				continue
			}
		}
		if dropNode[i] {
			continue
		}
		kept = append(kept, r)
	}
	return kept
}

// loopBodyTainted reports whether a body node (or a loop's batch checkpoint, i the loop) was dropped for a reason
// other than being in the body of a loop that is re-run: a failure upstream of the loop changes every item.
func (p *Plan) loopBodyTainted(i int, dropNode []bool) bool {
	loop := p.nodes[i]
	if loop.bodyOf >= 0 {
		loop = p.nodes[loop.bodyOf]
	}
	for _, par := range loop.parents {
		if dropNode[par] {
			return true
		}
	}
	return false
}
