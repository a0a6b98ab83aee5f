// Conversion between the stored workflow definition and React Flow's nodes and edges, and the rules of the graph
// (ports, ids, the single trigger, which connections are allowed). Pure functions: no React, no DOM.
import type { Edge, Node } from "@xyflow/react";
import type { DefEdge, DefNode, DefNote, Definition, JSONSchema, NodeType } from "./types";

/**
 * The handle id of the default output port. The definition spells that port "" (or leaves `port` out), which React
 * Flow treats as "no id"; a real id keeps handles, edges and the browser tests unambiguous.
 */
export const DEFAULT_HANDLE = "out";

/** A canvas node carries its whole definition node, so fields the editor does not know survive a save. */
export type NodeData = { def: DefNode };
export type CmNode = Node<NodeData, "cm">;
/** An edge keeps its definition port ("" = default) and any unknown fields of the stored edge. */
export type EdgeData = { port: string; extra: Record<string, unknown> };
export type CmEdge = Edge<EdgeData>;

/** A sticky note drawn on the canvas; its canvas id is NOTE_PREFIX + its own id, apart from every node id. */
export type NoteData = { note: DefNote };
export type NoteNode = Node<NoteData, "note">;
export const NOTE_PREFIX = "note:";
/** The colours the engine accepts (engine.NoteColors); the first is the default. */
export const NOTE_COLORS = ["yellow", "blue", "green", "pink", "purple", "gray"] as const;
/** The engine's bounds on notes (engine.MaxNoteText, MinNoteSize, MaxNoteSize). */
export const NOTE_LIMITS = { text: 5000, min: 40, max: 4000 };
export const NOTE_SIZE = { width: 240, height: 160 };

export interface Graph {
  nodes: CmNode[];
  edges: CmEdge[];
  notes: NoteNode[];
}

export function noteNode(n: DefNote, i = 0): NoteNode {
  const size = n.size ?? NOTE_SIZE;
  return {
    id: NOTE_PREFIX + n.id,
    type: "note",
    position: n.position && Number.isFinite(n.position.x) && Number.isFinite(n.position.y) ? { x: n.position.x, y: n.position.y } : { x: i * 40, y: -200 },
    width: size.width,
    height: size.height,
    zIndex: -1,
    data: { note: n },
  };
}

/** The note a canvas note stands for, its position and size rounded as a save stores them. */
export function noteDef(n: NoteNode): DefNote {
  const clamp = (v: number) => Math.min(NOTE_LIMITS.max, Math.max(NOTE_LIMITS.min, Math.round(v)));
  const { id, text, color } = n.data.note;
  return {
    id,
    text,
    position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    size: { width: clamp(n.width ?? n.measured?.width ?? NOTE_SIZE.width), height: clamp(n.height ?? n.measured?.height ?? NOTE_SIZE.height) },
    ...(color ? { color } : {}),
  };
}

/** A fresh note id ("note_1", "note_2"…), unique among the notes. */
export function newNoteId(existing: Iterable<string>): string {
  const taken = new Set(existing);
  for (let i = 1; ; i++) if (!taken.has(`note_${i}`)) return `note_${i}`;
}

export type TypeIndex = ReadonlyMap<string, NodeType>;

export const NODE_ID_PATTERN = /^[A-Za-z0-9_]{1,64}$/;

export function isTrigger(def: Pick<DefNode, "type">, types: TypeIndex): boolean {
  const t = types.get(def.type);
  return t ? t.category === "trigger" : def.type.startsWith("trigger.");
}

/**
 * The output ports of a node, as the definition names them ("" is the default port). They depend on the config
 * (a switch has one port per case plus "default") and on on_error ("error" adds a port), like the engine's portsOf.
 */
export function portsOf(def: DefNode, type: NodeType | undefined): string[] {
  let ports: string[];
  if (def.type === "condition.switch") {
    const cases = Array.isArray(def.config?.cases) ? (def.config.cases as unknown[]) : [];
    ports = cases.map((c) => (c && typeof c === "object" && typeof (c as { port?: unknown }).port === "string" ? (c as { port: string }).port : ""));
    ports.push("default");
  } else if (type && type.ports && type.ports.length > 0) {
    ports = [...type.ports];
  } else {
    ports = [""];
  }
  if (def.on_error === "error") ports.push("error");
  return ports;
}

/** The ports a node shows (on the canvas, in the node view): each once, a switch's unnamed case left out. */
export function drawnPorts(def: DefNode, type: NodeType | undefined): string[] {
  return portsOf(def, type).filter((p, i, all) => all.indexOf(p) === i && !(p === "" && def.type === "condition.switch"));
}

/** The handle id a port is drawn with. */
export function handleOf(port: string | undefined): string {
  return port ? port : DEFAULT_HANDLE;
}

/** The definition port a source handle stands for: "out" is the default port only on nodes that have one. */
export function portOfHandle(handle: string | null | undefined, def: DefNode, type: NodeType | undefined): string {
  if (!handle) return "";
  if (handle === DEFAULT_HANDLE && portsOf(def, type).includes("")) return "";
  return handle;
}

export function edgeId(from: string, port: string, to: string): string {
  return `e|${from}|${port}|${to}`;
}

export function makeEdge(from: string, port: string, to: string, extra: Record<string, unknown> = {}): CmEdge {
  return {
    id: edgeId(from, port, to),
    source: from,
    sourceHandle: handleOf(port),
    target: to,
    data: { port, extra },
    className: port === "error" ? "cm-edge-error" : undefined,
  };
}

/** Builds the canvas from a stored definition. Nodes without a position are laid out left to right. */
export function toGraph(def: Definition): Graph {
  const nodes: CmNode[] = (def.nodes ?? []).map((n, i) => ({
    id: n.id,
    type: "cm",
    position: n.position && Number.isFinite(n.position.x) && Number.isFinite(n.position.y)
      ? { x: n.position.x, y: n.position.y }
      : { x: i * 240, y: 0 },
    data: { def: n },
  }));
  const edges: CmEdge[] = (def.edges ?? []).map((e) => {
    const { from, to, port, ...extra } = e;
    return makeEdge(from, port ?? "", to, extra);
  });
  return { nodes, edges, notes: (def.notes ?? []).map(noteNode) };
}

/**
 * Builds the definition to save. `base` is the definition as loaded: its top-level fields other than nodes and
 * edges are kept. Positions are rounded so that moving a node by a fraction of a pixel does not make a version.
 */
export function toDefinition(graph: Graph, base: Record<string, unknown>): Definition {
  const nodes: DefNode[] = graph.nodes.map((n) => {
    const d: DefNode = { ...n.data.def, id: n.id, position: { x: Math.round(n.position.x), y: Math.round(n.position.y) } };
    for (const k of Object.keys(d)) if (d[k] === undefined) delete d[k];
    if (d.name === "") delete d.name;
    return d;
  });
  const edges: DefEdge[] = graph.edges.map((e) => {
    const port = e.data?.port ?? "";
    return { from: e.source, ...(port ? { port } : {}), to: e.target, ...(e.data?.extra ?? {}) };
  });
  const { nodes: _n, edges: _e, notes: _o, ...rest } = base;
  void _n;
  void _e;
  void _o;
  const notes = graph.notes.map(noteDef);
  return { ...rest, nodes, edges, ...(notes.length ? { notes } : {}) };
}

/** The short name of a type ("transform.data" → "data"), made safe for a node id. */
export function shortName(type: string): string {
  const s = (type.split(".").pop() || "node").replace(/[^A-Za-z0-9_]/g, "_");
  return s.slice(0, 50) || "node";
}

/**
 * A new node id: the type's short name plus a counter ("data_1", "if_2"); a trigger gets the bare name ("webhook")
 * since there is only one. Ids match ^[A-Za-z0-9_]{1,64}$: expressions reference nodes.<id>.output.
 */
export function newNodeId(type: string, trigger: boolean, existing: Iterable<string>): string {
  const taken = new Set(existing);
  const base = shortName(type);
  if (trigger && !taken.has(base)) return base;
  for (let i = 1; ; i++) {
    const id = `${base}_${i}`;
    if (!taken.has(id)) return id;
  }
}

/** The config a new node starts with: the schema's top-level defaults (never the example, which is sample data). */
export function defaultConfig(schema: JSONSchema | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(schema?.properties ?? {})) {
    if (p && typeof p === "object" && p.default !== undefined) out[k] = structuredClone(p.default);
  }
  return out;
}

/** A node's size on the canvas before React Flow has measured it: one port's worth. */
export const NODE_SIZE = { width: 190, height: 56 };
/** The room kept free around a placed node (enough for a "needs attention" line a node may grow by later). */
const NODE_GAP = 32;

/** The size a new node of this definition will roughly have: taller by a row per labelled port. */
export function estimatedSize(def: DefNode, type: NodeType | undefined): { width: number; height: number } {
  const ports = portsOf(def, type);
  return ports.length > 1 ? { width: NODE_SIZE.width, height: NODE_SIZE.height + 20 * ports.length } : NODE_SIZE;
}

/**
 * The first spot at or below want where a node of size overlaps no node of the canvas (with a gap around each), so
 * that added nodes never land on top of others.
 */
export function freeSpot(nodes: readonly Pick<CmNode, "position" | "measured">[], want: { x: number; y: number }, size = NODE_SIZE): { x: number; y: number } {
  const boxes = nodes.map((n) => ({
    x: n.position.x,
    y: n.position.y,
    w: n.measured?.width ?? NODE_SIZE.width,
    h: n.measured?.height ?? NODE_SIZE.height,
  }));
  const hits = (p: { x: number; y: number }) =>
    boxes.find((b) => p.x < b.x + b.w + NODE_GAP && b.x < p.x + size.width + NODE_GAP && p.y < b.y + b.h + NODE_GAP && b.y < p.y + size.height + NODE_GAP);
  let p = { x: Math.round(want.x), y: Math.round(want.y) };
  for (let i = 0; i < 500; i++) {
    const b = hits(p);
    if (!b) break;
    p = { x: p.x, y: Math.round(b.y + b.h + NODE_GAP) };
  }
  return p;
}

/** Why a connection may not be made, or null when it may. */
export function connectionProblem(
  graph: Graph,
  types: TypeIndex,
  from: string,
  port: string,
  to: string,
): string | null {
  if (from === to) return "A node cannot connect to itself.";
  const target = graph.nodes.find((n) => n.id === to);
  if (!target) return "Unknown node.";
  if (isTrigger(target.data.def, types)) return "A trigger starts the workflow: nothing can connect into it.";
  if (graph.edges.some((e) => e.source === from && (e.data?.port ?? "") === port && e.target === to)) {
    return "These ports are already connected.";
  }
  return null;
}

/**
 * After a node's ports changed (switch cases edited, on_error switched), keeps its edges attached: a port renamed in
 * place (same count, same position) carries its edges along; edges from a port that no longer exists are dropped.
 */
export function reattachEdges(edges: CmEdge[], nodeId: string, before: string[], after: string[]): CmEdge[] {
  const renamed = new Map<string, string>();
  if (before.length === after.length) {
    before.forEach((p, i) => {
      if (p !== after[i]) renamed.set(p, after[i]);
    });
  }
  const keep = new Set(after);
  let changed = false;
  const out: CmEdge[] = [];
  for (const e of edges) {
    if (e.source !== nodeId) {
      out.push(e);
      continue;
    }
    const port = e.data?.port ?? "";
    const next = renamed.get(port) ?? port;
    if (!keep.has(next)) {
      changed = true;
      continue;
    }
    if (next !== port) {
      changed = true;
      out.push({ ...makeEdge(e.source, next, e.target, e.data?.extra ?? {}), selected: e.selected });
    } else out.push(e);
  }
  return changed ? out : edges;
}

/** Ids of every node a node depends on (its ancestors), nearest first. */
export function ancestors(nodeId: string, edges: readonly { from: string; to: string }[]): string[] {
  const seen = new Set<string>([nodeId]);
  const order: string[] = [];
  let frontier = [nodeId];
  while (frontier.length) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const e of edges) {
        if (e.to === id && !seen.has(e.from)) {
          seen.add(e.from);
          order.push(e.from);
          next.push(e.from);
        }
      }
    }
    frontier = next;
  }
  return order;
}

/** Whether a node runs inside a loop's body: reachable from some condition.loop's "body" port. */
export function inLoopBody(nodeId: string, def: Pick<Definition, "nodes" | "edges">): boolean {
  for (const loop of def.nodes) {
    if (loop.type !== "condition.loop") continue;
    const seen = new Set<string>([loop.id]);
    let frontier = def.edges.filter((e) => e.from === loop.id && e.port === "body").map((e) => e.to);
    while (frontier.length) {
      const next: string[] = [];
      for (const id of frontier) {
        if (id === nodeId) return true;
        if (seen.has(id)) continue;
        seen.add(id);
        for (const e of def.edges) if (e.from === id) next.push(e.to);
      }
      frontier = next;
    }
  }
  return false;
}
