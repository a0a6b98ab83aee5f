// Tidy up: a layered (Sugiyama) layout of the whole graph by dagre, left to right like the run order. Loaded on
// demand (a dynamic import, its own chunk), so the canvas of an organization without the editor.tidy_up flag never
// fetches it.
import dagre from "@dagrejs/dagre";
import type { Graph } from "./definition";

/** A node's size when React Flow has not measured it yet (roughly a node with one port). */
const FALLBACK = { width: 190, height: 56 };

/** Where each node goes (its top-left corner), by id. */
export function tidyPositions(graph: Graph): Map<string, { x: number; y: number }> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 90, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of graph.nodes) {
    g.setNode(n.id, { width: n.measured?.width ?? FALLBACK.width, height: n.measured?.height ?? FALLBACK.height });
  }
  for (const e of graph.edges) g.setEdge(e.source, e.target);
  dagre.layout(g);
  const out = new Map<string, { x: number; y: number }>();
  for (const n of graph.nodes) {
    const p = g.node(n.id);
    // dagre places centres; React Flow positions top-left corners.
    out.set(n.id, { x: Math.round(p.x - p.width / 2), y: Math.round(p.y - p.height / 2) });
  }
  return out;
}
