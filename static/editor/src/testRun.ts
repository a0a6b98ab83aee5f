// Following a test run: the execution's node runs folded into one status per canvas node, the latest run of each
// node for the side panel, and the server-sent events stream that delivers changes.
import type { Api } from "./api";
import type { Execution, NodeRun, NodeRunStatus } from "./types";

export type NodeStatus = NodeRunStatus | "idle";

export const FINAL_STATUSES = new Set(["succeeded", "failed", "canceled"]);

/** One status per node; a node with several runs (loop bodies, retries) shows the most telling one. */
export function nodeStatuses(exec: Execution | null): Map<string, NodeStatus> {
  const out = new Map<string, NodeStatus>();
  if (!exec) return out;
  const rank: Record<NodeStatus, number> = { idle: 0, skipped: 1, succeeded: 2, running: 3, failed: 4 };
  for (const r of exec.nodes ?? []) {
    const cur = out.get(r.node_id);
    if (!cur || rank[r.status] > rank[cur]) out.set(r.node_id, r.status);
  }
  return out;
}

export interface LatestRun extends NodeRun {
  /** How many runs the node had (one per loop item and attempt). */
  count: number;
}

/** The latest run of every node: the one started last, later attempts winning ties. */
export function latestRuns(exec: Execution | null): Map<string, LatestRun> {
  const out = new Map<string, LatestRun>();
  if (!exec) return out;
  for (const r of exec.nodes ?? []) {
    const cur = out.get(r.node_id);
    if (!cur) {
      out.set(r.node_id, { ...r, count: 1 });
      continue;
    }
    const later = (r.started_at ?? "") > (cur.started_at ?? "") || ((r.started_at ?? "") === (cur.started_at ?? "") && r.attempt >= cur.attempt);
    out.set(r.node_id, later ? { ...r, count: cur.count + 1 } : { ...cur, count: cur.count + 1 });
  }
  return out;
}

/** Node outputs of a run, for expression hints. */
export function runOutputs(exec: Execution | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [id, r] of latestRuns(exec)) if (r.output !== undefined && r.output !== null) out[id] = r.output;
  return out;
}

/**
 * Follows an execution over server-sent events until it ends. The stream sends the whole execution at once and
 * after every change; "end" must close it, or EventSource would reconnect forever. Returns a function that stops.
 */
export function followExecution(
  api: Api,
  id: string,
  onUpdate: (e: Execution) => void,
  onEnd: (status: string) => void,
  onError: (message: string) => void,
): () => void {
  let closed = false;
  const es = new EventSource(api.executionEventsURL(id));
  const stop = () => {
    closed = true;
    es.close();
  };
  es.addEventListener("execution", (ev) => {
    try {
      onUpdate(JSON.parse((ev as MessageEvent<string>).data) as Execution);
    } catch {
      /* a malformed event is skipped; the next one carries the whole state again */
    }
  });
  es.addEventListener("end", (ev) => {
    stop();
    onEnd(String((ev as MessageEvent<string>).data ?? ""));
  });
  es.onerror = () => {
    if (closed || es.readyState !== EventSource.CLOSED) return; // CONNECTING: the browser retries by itself
    stop();
    // The stream was refused (signed out, gone): fall back to one read so the canvas still shows the outcome.
    api.execution(id).then(
      (e) => {
        onUpdate(e);
        if (FINAL_STATUSES.has(e.status)) onEnd(e.status);
        else onError("Lost the live updates; open the execution page to follow it.");
      },
      () => onError("Lost the live updates; open the execution page to follow it."),
    );
  };
  return stop;
}
