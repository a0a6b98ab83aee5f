// Copy and paste of nodes, within a workflow and across workflows: the clipboard holds plain definition JSON
// ({"nodes": [...], "edges": [...]}, the edges those between the copied nodes), so nodes copied from one canvas
// paste into another, and a definition fragment written by hand or taken from the API pastes too. Pure functions.
import { isTrigger, makeEdge, newNodeId, newNoteId, noteNode, toDefinition, toGraph, type CmEdge, type CmNode, type Graph, type NoteNode, type TypeIndex } from "./definition";
import type { DefEdge, DefNode, DefNote, Definition } from "./types";

type Fragment = Pick<Definition, "nodes" | "edges"> & { notes: DefNote[] };

/** The selected nodes and notes and the edges among the nodes, as definition JSON; null when nothing is selected. */
export function copySelection(graph: Graph): string | null {
  const picked = new Set(graph.nodes.filter((n) => n.selected).map((n) => n.id));
  const notes = graph.notes.filter((n) => n.selected);
  if (picked.size === 0 && notes.length === 0) return null;
  const def = toDefinition(
    { nodes: graph.nodes.filter((n) => picked.has(n.id)), edges: graph.edges.filter((e) => picked.has(e.source) && picked.has(e.target)), notes },
    {},
  );
  return JSON.stringify({ nodes: def.nodes, edges: def.edges, ...(def.notes ? { notes: def.notes } : {}) }, null, 2);
}

/** Reads clipboard text as a definition fragment, or null when it is not one. */
export function parseFragment(text: string): Fragment | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!v || typeof v !== "object") return null;
  const { nodes, edges, notes: rawNotes } = v as { nodes?: unknown; edges?: unknown; notes?: unknown };
  const okNote = (n: unknown): n is DefNote => !!n && typeof n === "object" && typeof (n as DefNote).id === "string" && typeof (n as DefNote).text === "string";
  const notes = Array.isArray(rawNotes) ? rawNotes.filter(okNote) : [];
  if (!Array.isArray(nodes) || (nodes.length === 0 && notes.length === 0)) return null;
  const okNode = (n: unknown): n is DefNode =>
    !!n && typeof n === "object" && typeof (n as DefNode).id === "string" && typeof (n as DefNode).type === "string";
  const okEdge = (e: unknown): e is DefEdge =>
    !!e && typeof e === "object" && typeof (e as DefEdge).from === "string" && typeof (e as DefEdge).to === "string";
  if (!nodes.every(okNode)) return null;
  return { nodes, edges: Array.isArray(edges) ? edges.filter(okEdge) : [], notes };
}

export interface Pasted {
  graph: Graph;
  /** How many notes were pasted. */
  notes: number;
  /** Ids the pasted nodes got, in order. */
  ids: string[];
  /** Triggers left out: the workflow already has its one trigger. */
  skippedTriggers: number;
}

/**
 * Adds a fragment to the graph: each node keeps its id when free and gets a fresh one otherwise (edges follow),
 * the group keeps its shape and lands below everything on the canvas so that it overlaps nothing, and the pasted
 * nodes alone end up selected. A trigger is left out when the graph has one.
 */
export function pasteFragment(graph: Graph, fragment: Fragment, types: TypeIndex): Pasted {
  let hasTrigger = graph.nodes.some((n) => isTrigger(n.data.def, types));
  const taken = graph.nodes.map((n) => n.id);
  const rename = new Map<string, string>();
  const defs: DefNode[] = [];
  let skippedTriggers = 0;
  for (const n of fragment.nodes) {
    const trigger = isTrigger(n, types);
    if (trigger && hasTrigger) {
      skippedTriggers++;
      continue;
    }
    hasTrigger ||= trigger;
    const id = taken.includes(n.id) || !/^[A-Za-z0-9_]{1,64}$/.test(n.id) ? newNodeId(n.type, trigger, taken) : n.id;
    taken.push(id);
    rename.set(n.id, id);
    defs.push({ ...structuredClone(n), id });
  }
  const edges: DefEdge[] = fragment.edges
    .filter((e) => rename.has(e.from) && rename.has(e.to))
    .map((e) => ({ ...e, from: rename.get(e.from)!, to: rename.get(e.to)! }));
  const noteIds = graph.notes.map((n) => n.data.note.id);
  const newNotes = fragment.notes.map((n) => {
    const id = newNoteId(noteIds);
    noteIds.push(id);
    return { ...structuredClone(n), id };
  });
  const added = toGraph({ nodes: defs, edges, notes: newNotes });
  // Below the lowest node or note, aligned with the leftmost: nothing there to overlap.
  const both = [...added.nodes, ...added.notes];
  const existing = [...graph.nodes, ...graph.notes];
  const minX = Math.min(...both.map((n) => n.position.x));
  const minY = Math.min(...both.map((n) => n.position.y));
  const left = existing.length ? Math.min(...existing.map((n) => n.position.x)) : 0;
  const below = existing.length ? Math.max(...existing.map((n) => n.position.y + (n.height ?? n.measured?.height ?? 56))) + 80 : 0;
  const moved = (p: { x: number; y: number }) => ({ x: Math.round(p.x - minX + left), y: Math.round(p.y - minY + below) });
  const nodes: CmNode[] = added.nodes.map((n) => {
    const position = moved(n.position);
    return { ...n, position, selected: true, data: { def: { ...n.data.def, position } } };
  });
  const notes: NoteNode[] = added.notes.map((n) => ({ ...noteNode(n.data.note), position: moved(n.position), selected: true }));
  const keep = (e: CmEdge) => (e.selected ? { ...e, selected: false } : e);
  return {
    graph: {
      nodes: [...graph.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...nodes],
      notes: [...graph.notes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...notes],
      edges: [...graph.edges.map(keep), ...added.edges.map((e) => makeEdge(e.source, e.data?.port ?? "", e.target, e.data?.extra ?? {}))],
    },
    ids: nodes.map((n) => n.id),
    notes: notes.length,
    skippedTriggers,
  };
}
