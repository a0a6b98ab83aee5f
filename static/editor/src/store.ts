// The canvas editor's state, in one zustand store per mounted editor: the catalogue, the graph with its undo
// history, the saved copy it is compared with, and what the toolbar, the panel and the dialogs show. Handlers read
// the latest state with getState(), so none needs a ref mirroring a piece of state; the graph changes only through
// the actions here, which keep the undo history in step.
import { createStore } from "zustand";
import { reattachEdges, portsOf, toDefinition, toGraph, type Graph, type TypeIndex } from "./definition";
import { History } from "./history";
import { normalizeField } from "./schema";
import type { DefNode, Definition, Execution, FieldProblem, FormInfo, Integration, NodeType, Workflow } from "./types";

export type Message = { text: string; kind: "info" | "ok" | "error" };
export type DialogName = "test" | "versions" | "webhook" | null;

export interface RunState {
  id: string;
  execution: Execution | null;
  live: boolean;
}

/** The stored workflow's head, as the last load or save left it. */
export interface Meta {
  version: number;
  active: boolean;
  name: string;
}

/** A field of a node for the panel to focus; seq makes asking twice for the same field count. */
export interface FieldFocus {
  nodeId: string;
  field: string;
  seq: number;
}

export interface EditorState {
  types: NodeType[];
  typeIndex: TypeIndex;
  loadError: string | null;
  loaded: boolean;
  meta: Meta;
  graph: Graph;
  /** The definition's fields besides nodes and edges, carried through a save untouched. */
  base: Record<string, unknown>;
  /** The saved definition as JSON: the graph is dirty when its definition differs. */
  savedJson: string;
  canUndo: boolean;
  canRedo: boolean;
  /** The graph when a node drag began, recorded as one undo step when it ends if anything moved. */
  dragStart: Graph | null;
  problems: FieldProblem[];
  /** Marks empty required fields, after a save or a run was refused. */
  showRequired: boolean;
  message: Message;
  /** A save met a newer version: the toolbar offers a reload. */
  conflict: boolean;
  /** The server action under way ("save", "validate", "activate"), which disables its button. */
  busy: string | null;
  dialog: DialogName;
  paletteOpen: boolean;
  /** On a narrow screen, the node whose panel is open as a sheet. */
  sheetFor: string | null;
  focus: FieldFocus | null;
  /** Choices for the selects of integration and form fields; null while loading. */
  integrations: Integration[] | null;
  forms: FormInfo[] | null;
  /** False once the server refused to show the webhook (the role may not see its secret). */
  webhookAllowed: boolean;
  run: RunState | null;
}

export interface EditorActions {
  say(text: string, kind?: Message["kind"]): void;
  setTypes(types: NodeType[]): void;
  /** Takes a workflow from the server as the saved state: a new graph, an empty history, no problems. */
  applyWorkflow(wf: Workflow): void;
  /**
   * Changes the graph. `record`: true records an undo step, a string records one merged with the previous step of
   * the same key (typing in one field), false records nothing (selection, measuring, a drag in progress).
   */
  update(fn: (g: Graph) => Graph, record?: boolean | string): void;
  undo(): void;
  redo(): void;
  dragStarted(): void;
  dragStopped(): void;
  /** Selects one node alone ("" selects none) and opens its panel. */
  selectNode(id: string): void;
  /** Replaces a node's definition after an edit of field, moving its edges to its new ports. */
  changeNode(id: string, next: DefNode, field: string): void;
  /** Deletes the selected nodes and connections as one undo step. */
  deleteSelection(): void;
}

export type EditorStore = ReturnType<typeof createEditorStore>;

const EMPTY: Graph = { nodes: [], edges: [], notes: [] };

export function createEditorStore() {
  const history = new History<Graph>();
  const steps = () => ({ canUndo: history.canUndo, canRedo: history.canRedo });

  return createStore<EditorState & EditorActions>()((set, get) => ({
    types: [],
    typeIndex: new Map(),
    loadError: null,
    loaded: false,
    meta: { version: 0, active: false, name: "" },
    graph: EMPTY,
    base: {},
    savedJson: "",
    canUndo: false,
    canRedo: false,
    dragStart: null,
    problems: [],
    showRequired: false,
    message: { text: "", kind: "info" },
    conflict: false,
    busy: null,
    dialog: null,
    paletteOpen: window.innerWidth >= 760,
    sheetFor: null,
    focus: null,
    integrations: null,
    forms: null,
    webhookAllowed: true,
    run: null,

    say: (text, kind = "info") => set({ message: { text, kind } }),

    setTypes: (types) => set({ types, typeIndex: new Map(types.map((t) => [t.name, t])) }),

    applyWorkflow: (wf) => {
      const def = wf.definition ?? { nodes: [], edges: [] };
      const { nodes: _n, edges: _e, notes: _o, ...base } = def;
      void _n;
      void _e;
      void _o;
      const graph = toGraph(def);
      history.clear();
      set({
        base,
        graph,
        ...steps(),
        savedJson: JSON.stringify(toDefinition(graph, base)),
        meta: { version: wf.version, active: wf.active, name: wf.name },
        problems: [],
        showRequired: false,
        conflict: false,
      });
    },

    update: (fn, record = true) => {
      const prev = get().graph;
      const next = fn(prev);
      if (next === prev) return;
      if (record !== false) history.record(prev, typeof record === "string" ? record : undefined);
      set({ graph: next, ...steps() });
    },

    undo: () => {
      const prev = history.undo(get().graph);
      if (prev) set({ graph: prev, ...steps() });
    },

    redo: () => {
      const next = history.redo(get().graph);
      if (next) set({ graph: next, ...steps() });
    },

    dragStarted: () => set({ dragStart: get().graph }),

    dragStopped: () => {
      const before = get().dragStart;
      set({ dragStart: null });
      if (!before) return;
      const g = get().graph;
      const now = new Map([...g.nodes, ...g.notes].map((n) => [n.id, n]));
      // A move, or a note resized (its size and its corner).
      const moved = [...before.nodes, ...before.notes].some((n) => {
        const p = now.get(n.id);
        return p && (p.position.x !== n.position.x || p.position.y !== n.position.y || p.width !== n.width || p.height !== n.height);
      });
      if (moved) {
        history.record(before);
        set(steps());
      }
    },

    selectNode: (id) => {
      get().update(
        (g) => ({
          notes: g.notes.map((n) => (n.id === id ? (n.selected ? n : { ...n, selected: true }) : n.selected ? { ...n, selected: false } : n)),
          nodes: g.nodes.map((n) => (n.id === id ? (n.selected ? n : { ...n, selected: true }) : n.selected ? { ...n, selected: false } : n)),
          edges: g.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
        }),
        false,
      );
      set({ sheetFor: id });
    },

    changeNode: (id, next, field) => {
      const { typeIndex } = get();
      get().update((g) => {
        const node = g.nodes.find((n) => n.id === id);
        if (!node) return g;
        const t = typeIndex.get(node.data.def.type);
        const edges = reattachEdges(g.edges, id, portsOf(node.data.def, t), portsOf(next, t));
        return { ...g, nodes: g.nodes.map((n) => (n.id === id ? { ...n, data: { def: next } } : n)), edges };
      }, `${id}:${field}`);
      // The field was edited: its server error no longer applies.
      const ps = get().problems;
      const left = ps.filter((p) => !(p.node_id === id && (normalizeField(p.field) === field || normalizeField(p.field).startsWith(field + "."))));
      if (left.length !== ps.length) set({ problems: left });
    },

    deleteSelection: () => {
      const g = get().graph;
      const gone = new Set(g.nodes.filter((n) => n.selected).map((n) => n.id));
      const edges = g.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
      const notesGone = g.notes.filter((n) => n.selected).length;
      if (gone.size === 0 && notesGone === 0 && edges.length === g.edges.length) return;
      get().update((cur) => ({ nodes: cur.nodes.filter((n) => !gone.has(n.id)), edges, notes: cur.notes.filter((n) => !n.selected) }));
      const removedEdges = g.edges.length - edges.length;
      const notes = notesGone ? ` ${notesGone} note(s)` : "";
      get().say(
        gone.size
          ? `Deleted ${[...gone].join(", ")}${removedEdges ? ` and ${removedEdges} connection(s)` : ""}${notes ? ` and${notes}` : ""}.`
          : removedEdges
            ? `Deleted ${removedEdges} connection(s)${notes ? ` and${notes}` : ""}.`
            : `Deleted${notes}.`,
      );
    },
  }));
}

/** The definition the graph stands for, as a save would send it. */
export function definitionOf(s: Pick<EditorState, "graph" | "base">): Definition {
  return toDefinition(s.graph, s.base);
}

/** Whether the graph differs from the saved workflow (never for a reader, who cannot save). */
export function isDirty(s: EditorState, canEdit: boolean): boolean {
  return s.loaded && canEdit && JSON.stringify(definitionOf(s)) !== s.savedJson;
}
