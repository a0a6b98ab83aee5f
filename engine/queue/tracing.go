package queue

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/tracing"
)

// nodeTracer starts a span per node run, child of the execution's span: "node <type>" (node types are a fixed set,
// so span names stay few), with the node's id, type, attempt and outcome.
type nodeTracer struct{ tracer trace.Tracer }

func (t nodeTracer) StartNode(ctx context.Context, run engine.NodeRun) (context.Context, func(engine.NodeRun)) {
	ctx, span := t.tracer.Start(ctx, "node "+run.Type, trace.WithTimestamp(run.StartedAt),
		trace.WithAttributes(tracing.AttrNodeID.String(run.NodeID), tracing.AttrNodeType.String(run.Type)))
	return ctx, func(run engine.NodeRun) {
		status := string(run.Status)
		if status == "" {
			status = string(engine.NodeRunning) // parked at a delay: it finishes in a later pass
		}
		span.SetAttributes(tracing.AttrNodeStatus.String(status), tracing.AttrNodeAttempt.Int(run.Attempt))
		if run.Status == engine.NodeFailed {
			tracing.Fail(span, firstLine(run.Error))
		}
		if run.FinishedAt.IsZero() {
			span.End()
		} else {
			span.End(trace.WithTimestamp(run.FinishedAt))
		}
	}
}

// firstLine bounds an error put on a span: its first line, at most 200 bytes.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return s
}
