// The workflow canvas: loads the workflow and the node catalogue into the editor's store (store.ts: the graph of
// React Flow nodes and edges, each node holding its whole definition node, with undo/redo), and wires the palette,
// the side panel, the toolbar and the dialogs to it and to the API.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  applyEdgeChanges,
  applyNodeChanges,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type FinalConnectionState,
  type NodeChange,
} from "@xyflow/react";
import { useStore } from "zustand";
import { ApiError, errorMessage, type Api } from "./api";
import { CanvasContext, nodeTypes, type CanvasInfo } from "./canvasNode";
import {
  connectionProblem,
  defaultConfig,
  drawnPorts,
  estimatedSize,
  freeSpot,
  isTrigger,
  makeEdge,
  newNodeId,
  newNoteId,
  noteNode,
  portOfHandle,
  NOTE_PREFIX,
  NOTE_SIZE,
  type NoteNode,
  type CmEdge,
  type CmNode,
} from "./definition";
import { KindBadge, runLabel, TestRunDialog, VersionsDialog, WebhookDialog } from "./dialogs";
import { copySelection, parseFragment, pasteFragment } from "./clipboard";
import { TIDY_UP, type Flags } from "./flags";
import { hintsFor } from "./hints";
import { useNarrow, useTheme } from "./hooks";
import { NoteContext, StickyNote, type NoteActions } from "./notes";
import { Palette } from "./palette";
import { dropText, ExprPreview, nodeInput, NodeView, useNodeData } from "./nodeview";
import { Panel } from "./panel";
import { NodePicker } from "./picker";
import { ShortcutSheet } from "./shortcuts";
import { SharingDrawer } from "./sharing";
import type { CredentialActions } from "./credentials";
import { fieldLabel, normalizeField } from "./schema";
import { FINAL_STATUSES, followExecution, latestRuns, nodeStatuses, runOutputs } from "./testRun";
import { createEditorStore, definitionOf, isDirty, type RunState } from "./store";
import { Toolbar } from "./toolbar";
import type { DefNode, ExpressionKind, FieldProblem, Workflow } from "./types";

// Fitting the view leaves the bottom clear for the minimap, which would otherwise cover the nodes in that corner.
const fitViewOptions = {
  padding: { top: "32px", left: "32px", right: "32px", bottom: "170px" },
  maxZoom: 1.2,
} as const;

export interface EditorProps {
  api: Api;
  workflowId: string;
  canEdit: boolean;
  canRun: boolean;
  /** Whether the viewer may create integrations ("Create new…" in a credential picker). */
  canCreateCredentials: boolean;
  /** The canvas's feature flags, as the page passed them. */
  flags: Flags;
  /** An execution whose node data to show at start ("debug in editor"); else the last test run's is shown. */
  debugExecution?: string;
}

export function Editor(props: EditorProps) {
  return (
    <ReactFlowProvider>
      <EditorInner {...props} />
    </ReactFlowProvider>
  );
}

/** Tells the page around the island (its HTMX parts listen for it) that the stored workflow changed. */
function announceSaved() {
  document.body.dispatchEvent(new CustomEvent("workflow-saved", { bubbles: true }));
}
/**
 * Pans (never zooms) so that node id lies inside the canvas's free area: the canvas's box, less what a panel over
 * it (the bottom sheet on a phone) covers, with a margin.
 */
function revealNode(rf: ReturnType<typeof useReactFlow<CmNode, CmEdge>>, canvas: HTMLElement | null, id: string) {
  const el = canvas?.querySelector<HTMLElement>(`.react-flow__node[data-id="${CSS.escape(id)}"]`);
  if (!canvas || !el) return;
  const free = canvas.getBoundingClientRect();
  let bottom = free.bottom;
  const sheet = canvas.parentElement?.querySelector<HTMLElement>(".cm-panel");
  if (sheet && getComputedStyle(sheet).position === "absolute") bottom = Math.min(bottom, sheet.getBoundingClientRect().top);
  const box = el.getBoundingClientRect();
  const m = 24;
  let dx = 0;
  let dy = 0;
  if (box.right > free.right - m) dx = free.right - m - box.right;
  if (box.left + dx < free.left + m) dx = free.left + m - box.left;
  if (box.bottom > bottom - m) dy = bottom - m - box.bottom;
  if (box.top + dy < free.top + m) dy = free.top + m - box.top;
  if (dx === 0 && dy === 0) return;
  const vp = rf.getViewport();
  void rf.setViewport({ x: vp.x + dx, y: vp.y + dy, zoom: vp.zoom }, { duration: 200 });
}

/** The canvas's kinds of node: workflow nodes and sticky notes. */
const flowNodeTypes = { ...nodeTypes, note: StickyNote };
type FlowNode = CmNode | NoteNode;

/** Roughly half a node's size, so that a dropped node lands centred under the pointer. */
const NODE_HALF = { x: 95, y: 28 };

function EditorInner({ api, workflowId, canEdit, canRun, canCreateCredentials, flags, debugExecution }: EditorProps) {
  const rf = useReactFlow<CmNode, CmEdge>();
  const theme = useTheme();
  const rootRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLDivElement>(null);
  const narrow = useNarrow(rootRef);

  // Every piece of state lives in the store (store.ts); the component draws it and wires the server actions.
  const [store] = useState(createEditorStore);
  const {
    types,
    typeIndex,
    loadError,
    loaded,
    meta,
    graph,
    base,
    savedJson,
    canUndo,
    canRedo,
    problems,
    showRequired,
    message,
    conflict,
    busy,
    dialog,
    paletteOpen,
    sheetFor,
    focus,
    integrations,
    forms,
    webhookAllowed,
    run,
  } = useStore(store);
  const { say, update, undo, redo, selectNode, changeNode, dragStarted, dragStopped } = store.getState();
  const stopRun = useRef<(() => void) | null>(null);

  const dirtyNow = useCallback(() => isDirty(store.getState(), canEdit), [store, canEdit]);
  const nodeData = useNodeData(api, workflowId, debugExecution, (id, execution) =>
    store.setState((s) => (s.run ? {} : { run: { id, execution, live: false } })),
  );

  const applyWorkflow = useCallback(
    (wf: Workflow, fit: boolean) => {
      store.getState().applyWorkflow(wf);
      if (fit) window.setTimeout(() => void rf.fitView({ ...fitViewOptions, duration: 200 }), 60);
    },
    [rf, store],
  );

  // Load the catalogue and the workflow; integrations and forms (for selects) in the background. Once per workflow:
  // this effect must not depend on rf, whose identity changes when React Flow's viewport is ready (after this load
  // renders it); a second load then would replace whatever was edited in between.
  useEffect(() => {
    let cancelled = false;
    Promise.all([api.nodeTypes(), api.workflow(workflowId)]).then(
      ([ts, wf]) => {
        if (cancelled) return;
        store.getState().setTypes(ts);
        store.getState().applyWorkflow(wf);
        store.setState({ loaded: true });
      },
      (e) => !cancelled && store.setState({ loadError: errorMessage(e) }),
    );
    api.integrations().then(
      (x) => !cancelled && store.setState({ integrations: x }),
      () => !cancelled && store.setState({ integrations: [] }),
    );
    api.forms().then(
      (x) => !cancelled && store.setState({ forms: x }),
      () => !cancelled && store.setState({ forms: [] }),
    );
    return () => {
      cancelled = true;
    };
  }, [api, workflowId, store]);

  // The first view is fitted once React Flow's viewport is ready, which is after the load above renders it, and
  // its nodes are measured. The canvas says when that fit is over (data-view-fitted), for whoever needs a still view.
  const fittingFirstView = useRef(false);
  const [viewFitted, setViewFitted] = useState(false);
  useEffect(() => {
    if (!loaded || !rf.viewportInitialized || fittingFirstView.current) return;
    fittingFirstView.current = true;
    window.setTimeout(() => void rf.fitView({ ...fitViewOptions, duration: 200 }).finally(() => setViewFitted(true)), 60);
  }, [loaded, rf]);

  useEffect(() => () => stopRun.current?.(), []);

  // The sharing drawer is offered only to those the API says may change the grants.
  const [canShare, setCanShare] = useState(false);
  const [sharingOpen, setSharingOpen] = useState(false);
  useEffect(() => {
    let cancelled = false;
    api.sharing(workflowId).then(
      (sh) => !cancelled && setCanShare(sh.can_share),
      () => !cancelled && setCanShare(false),
    );
    return () => {
      cancelled = true;
    };
  }, [api, workflowId]);

  // "Create new…" in a credential picker: the new integration joins the pickers' choices at once. Offered (enabled)
  // only to those who may create integrations.
  const credentials = useMemo<CredentialActions>(
    () => ({
      canCreate: canCreateCredentials,
      kinds: () => api.integrationKinds(),
      create: async (input) => {
        const created = await api.createIntegration(input);
        store.setState((s) => ({ integrations: [...(s.integrations ?? []), created] }));
        say(`Created the credentials “${created.name}” and chose them.`, "ok");
        return created;
      },
    }),
    [api, store, say, canCreateCredentials],
  );

  const definition = useMemo(() => definitionOf({ graph, base }), [graph, base]);
  const dirty = loaded && canEdit && JSON.stringify(definition) !== savedJson;

  // Leaving with unsaved changes asks first.
  useEffect(() => {
    if (!dirty) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = "";
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [dirty]);

  const triggerNode = graph.nodes.find((n) => isTrigger(n.data.def, typeIndex));
  const selectedNodes = graph.nodes.filter((n) => n.selected);
  const selectedNode = selectedNodes.length === 1 ? selectedNodes[0] : null;
  const hasSelection = selectedNodes.length > 0 || graph.edges.some((e) => e.selected) || graph.notes.some((n) => n.selected);
  // Notes first, so that nodes draw over them.
  const flowNodes = useMemo<FlowNode[]>(() => [...graph.notes, ...graph.nodes], [graph.notes, graph.nodes]);

  // ---- graph editing ----

  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      // Removal goes through deleteSelection (React Flow's delete key is off) so that it is one undo step.
      const allowed = changes.filter(
        (c) => c.type !== "remove" && c.type !== "add" && c.type !== "replace" && (canEdit || (c.type !== "position" && !(c.type === "dimensions" && c.resizing))),
      );
      const isNote = (c: NodeChange<FlowNode>) => "id" in c && c.id.startsWith(NOTE_PREFIX);
      const forNotes = allowed.filter(isNote) as NodeChange<NoteNode>[];
      const forNodes = allowed.filter((c) => !isNote(c)) as NodeChange<CmNode>[];
      if (allowed.length)
        update(
          (g) => ({
            ...g,
            nodes: forNodes.length ? applyNodeChanges(forNodes, g.nodes) : g.nodes,
            notes: forNotes.length ? applyNodeChanges(forNotes, g.notes) : g.notes,
          }),
          false,
        );
    },
    [canEdit, update],
  );
  const onEdgesChange = useCallback(
    (changes: EdgeChange<CmEdge>[]) => {
      const allowed = changes.filter((c) => c.type === "select");
      if (allowed.length) update((g) => ({ ...g, edges: applyEdgeChanges(allowed, g.edges) }), false);
    },
    [update],
  );

  const portFor = useCallback(
    (source: string, handle: string | null | undefined) => {
      const { graph, typeIndex } = store.getState();
      const src = graph.nodes.find((n) => n.id === source);
      return src ? portOfHandle(handle, src.data.def, typeIndex.get(src.data.def.type)) : "";
    },
    [store],
  );
  const isValidConnection = useCallback(
    (c: Connection | CmEdge) => {
      const { graph, typeIndex } = store.getState();
      return !!c.source && !!c.target && connectionProblem(graph, typeIndex, c.source, portFor(c.source, c.sourceHandle), c.target) === null;
    },
    [store, portFor],
  );
  const onConnect = useCallback(
    (c: Connection) => {
      const { graph, typeIndex } = store.getState();
      const port = portFor(c.source, c.sourceHandle);
      const problem = connectionProblem(graph, typeIndex, c.source, port, c.target);
      if (problem) return say(problem, "error");
      update((g) => ({ ...g, edges: [...g.edges, makeEdge(c.source, port, c.target)] }));
    },
    [store, portFor, update, say],
  );
  // Say why a connection was refused when it was dropped on a trigger or on its own node.
  const onConnectEnd = useCallback(
    (_e: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      if (state.isValid || !state.fromNode || !state.toNode) return;
      const { graph, typeIndex } = store.getState();
      const port = state.fromHandle?.type === "source" ? portFor(state.fromNode.id, state.fromHandle.id) : "";
      const [from, to] = state.fromHandle?.type === "target" ? [state.toNode.id, state.fromNode.id] : [state.fromNode.id, state.toNode.id];
      const problem = connectionProblem(graph, typeIndex, from, port, to);
      if (problem) say(problem, "error");
    },
    [store, portFor, say],
  );

  const deleteSelection = useCallback(() => {
    if (canEdit) store.getState().deleteSelection();
  }, [canEdit, store]);

  // Puts a new node of a type on the canvas, selected with its panel open; connected after a port when `after` says so.
  const insertNode = useCallback(
    (typeName: string, position: { x: number; y: number }, after?: { from: string; port: string }) => {
      const { typeIndex, graph: g } = store.getState();
      const t = typeIndex.get(typeName);
      if (!t) return;
      const trigger = t.category === "trigger";
      if (trigger) {
        const existing = g.nodes.find((n) => isTrigger(n.data.def, typeIndex));
        if (existing) {
          say(`A workflow has exactly one trigger, and this one has “${existing.id}”. Delete it first to use ${t.title} instead.`, "error");
          return;
        }
      }
      const id = newNodeId(typeName, trigger, g.nodes.map((n) => n.id));
      position = { x: Math.round(position.x), y: Math.round(position.y) };
      const def: DefNode = { id, type: typeName, position, config: defaultConfig(t.config_schema) };
      const node: CmNode = { id, type: "cm", position, selected: true, data: { def } };
      update((cur) => ({
        notes: cur.notes.map((n) => (n.selected ? { ...n, selected: false } : n)),
        nodes: [...cur.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node],
        edges: [...cur.edges.map((e) => (e.selected ? { ...e, selected: false } : e)), ...(after ? [makeEdge(after.from, after.port, id)] : [])],
      }));
      say(after ? `Added ${t.title} as “${id}” after “${after.from}”.` : `Added ${t.title} as “${id}”.`);
      if (narrow) store.setState({ paletteOpen: false, sheetFor: id });
    },
    [store, update, say, narrow],
  );

  const addNode = useCallback(
    (typeName: string, at?: { x: number; y: number }) => {
      if (!canEdit) return;
      const t = store.getState().typeIndex.get(typeName);
      if (!t) return;
      let position: { x: number; y: number };
      if (at) {
        // A drop counts only over this canvas (not the palette or the panel in front of it).
        const hit = document.elementFromPoint(at.x, at.y);
        if (!hit || !canvasRef.current?.contains(hit)) return;
        const p = rf.screenToFlowPosition(at);
        position = { x: p.x - NODE_HALF.x, y: p.y - NODE_HALF.y };
      } else {
        // Added by Enter or a click: mid-view, moved down to the first spot free of other nodes.
        const r = canvasRef.current?.getBoundingClientRect();
        const p = r ? rf.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 }) : { x: 0, y: 0 };
        const size = estimatedSize({ id: "", type: typeName, config: {} }, t);
        position = freeSpot(store.getState().graph.nodes, { x: p.x - NODE_HALF.x, y: p.y - NODE_HALF.y }, size);
      }
      insertNode(typeName, position, undefined);
    },
    [canEdit, store, rf, insertNode],
  );

  // The "+" of an output port: the picker it opens adds a node to the right of the port's node, free of others.
  const [picker, setPicker] = useState<{ from: string; port: string } | null>(null);
  const [shortcutsOpen, setShortcutsOpen] = useState(false);
  const addAfter = useCallback(
    (typeName: string) => {
      const from = picker;
      setPicker(null);
      const { graph: g, typeIndex } = store.getState();
      const src = g.nodes.find((n) => n.id === from?.from);
      const t = typeIndex.get(typeName);
      if (!from || !src || !t) return;
      const size = estimatedSize({ id: "", type: typeName, config: {} }, t);
      const want = { x: src.position.x + (src.measured?.width ?? NODE_HALF.x * 2) + 90, y: src.position.y };
      // Selected, its panel opens, which pans it into view.
      insertNode(typeName, freeSpot(g.nodes, want, size), from);
    },
    [picker, store, insertNode],
  );
  const openPicker = useCallback((from: string, port: string) => setPicker({ from, port }), []);

  // A sticky note mid-view, on a spot free of nodes and notes, selected with its text ready for typing.
  const addNote = useCallback(() => {
    if (!canEdit) return;
    const { graph: g } = store.getState();
    const r = canvasRef.current?.getBoundingClientRect();
    const p = r ? rf.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 3 }) : { x: 0, y: 0 };
    const position = freeSpot([...g.nodes, ...g.notes.map((n) => ({ position: n.position, measured: { width: n.width, height: n.height } }))], { x: p.x - NOTE_SIZE.width / 2, y: p.y - NOTE_SIZE.height / 2 }, NOTE_SIZE);
    const id = newNoteId(g.notes.map((n) => n.data.note.id));
    const note = { ...noteNode({ id, text: "", position, size: NOTE_SIZE }), selected: true };
    update((cur) => ({
      nodes: cur.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)),
      edges: cur.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
      notes: [...cur.notes.map((n) => (n.selected ? { ...n, selected: false } : n)), note],
    }));
    say(`Added a note (${id}): type its text.`);
    // A free spot may lie below the view: pan it in.
    window.requestAnimationFrame(() => revealNode(rf, canvasRef.current, NOTE_PREFIX + id));
  }, [canEdit, store, rf, update, say]);

  const noteActions = useMemo<NoteActions>(
    () => ({
      canEdit,
      onChange: (canvasId, patch) =>
        update(
          (g) => ({ ...g, notes: g.notes.map((n) => (n.id === canvasId ? { ...n, data: { note: { ...n.data.note, ...patch } } } : n)) }),
          `${canvasId}:${Object.keys(patch).join(",")}`,
        ),
      onResizeStart: dragStarted,
      onResizeEnd: dragStopped,
    }),
    [canEdit, update, dragStarted, dragStopped],
  );

  const fit = useCallback(() => void rf.fitView({ ...fitViewOptions, duration: 200 }), [rf]);

  // Tidy up lays every node out in layers (one undo step); the layout library loads on first use.
  const canTidy = canEdit && !!flags[TIDY_UP];
  const tidyUp = useCallback(async () => {
    if (!canTidy || store.getState().graph.nodes.length === 0) return;
    let tidyPositions: typeof import("./layout").tidyPositions;
    try {
      ({ tidyPositions } = await import("./layout"));
    } catch (e) {
      say(`Could not tidy up: ${errorMessage(e)}`, "error");
      return;
    }
    const at = tidyPositions(store.getState().graph);
    update((g) => ({
      ...g,
      nodes: g.nodes.map((n) => {
        const p = at.get(n.id);
        return p && (p.x !== n.position.x || p.y !== n.position.y) ? { ...n, position: p } : n;
      }),
    }));
    say("Tidied up: the nodes are laid out left to right in the order they run.", "ok");
    window.requestAnimationFrame(() => fit());
  }, [canTidy, store, update, say, fit]);

  // ---- server actions ----

  const showProblems = useCallback(
    (e: ApiError, what: string) => {
      const errs = e.problem.errors ?? [];
      store.setState({ problems: errs, showRequired: true });
      say(`${what}: ${errs.length ? `${errs.length} ${errs.length === 1 ? "problem" : "problems"} — ` : ""}${e.message}`, "error");
    },
    [store, say],
  );

  const save = useCallback(async (): Promise<boolean> => {
    if (!canEdit) return false;
    const def = definitionOf(store.getState());
    store.setState({ busy: "save" });
    say("Saving…");
    try {
      const wf = await api.save(workflowId, def, store.getState().meta.version);
      store.setState({
        meta: { version: wf.version, active: wf.active, name: wf.name },
        savedJson: JSON.stringify(def),
        problems: [],
        showRequired: false,
        conflict: false,
      });
      say(`Saved as version ${wf.version}.`, "ok");
      announceSaved();
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        store.setState({ conflict: true });
        say(`Not saved: ${e.message}`, "error");
      } else if (e instanceof ApiError && e.status === 422) showProblems(e, "Not saved");
      else say(`Not saved: ${errorMessage(e)}`, "error");
      return false;
    } finally {
      store.setState({ busy: null });
    }
  }, [api, canEdit, workflowId, store, say, showProblems]);

  const reload = useCallback(async () => {
    if (dirtyNow() && !window.confirm("Reload the saved workflow? Your unsaved changes will be lost.")) return;
    try {
      applyWorkflow(await api.workflow(workflowId), true);
      say("Reloaded the saved workflow.", "ok");
    } catch (e) {
      say(`Could not reload: ${errorMessage(e)}`, "error");
    }
  }, [api, workflowId, dirtyNow, applyWorkflow, say]);

  // The page's own buttons under the canvas (activate, restore) announce "workflow-changed" (an HX-Trigger): a clean
  // canvas takes the new head; one with unsaved changes keeps them and takes only the active state, so that its next
  // save meets the usual conflict and offers a reload.
  useEffect(() => {
    const onChanged = async () => {
      try {
        const wf = await api.workflow(workflowId);
        if (dirtyNow()) store.setState((s) => ({ meta: { ...s.meta, active: wf.active } }));
        else applyWorkflow(wf, false);
      } catch (e) {
        say(`Could not refresh: ${errorMessage(e)}`, "error");
      }
    };
    document.body.addEventListener("workflow-changed", onChanged);
    return () => document.body.removeEventListener("workflow-changed", onChanged);
  }, [api, workflowId, dirtyNow, applyWorkflow, store, say]);

  const validate = useCallback(async () => {
    store.setState({ busy: "validate" });
    say("Validating…");
    try {
      await api.validate(definitionOf(store.getState()));
      store.setState({ problems: [] });
      say("The workflow is valid.", "ok");
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) showProblems(e, "Not valid");
      else say(`Could not validate: ${errorMessage(e)}`, "error");
    } finally {
      store.setState({ busy: null });
    }
  }, [api, store, say, showProblems]);

  const toggleActive = useCallback(async () => {
    const activate = !store.getState().meta.active;
    if (activate && dirtyNow()) {
      say("Save your changes first: activating switches on the saved version.", "error");
      return;
    }
    store.setState({ busy: "activate" });
    try {
      const wf = await api.setActive(workflowId, activate);
      store.setState((s) => ({ meta: { ...s.meta, active: wf.active, version: wf.version ?? s.meta.version } }));
      announceSaved();
      say(wf.active ? "The workflow is active: its trigger now starts runs." : "The workflow is inactive.", "ok");
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) showProblems(e, activate ? "Not activated" : "Not deactivated");
      else say(`${activate ? "Not activated" : "Not deactivated"}: ${errorMessage(e)}`, "error");
    } finally {
      store.setState({ busy: null });
    }
  }, [api, workflowId, store, dirtyNow, say, showProblems]);

  const restore = useCallback(
    async (n: number) => {
      const wf = await api.restore(workflowId, n);
      applyWorkflow(wf, true);
      store.setState({ dialog: null });
      say(`Restored version ${n} as version ${wf.version}.`, "ok");
      announceSaved();
    },
    [api, workflowId, applyWorkflow, store, say],
  );

  const follow = useCallback(
    (id: string) => {
      stopRun.current?.();
      store.setState({ run: { id, execution: null, live: true } });
      const onRun = (change: (r: RunState) => RunState) =>
        store.setState((s) => ({ run: s.run && s.run.id === id ? change(s.run) : s.run }));
      stopRun.current = followExecution(
        api,
        id,
        (ex) => onRun((r) => ({ ...r, execution: ex })),
        (status) => {
          onRun((r) => ({ ...r, live: false }));
          say(`Test run ${status || "finished"}.`, status === "succeeded" ? "ok" : status === "failed" ? "error" : "info");
        },
        (msg) => say(msg, "error"),
      );
    },
    [api, store, say],
  );

  const startTestRun = useCallback(
    async (sample: unknown): Promise<string | null> => {
      if (dirtyNow()) {
        say("Saving your changes first: a test run uses the saved version…");
        if (!(await save())) return "The changes could not be saved, so nothing ran: see the problems.";
      }
      try {
        const { execution_id } = await api.run(workflowId, sample);
        store.setState({ dialog: null });
        follow(execution_id);
        say("Test run started.");
        return null;
      } catch (e) {
        if (e instanceof ApiError && e.status === 422) showProblems(e, "Not run");
        return errorMessage(e);
      }
    },
    [api, workflowId, store, dirtyNow, save, follow, say, showProblems],
  );

  const clearRun = useCallback(() => {
    stopRun.current?.();
    stopRun.current = null;
    store.setState({ run: null });
  }, [store]);

  const goToProblem = useCallback(
    (p: FieldProblem) => {
      if (!p.node_id || !store.getState().graph.nodes.some((n) => n.id === p.node_id)) {
        say(p.message, "error");
        return;
      }
      selectNode(p.node_id);
      store.setState((s) => ({ focus: { nodeId: p.node_id!, field: normalizeField(p.field), seq: (s.focus?.seq ?? 0) + 1 } }));
      void rf.fitView({ nodes: [{ id: p.node_id }], maxZoom: 1.2, duration: 200 });
    },
    [rf, store, selectNode, say],
  );

  // ---- clipboard: the selected nodes travel as definition JSON, so they paste into another workflow too ----

  const paste = useCallback(
    (text: string) => {
      const fragment = parseFragment(text);
      if (!fragment) return false;
      const { graph: g, typeIndex } = store.getState();
      const out = pasteFragment(g, fragment, typeIndex);
      if (out.ids.length === 0 && out.notes === 0) {
        say("Nothing pasted: the workflow already has its trigger.", "error");
        return true;
      }
      update(() => out.graph);
      say(`Pasted ${out.ids.length} node(s)${out.ids.length ? `: ${out.ids.join(", ")}` : ""}${out.notes ? ` and ${out.notes} note(s)` : ""}${out.skippedTriggers ? " (the trigger left out: this workflow has one)" : ""}.`, "ok");
      window.requestAnimationFrame(() => void rf.fitView({ ...fitViewOptions, duration: 200 }));
      return true;
    },
    [store, update, say, rf],
  );

  useEffect(() => {
    // Only when the canvas has the focus (or nothing has): copying text from a field or the page stays as it was.
    const ours = (t: EventTarget | null) => {
      const el = t as HTMLElement | null;
      if (el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) || el.closest?.("dialog"))) return false;
      return !el || el === document.body || !!rootRef.current?.contains(el);
    };
    const onCopy = (e: ClipboardEvent) => {
      if (!ours(e.target) || !e.clipboardData) return;
      const text = copySelection(store.getState().graph);
      if (!text) return;
      e.preventDefault();
      e.clipboardData.setData("text/plain", text);
      const { nodes: ns, notes } = store.getState().graph;
      const n = ns.filter((x) => x.selected).length;
      const k = notes.filter((x) => x.selected).length;
      say(`Copied ${n} node(s)${k ? ` and ${k} note(s)` : ""}: paste them here or into another workflow.`, "ok");
    };
    const onPaste = (e: ClipboardEvent) => {
      if (!canEdit || !ours(e.target) || !e.clipboardData) return;
      if (paste(e.clipboardData.getData("text/plain"))) e.preventDefault();
    };
    document.addEventListener("copy", onCopy);
    document.addEventListener("paste", onPaste);
    return () => {
      document.removeEventListener("copy", onCopy);
      document.removeEventListener("paste", onPaste);
    };
  }, [store, canEdit, paste, say]);

  const duplicate = useCallback(() => {
    const text = copySelection(store.getState().graph);
    if (canEdit && text) paste(text);
  }, [store, canEdit, paste]);

  const describeProblem = useCallback(
    (p: FieldProblem) => {
      const { graph: g, typeIndex: types } = store.getState();
      const n = p.node_id ? g.nodes.find((x) => x.id === p.node_id) : undefined;
      const t = n ? types.get(n.data.def.type) : undefined;
      const node = n ? `${n.data.def.name || t?.title || n.data.def.type}${n.data.def.name || !t ? "" : ` (${n.id})`}` : (p.node_id ?? "");
      return { node, field: fieldLabel(p.field, t?.config_schema) };
    },
    [store],
  );

  // ---- keyboard ----

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const typing = !!t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
      const inDialog = !!t?.closest?.("dialog");
      const ours = !t || t === document.body || !!rootRef.current?.contains(t);
      const k = e.key.toLowerCase();
      const cmd = e.ctrlKey || e.metaKey;
      if (cmd && k === "s" && canEdit) {
        e.preventDefault();
        if (dirtyNow()) void save();
        return;
      }
      if (ours && !typing && !inDialog && e.key === "?") {
        e.preventDefault();
        setShortcutsOpen(true);
        return;
      }
      if (!ours || typing || inDialog || !canEdit) return;
      if (cmd && ((k === "z" && e.shiftKey) || k === "y")) {
        e.preventDefault();
        redo();
      } else if (cmd && k === "z") {
        e.preventDefault();
        undo();
      } else if ((e.key === "Delete" || e.key === "Backspace") && !cmd) {
        e.preventDefault();
        deleteSelection();
      } else if (cmd && k === "d") {
        e.preventDefault();
        duplicate();
      } else if (k === "n" && !e.shiftKey && !cmd && !e.altKey) {
        e.preventDefault();
        addNote();
      } else if (k === "t" && e.shiftKey && !cmd && !e.altKey && canTidy) {
        e.preventDefault();
        void tidyUp();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [canEdit, dirtyNow, save, undo, redo, deleteSelection, canTidy, tidyUp, duplicate, addNote]);

  // ---- derived view state ----

  const statuses = useMemo(() => (run ? nodeStatuses(run.execution) : null), [run]);
  const runs = useMemo(() => latestRuns(run?.execution ?? null), [run]);
  const invalid = useMemo(() => new Set(problems.map((p) => p.node_id).filter((x): x is string => !!x)), [problems]);
  const pinned = useMemo(() => new Map(Object.entries(nodeData.pins).map(([id, p]) => [id, p.port])), [nodeData.pins]);
  const canvasInfo = useMemo<CanvasInfo>(
    () => ({ types: typeIndex, statuses, invalid, pinned, onAddAfter: canEdit ? openPicker : undefined }),
    [typeIndex, statuses, invalid, pinned, canEdit, openPicker],
  );

  const hints = useCallback(
    (kind: ExpressionKind) =>
      selectedNode
        ? hintsFor(selectedNode.id, definition, kind, run?.execution ? { trigger: run.execution.trigger, outputs: runOutputs(run.execution) } : undefined)
        : [],
    [selectedNode, definition, run],
  );

  const showPanel = !!selectedNode && (!narrow || sheetFor === selectedNode.id);

  // The panel docks beside the canvas (a sheet over its bottom on a phone): once it is laid out, pan the selected
  // node into the part of the canvas it leaves free, so that the panel never covers the node it edits.
  const panelFor = showPanel ? selectedNode.id : null;
  useEffect(() => {
    if (!panelFor) return;
    const frame = window.requestAnimationFrame(() => revealNode(rf, canvasRef.current, panelFor));
    return () => window.cancelAnimationFrame(frame);
  }, [rf, panelFor, narrow]);
  // The config panel of a node, docked or as the node view's middle column.
  const selectedInput = selectedNode
    ? nodeInput(selectedNode.id, definition.edges, runs.get(selectedNode.id)?.input, nodeData.pins)
    : undefined;
  const formHooks = {
    exprDrop: dropText,
    exprPreview: (source: string, kind: ExpressionKind) => (
      <ExprPreview api={api} workflowId={workflowId} source={source} kind={kind} input={selectedInput} trigger={run?.execution?.trigger ?? null} />
    ),
  };
  const panelOf = (n: NonNullable<typeof selectedNode>) => (
    <Panel
      key={n.id}
      formHooks={formHooks}
      headExtra={
        nodeData.open ? null : (
          <button type="button" className="cm-btn cm-btn-small" data-action="open-nodeview" onClick={() => nodeData.setOpen(true)}>
            Input · Output
          </button>
        )
      }
      node={n}
      types={typeIndex}
      readOnly={!canEdit}
      problems={problems.filter((p) => p.node_id === n.id)}
      showRequired={showRequired}
      integrations={integrations}
      forms={forms}
      credentials={credentials}
      hints={hints}
      run={runs.get(n.id)}
      executionId={run?.id ?? null}
      testRun={!run?.execution || run.execution.kind === "test"}
      focus={focus}
      onChange={(def, field) => changeNode(n.id, def, field)}
      onDelete={deleteSelection}
      onClose={() => {
        nodeData.setOpen(false);
        if (narrow) store.setState({ sheetFor: null });
        else selectNode("");
      }}
    />
  );
  const showPalette = canEdit && paletteOpen;

  if (loadError) {
    return (
      <div className="cm-editor cm-editor-error" role="alert">
        <p>The workflow could not be loaded: {loadError}</p>
      </div>
    );
  }
  if (!loaded) {
    return (
      <div className="cm-editor cm-editor-loading" aria-busy="true">
        <p className="cm-muted">Loading the workflow…</p>
      </div>
    );
  }

  return (
    <div
      ref={rootRef}
      className={`cm-editor${narrow ? " cm-narrow" : ""}${canEdit ? "" : " cm-readonly"}`}
      data-theme-mode={theme}
      onKeyDown={(e) => {
        // Escape closes what floats over the canvas (not while a dialog or a dropdown has it).
        if (e.key !== "Escape" || (e.target as HTMLElement).closest("dialog, select")) return;
        if (showPanel) {
          if (narrow) store.setState({ sheetFor: null });
          else selectNode("");
        } else if (narrow && paletteOpen) store.setState({ paletteOpen: false });
      }}
    >
      <Toolbar
        narrow={narrow}
        canEdit={canEdit}
        canRun={canRun}
        dirty={dirty}
        busy={busy}
        version={meta.version}
        active={meta.active}
        canUndo={canUndo}
        canRedo={canRedo}
        hasSelection={hasSelection}
        showWebhook={canEdit && webhookAllowed && triggerNode?.data.def.type === "trigger.webhook"}
        paletteOpen={showPalette}
        problems={problems}
        onTogglePalette={() => store.setState((s) => ({ paletteOpen: !s.paletteOpen }))}
        onSave={() => void save()}
        onValidate={() => void validate()}
        onToggleActive={() => void toggleActive()}
        onTestRun={() => store.setState({ dialog: "test" })}
        onVersions={() => store.setState({ dialog: "versions" })}
        onWebhook={() => store.setState({ dialog: "webhook" })}
        onSharing={canShare ? () => setSharingOpen((o) => !o) : undefined}
        sharingOpen={sharingOpen}
        onUndo={undo}
        onRedo={redo}
        onFit={fit}
        onTidyUp={canTidy ? () => void tidyUp() : undefined}
        onAddNote={canEdit ? addNote : undefined}
        onDelete={deleteSelection}
        onProblem={goToProblem}
        describeProblem={describeProblem}
      />
      <div className="cm-statusbar">
        <p className={`cm-status cm-status-${message.kind}`} data-editor-status role="status" aria-live="polite">
          {message.text}
        </p>
        {conflict && (
          <button type="button" className="cm-btn cm-btn-small" data-action="reload" onClick={() => void reload()}>
            Reload
          </button>
        )}
        {run && (
          <span className="cm-runbar" data-run-status={run.execution?.status ?? "queued"}>
            {run.execution && run.execution.kind !== "test" ? "Run" : "Test run"}
            {run.execution && (
              <>
                {" "}
                <code data-run-number>{runLabel(run.execution)}</code>
                {run.execution.kind !== "test" && (
                  <>
                    {" "}
                    <KindBadge kind={run.execution.kind} />
                  </>
                )}
              </>
            )}
            :{" "}
            <strong>
              {run.execution?.status ?? "queued"}
              {run.live && !FINAL_STATUSES.has(run.execution?.status ?? "") ? "…" : ""}
            </strong>{" "}
            <a href={`/executions/${encodeURIComponent(run.id)}`} data-execution-link>
              View execution
            </a>{" "}
            <button type="button" className="cm-btn cm-btn-small" data-action="clear-run" onClick={clearRun}>
              Clear run
            </button>
          </span>
        )}
      </div>
      <div className="cm-body">
        {showPalette && (
          <Palette types={types} hasTrigger={!!triggerNode} onAdd={addNode} onClose={narrow ? () => store.setState({ paletteOpen: false }) : undefined} />
        )}
        <div className="cm-canvas" ref={canvasRef} data-view-fitted={viewFitted ? "true" : undefined}>
          <CanvasContext.Provider value={canvasInfo}>
           <NoteContext.Provider value={noteActions}>
            <ReactFlow<FlowNode, CmEdge>
              nodes={flowNodes}
              edges={graph.edges}
              nodeTypes={flowNodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd}
              isValidConnection={isValidConnection}
              onNodeDragStart={dragStarted}
              onNodeDragStop={dragStopped}
              onNodeClick={(_e, n) => store.setState({ sheetFor: n.id, focus: null })}
              onNodeDoubleClick={() => nodeData.setOpen(true)}
              onPaneClick={() => store.setState({ sheetFor: null })}
              nodesDraggable={canEdit}
              nodesConnectable={canEdit}
              elementsSelectable
              deleteKeyCode={null}
              colorMode={theme}
              fitView
              fitViewOptions={fitViewOptions}
              minZoom={0.15}
              maxZoom={2}
              connectionRadius={28}
              defaultEdgeOptions={{ interactionWidth: 24 }}
              proOptions={{ hideAttribution: false }}
              aria-label="Workflow canvas"
            >
              <Background gap={20} />
              <Controls showInteractive={false} position="bottom-left" />
              {!narrow && graph.nodes.length > 0 && <MiniMap pannable zoomable position="bottom-right" ariaLabel="Overview of the workflow" />}
            </ReactFlow>
           </NoteContext.Provider>
          </CanvasContext.Provider>
          {graph.nodes.length === 0 && (
            <p className="cm-empty">{canEdit ? "Start with a trigger: drag one from the node list, or select it and press Enter." : "This workflow has no nodes."}</p>
          )}
        </div>
        {sharingOpen && canShare && <SharingDrawer api={api} workflowId={workflowId} onClose={() => setSharingOpen(false)} />}
        {showPanel && selectedNode && !sharingOpen && (nodeData.open ? (
          <NodeView
            key={selectedNode.id}
            api={api}
            workflowId={workflowId}
            nodeId={selectedNode.id}
            canEdit={canEdit}
            narrow={narrow}
            input={selectedInput}
            output={runs.get(selectedNode.id)?.output ?? undefined}
            outputPort={runs.get(selectedNode.id)?.port ?? undefined}
            error={runs.get(selectedNode.id)?.error ?? undefined}
            ports={drawnPorts(selectedNode.data.def, typeIndex.get(selectedNode.data.def.type))}
            pinned={nodeData.pins[selectedNode.id]}
            onPinned={nodeData.onPinned}
            onClose={() => nodeData.setOpen(false)}
            panel={panelOf(selectedNode)}
          />
        ) : (
          panelOf(selectedNode)
        ))}
      </div>
      {shortcutsOpen && <ShortcutSheet tidyUp={canTidy} onClose={() => setShortcutsOpen(false)} />}
      {picker && (
        <NodePicker
          types={types}
          after={picker.port ? `${picker.from} (${picker.port})` : picker.from}
          onPick={addAfter}
          onClose={() => setPicker(null)}
        />
      )}
      {dialog === "test" && (
        <TestRunDialog api={api} workflowId={workflowId} dirty={dirty} onClose={() => store.setState({ dialog: null })} onRun={startTestRun} />
      )}
      {dialog === "versions" && (
        <VersionsDialog
          api={api}
          workflowId={workflowId}
          current={meta.version}
          canRestore={canEdit}
          dirty={dirty}
          onClose={() => store.setState({ dialog: null })}
          onRestore={restore}
        />
      )}
      {dialog === "webhook" && triggerNode && (
        <WebhookDialog
          api={api}
          workflowId={workflowId}
          trigger={triggerNode.data.def}
          onClose={() => store.setState({ dialog: null })}
          onForbidden={() => store.setState({ webhookAllowed: false })}
        />
      )}
    </div>
  );
}
