// The workflow canvas: loads the workflow and the node catalogue, keeps the graph (React Flow nodes and edges, each
// node holding its whole definition node) with undo/redo, and wires the palette, the side panel, the toolbar and
// the dialogs to the API.
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
import { ApiError, errorMessage, type Api } from "./api";
import { CanvasContext, nodeTypes, type CanvasInfo } from "./canvasNode";
import {
  connectionProblem,
  defaultConfig,
  isTrigger,
  makeEdge,
  newNodeId,
  portOfHandle,
  portsOf,
  reattachEdges,
  toDefinition,
  toGraph,
  type CmEdge,
  type CmNode,
  type Graph,
} from "./definition";
import { TestRunDialog, VersionsDialog, WebhookDialog } from "./dialogs";
import { hintsFor } from "./hints";
import { History } from "./history";
import { useNarrow, useTheme } from "./hooks";
import { Palette } from "./palette";
import { Panel } from "./panel";
import { normalizeField } from "./schema";
import { FINAL_STATUSES, followExecution, latestRuns, nodeStatuses, runOutputs } from "./testRun";
import { Toolbar } from "./toolbar";
import type { DefNode, Execution, ExpressionKind, FieldProblem, FormInfo, Integration, NodeType, Workflow } from "./types";

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
}

export function Editor(props: EditorProps) {
  return (
    <ReactFlowProvider>
      <EditorInner {...props} />
    </ReactFlowProvider>
  );
}

type Message = { text: string; kind: "info" | "ok" | "error" };
type DialogName = "test" | "versions" | "webhook" | null;
interface RunState {
  id: string;
  execution: Execution | null;
  live: boolean;
}

const EMPTY: Graph = { nodes: [], edges: [] };

/** Tells the page around the island (its HTMX parts listen for it) that the stored workflow changed. */
function announceSaved() {
  document.body.dispatchEvent(new CustomEvent("workflow-saved", { bubbles: true }));
}
/** Roughly half a node's size, so that a dropped node lands centred under the pointer. */
const NODE_HALF = { x: 95, y: 28 };

function EditorInner({ api, workflowId, canEdit, canRun }: EditorProps) {
  const rf = useReactFlow<CmNode, CmEdge>();
  const theme = useTheme();
  const rootRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLDivElement>(null);
  const narrow = useNarrow(rootRef);

  const [types, setTypes] = useState<NodeType[]>([]);
  const typeIndex = useMemo(() => new Map(types.map((t) => [t.name, t])), [types]);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [meta, setMeta] = useState({ version: 0, active: false, name: "" });
  const metaRef = useRef(meta);
  metaRef.current = meta;

  // The graph lives in state for rendering and in a ref for handlers, which must see the latest graph even when
  // several updates happen before React re-renders.
  const [graph, setGraphState] = useState<Graph>(EMPTY);
  const graphRef = useRef<Graph>(EMPTY);
  const history = useRef(new History<Graph>());
  const [, setHistoryTick] = useState(0);
  const baseRef = useRef<Record<string, unknown>>({});
  const [savedJson, setSavedJson] = useState("");

  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const [showRequired, setShowRequired] = useState(false);
  const [message, setMessage] = useState<Message>({ text: "", kind: "info" });
  const [conflict, setConflict] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [dialog, setDialog] = useState<DialogName>(null);
  const [paletteOpen, setPaletteOpen] = useState(() => window.innerWidth >= 760);
  const [sheetFor, setSheetFor] = useState<string | null>(null);
  const [focus, setFocus] = useState<{ nodeId: string; field: string; seq: number } | null>(null);
  const [integrations, setIntegrations] = useState<Integration[] | null>(null);
  const [forms, setForms] = useState<FormInfo[] | null>(null);
  const [webhookAllowed, setWebhookAllowed] = useState(true);
  const [run, setRun] = useState<RunState | null>(null);
  const stopRun = useRef<(() => void) | null>(null);

  const say = useCallback((text: string, kind: Message["kind"] = "info") => setMessage({ text, kind }), []);

  const setGraph = useCallback((g: Graph) => {
    graphRef.current = g;
    setGraphState(g);
  }, []);

  /**
   * Changes the graph. `history`: true records an undo step, a string records one merged with the previous step
   * of the same key (typing in one field), false records nothing (selection, measuring, a drag in progress).
   */
  const update = useCallback(
    (fn: (g: Graph) => Graph, record: boolean | string = true) => {
      const prev = graphRef.current;
      const next = fn(prev);
      if (next === prev) return;
      if (record !== false) {
        history.current.record(prev, typeof record === "string" ? record : undefined);
        setHistoryTick((t) => t + 1);
      }
      setGraph(next);
    },
    [setGraph],
  );

  const applyWorkflow = useCallback(
    (wf: Workflow, fit: boolean) => {
      const def = wf.definition ?? { nodes: [], edges: [] };
      const { nodes: _n, edges: _e, ...rest } = def;
      void _n;
      void _e;
      baseRef.current = rest;
      const g = toGraph(def);
      setGraph(g);
      history.current.clear();
      setHistoryTick((t) => t + 1);
      setSavedJson(JSON.stringify(toDefinition(g, rest)));
      setMeta({ version: wf.version, active: wf.active, name: wf.name });
      setProblems([]);
      setShowRequired(false);
      setConflict(false);
      if (fit) window.setTimeout(() => void rf.fitView({ ...fitViewOptions, duration: 200 }), 60);
    },
    [rf, setGraph],
  );

  // Load the catalogue and the workflow; integrations and forms (for selects) in the background.
  useEffect(() => {
    let cancelled = false;
    Promise.all([api.nodeTypes(), api.workflow(workflowId)]).then(
      ([ts, wf]) => {
        if (cancelled) return;
        setTypes(ts);
        applyWorkflow(wf, true);
        setLoaded(true);
      },
      (e) => !cancelled && setLoadError(errorMessage(e)),
    );
    api.integrations().then(
      (x) => !cancelled && setIntegrations(x),
      () => !cancelled && setIntegrations([]),
    );
    api.forms().then(
      (x) => !cancelled && setForms(x),
      () => !cancelled && setForms([]),
    );
    return () => {
      cancelled = true;
    };
  }, [api, workflowId, applyWorkflow]);

  useEffect(() => () => stopRun.current?.(), []);

  const definition = useMemo(() => toDefinition(graph, baseRef.current), [graph]);
  const dirty = loaded && canEdit && JSON.stringify(definition) !== savedJson;
  const dirtyRef = useRef(dirty);
  dirtyRef.current = dirty;

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
  const hasSelection = selectedNodes.length > 0 || graph.edges.some((e) => e.selected);

  // ---- graph editing ----

  const onNodesChange = useCallback(
    (changes: NodeChange<CmNode>[]) => {
      // Removal goes through deleteSelection (React Flow's delete key is off) so that it is one undo step.
      const allowed = changes.filter((c) => c.type !== "remove" && c.type !== "add" && c.type !== "replace" && (canEdit || c.type !== "position"));
      if (allowed.length) update((g) => ({ ...g, nodes: applyNodeChanges(allowed, g.nodes) }), false);
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

  // A drag is one undo step: the graph before it is recorded when it ends, if anything moved.
  const dragStart = useRef<Graph | null>(null);
  const onNodeDragStart = useCallback(() => {
    dragStart.current = graphRef.current;
  }, []);
  const onNodeDragStop = useCallback(() => {
    const before = dragStart.current;
    dragStart.current = null;
    if (!before) return;
    const now = new Map(graphRef.current.nodes.map((n) => [n.id, n.position]));
    const moved = before.nodes.some((n) => {
      const p = now.get(n.id);
      return p && (p.x !== n.position.x || p.y !== n.position.y);
    });
    if (moved) {
      history.current.record(before);
      setHistoryTick((t) => t + 1);
    }
  }, []);

  const portFor = useCallback(
    (source: string, handle: string | null | undefined) => {
      const src = graphRef.current.nodes.find((n) => n.id === source);
      return src ? portOfHandle(handle, src.data.def, typeIndex.get(src.data.def.type)) : "";
    },
    [typeIndex],
  );
  const isValidConnection = useCallback(
    (c: Connection | CmEdge) => !!c.source && !!c.target && connectionProblem(graphRef.current, typeIndex, c.source, portFor(c.source, c.sourceHandle), c.target) === null,
    [typeIndex, portFor],
  );
  const onConnect = useCallback(
    (c: Connection) => {
      const port = portFor(c.source, c.sourceHandle);
      const problem = connectionProblem(graphRef.current, typeIndex, c.source, port, c.target);
      if (problem) return say(problem, "error");
      update((g) => ({ ...g, edges: [...g.edges, makeEdge(c.source, port, c.target)] }));
    },
    [portFor, typeIndex, update, say],
  );
  // Say why a connection was refused when it was dropped on a trigger or on its own node.
  const onConnectEnd = useCallback(
    (_e: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      if (state.isValid || !state.fromNode || !state.toNode) return;
      const port = state.fromHandle?.type === "source" ? portFor(state.fromNode.id, state.fromHandle.id) : "";
      const [from, to] = state.fromHandle?.type === "target" ? [state.toNode.id, state.fromNode.id] : [state.fromNode.id, state.toNode.id];
      const problem = connectionProblem(graphRef.current, typeIndex, from, port, to);
      if (problem) say(problem, "error");
    },
    [portFor, typeIndex, say],
  );

  const deleteSelection = useCallback(() => {
    if (!canEdit) return;
    const g = graphRef.current;
    const gone = new Set(g.nodes.filter((n) => n.selected).map((n) => n.id));
    const edges = g.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
    if (gone.size === 0 && edges.length === g.edges.length) return;
    update((cur) => ({ nodes: cur.nodes.filter((n) => !gone.has(n.id)), edges }));
    const removedEdges = g.edges.length - edges.length;
    say(
      gone.size
        ? `Deleted ${[...gone].join(", ")}${removedEdges ? ` and ${removedEdges} connection(s)` : ""}.`
        : `Deleted ${removedEdges} connection(s).`,
    );
  }, [canEdit, update, say]);

  const addNode = useCallback(
    (typeName: string, at?: { x: number; y: number }) => {
      if (!canEdit) return;
      const t = typeIndex.get(typeName);
      if (!t) return;
      let position: { x: number; y: number };
      if (at) {
        // A drop counts only over this canvas (not the palette or the panel in front of it).
        const hit = document.elementFromPoint(at.x, at.y);
        if (!hit || !canvasRef.current?.contains(hit)) return;
        const p = rf.screenToFlowPosition(at);
        position = { x: p.x - NODE_HALF.x, y: p.y - NODE_HALF.y };
      } else {
        const r = canvasRef.current?.getBoundingClientRect();
        const p = r ? rf.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 }) : { x: 0, y: 0 };
        position = { x: p.x - NODE_HALF.x, y: p.y - NODE_HALF.y };
        // Do not drop a node onto another one: move down until the spot is free.
        const taken = (q: { x: number; y: number }) =>
          graphRef.current.nodes.some((n) => Math.abs(n.position.x - q.x) < 200 && Math.abs(n.position.y - q.y) < 80);
        for (let i = 0; i < 30 && taken(position); i++) position = { x: position.x, y: position.y + 90 };
      }
      const g = graphRef.current;
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
        nodes: [...cur.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node],
        edges: cur.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
      }));
      say(`Added ${t.title} as “${id}”.`);
      if (narrow) {
        setPaletteOpen(false);
        setSheetFor(id);
      }
    },
    [canEdit, typeIndex, rf, update, say, narrow],
  );

  const changeNode = useCallback(
    (id: string, next: DefNode, field: string) => {
      update((g) => {
        const node = g.nodes.find((n) => n.id === id);
        if (!node) return g;
        const t = typeIndex.get(node.data.def.type);
        const edges = reattachEdges(g.edges, id, portsOf(node.data.def, t), portsOf(next, t));
        return { nodes: g.nodes.map((n) => (n.id === id ? { ...n, data: { def: next } } : n)), edges };
      }, `${id}:${field}`);
      // The field was edited: its server error no longer applies.
      setProblems((ps) => {
        const left = ps.filter((p) => !(p.node_id === id && (normalizeField(p.field) === field || normalizeField(p.field).startsWith(field + "."))));
        return left.length === ps.length ? ps : left;
      });
    },
    [typeIndex, update],
  );

  const undo = useCallback(() => {
    const prev = history.current.undo(graphRef.current);
    if (prev) {
      setGraph(prev);
      setHistoryTick((t) => t + 1);
    }
  }, [setGraph]);
  const redo = useCallback(() => {
    const next = history.current.redo(graphRef.current);
    if (next) {
      setGraph(next);
      setHistoryTick((t) => t + 1);
    }
  }, [setGraph]);

  const fit = useCallback(() => void rf.fitView({ ...fitViewOptions, duration: 200 }), [rf]);

  const selectNode = useCallback(
    (id: string) => {
      update(
        (g) => ({
          nodes: g.nodes.map((n) => (n.id === id ? (n.selected ? n : { ...n, selected: true }) : n.selected ? { ...n, selected: false } : n)),
          edges: g.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
        }),
        false,
      );
      setSheetFor(id);
    },
    [update],
  );

  // ---- server actions ----

  const showProblems = useCallback(
    (e: ApiError, what: string) => {
      const errs = e.problem.errors ?? [];
      setProblems(errs);
      setShowRequired(true);
      say(`${what}: ${errs.length ? `${errs.length} ${errs.length === 1 ? "problem" : "problems"} — ` : ""}${e.message}`, "error");
    },
    [say],
  );

  const save = useCallback(async (): Promise<boolean> => {
    if (!canEdit) return false;
    const def = toDefinition(graphRef.current, baseRef.current);
    setBusy("save");
    say("Saving…");
    try {
      const wf = await api.save(workflowId, def, metaRef.current.version);
      setMeta({ version: wf.version, active: wf.active, name: wf.name });
      setSavedJson(JSON.stringify(def));
      setProblems([]);
      setShowRequired(false);
      setConflict(false);
      say(`Saved as version ${wf.version}.`, "ok");
      announceSaved();
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        setConflict(true);
        say(`Not saved: ${e.message}`, "error");
      } else if (e instanceof ApiError && e.status === 422) showProblems(e, "Not saved");
      else say(`Not saved: ${errorMessage(e)}`, "error");
      return false;
    } finally {
      setBusy(null);
    }
  }, [api, canEdit, workflowId, say, showProblems]);

  const reload = useCallback(async () => {
    if (dirty && !window.confirm("Reload the saved workflow? Your unsaved changes will be lost.")) return;
    try {
      applyWorkflow(await api.workflow(workflowId), true);
      say("Reloaded the saved workflow.", "ok");
    } catch (e) {
      say(`Could not reload: ${errorMessage(e)}`, "error");
    }
  }, [api, workflowId, dirty, applyWorkflow, say]);

  // The page's own buttons under the canvas (activate, restore) announce "workflow-changed" (an HX-Trigger): a clean
  // canvas takes the new head; one with unsaved changes keeps them and takes only the active state, so that its next
  // save meets the usual conflict and offers a reload.
  useEffect(() => {
    const onChanged = async () => {
      try {
        const wf = await api.workflow(workflowId);
        if (dirtyRef.current) setMeta((m) => ({ ...m, active: wf.active }));
        else applyWorkflow(wf, false);
      } catch (e) {
        say(`Could not refresh: ${errorMessage(e)}`, "error");
      }
    };
    document.body.addEventListener("workflow-changed", onChanged);
    return () => document.body.removeEventListener("workflow-changed", onChanged);
  }, [api, workflowId, applyWorkflow, say]);

  const validate = useCallback(async () => {
    setBusy("validate");
    say("Validating…");
    try {
      await api.validate(toDefinition(graphRef.current, baseRef.current));
      setProblems([]);
      say("The workflow is valid.", "ok");
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) showProblems(e, "Not valid");
      else say(`Could not validate: ${errorMessage(e)}`, "error");
    } finally {
      setBusy(null);
    }
  }, [api, say, showProblems]);

  const toggleActive = useCallback(async () => {
    const activate = !metaRef.current.active;
    if (activate && dirty) {
      say("Save your changes first: activating switches on the saved version.", "error");
      return;
    }
    setBusy("activate");
    try {
      const wf = await api.setActive(workflowId, activate);
      setMeta((m) => ({ ...m, active: wf.active, version: wf.version ?? m.version }));
      announceSaved();
      say(wf.active ? "The workflow is active: its trigger now starts runs." : "The workflow is inactive.", "ok");
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) showProblems(e, activate ? "Not activated" : "Not deactivated");
      else say(`${activate ? "Not activated" : "Not deactivated"}: ${errorMessage(e)}`, "error");
    } finally {
      setBusy(null);
    }
  }, [api, workflowId, dirty, say, showProblems]);

  const restore = useCallback(
    async (n: number) => {
      const wf = await api.restore(workflowId, n);
      applyWorkflow(wf, true);
      setDialog(null);
      say(`Restored version ${n} as version ${wf.version}.`, "ok");
      announceSaved();
    },
    [api, workflowId, applyWorkflow, say],
  );

  const follow = useCallback(
    (id: string) => {
      stopRun.current?.();
      setRun({ id, execution: null, live: true });
      stopRun.current = followExecution(
        api,
        id,
        (ex) => setRun((r) => (r && r.id === id ? { ...r, execution: ex } : r)),
        (status) => {
          setRun((r) => (r && r.id === id ? { ...r, live: false } : r));
          say(`Test run ${status || "finished"}.`, status === "succeeded" ? "ok" : status === "failed" ? "error" : "info");
        },
        (msg) => say(msg, "error"),
      );
    },
    [api, say],
  );

  const startTestRun = useCallback(
    async (sample: unknown): Promise<string | null> => {
      if (dirty) {
        say("Saving your changes first: a test run uses the saved version…");
        if (!(await save())) return "The changes could not be saved, so nothing ran: see the problems.";
      }
      try {
        const { execution_id } = await api.run(workflowId, sample);
        setDialog(null);
        follow(execution_id);
        say("Test run started.");
        return null;
      } catch (e) {
        if (e instanceof ApiError && e.status === 422) showProblems(e, "Not run");
        return errorMessage(e);
      }
    },
    [api, workflowId, dirty, save, follow, say, showProblems],
  );

  const clearRun = useCallback(() => {
    stopRun.current?.();
    stopRun.current = null;
    setRun(null);
  }, []);

  const goToProblem = useCallback(
    (p: FieldProblem) => {
      if (!p.node_id || !graphRef.current.nodes.some((n) => n.id === p.node_id)) {
        say(p.message, "error");
        return;
      }
      selectNode(p.node_id);
      setFocus((f) => ({ nodeId: p.node_id!, field: normalizeField(p.field), seq: (f?.seq ?? 0) + 1 }));
      void rf.fitView({ nodes: [{ id: p.node_id }], maxZoom: 1.2, duration: 200 });
    },
    [rf, selectNode, say],
  );

  // ---- keyboard ----

  const keys = useRef({ save, undo, redo, deleteSelection, dirty });
  keys.current = { save, undo, redo, deleteSelection, dirty };
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
        if (keys.current.dirty) void keys.current.save();
        return;
      }
      if (!ours || typing || inDialog || !canEdit) return;
      if (cmd && ((k === "z" && e.shiftKey) || k === "y")) {
        e.preventDefault();
        keys.current.redo();
      } else if (cmd && k === "z") {
        e.preventDefault();
        keys.current.undo();
      } else if ((e.key === "Delete" || e.key === "Backspace") && !cmd) {
        e.preventDefault();
        keys.current.deleteSelection();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [canEdit]);

  // ---- derived view state ----

  const statuses = useMemo(() => (run ? nodeStatuses(run.execution) : null), [run]);
  const runs = useMemo(() => latestRuns(run?.execution ?? null), [run]);
  const invalid = useMemo(() => new Set(problems.map((p) => p.node_id).filter((x): x is string => !!x)), [problems]);
  const canvasInfo = useMemo<CanvasInfo>(() => ({ types: typeIndex, statuses, invalid }), [typeIndex, statuses, invalid]);

  const hints = useCallback(
    (kind: ExpressionKind) =>
      selectedNode
        ? hintsFor(selectedNode.id, definition, kind, run?.execution ? { trigger: run.execution.trigger, outputs: runOutputs(run.execution) } : undefined)
        : [],
    [selectedNode, definition, run],
  );

  const showPanel = !!selectedNode && (!narrow || sheetFor === selectedNode.id);
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
          if (narrow) setSheetFor(null);
          else selectNode("");
        } else if (narrow && paletteOpen) setPaletteOpen(false);
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
        canUndo={history.current.canUndo}
        canRedo={history.current.canRedo}
        hasSelection={hasSelection}
        showWebhook={canEdit && webhookAllowed && triggerNode?.data.def.type === "trigger.webhook"}
        paletteOpen={showPalette}
        problems={problems}
        onTogglePalette={() => setPaletteOpen((o) => !o)}
        onSave={() => void save()}
        onValidate={() => void validate()}
        onToggleActive={() => void toggleActive()}
        onTestRun={() => setDialog("test")}
        onVersions={() => setDialog("versions")}
        onWebhook={() => setDialog("webhook")}
        onUndo={undo}
        onRedo={redo}
        onFit={fit}
        onDelete={deleteSelection}
        onProblem={goToProblem}
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
            Test run:{" "}
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
          <Palette types={types} hasTrigger={!!triggerNode} onAdd={addNode} onClose={narrow ? () => setPaletteOpen(false) : undefined} />
        )}
        <div className="cm-canvas" ref={canvasRef}>
          <CanvasContext.Provider value={canvasInfo}>
            <ReactFlow<CmNode, CmEdge>
              nodes={graph.nodes}
              edges={graph.edges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd}
              isValidConnection={isValidConnection}
              onNodeDragStart={onNodeDragStart}
              onNodeDragStop={onNodeDragStop}
              onNodeClick={(_e, n) => {
                setSheetFor(n.id);
                setFocus(null);
              }}
              onPaneClick={() => setSheetFor(null)}
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
          </CanvasContext.Provider>
          {graph.nodes.length === 0 && (
            <p className="cm-empty">{canEdit ? "Start with a trigger: drag one from the node list, or select it and press Enter." : "This workflow has no nodes."}</p>
          )}
        </div>
        {showPanel && selectedNode && (
          <Panel
            key={selectedNode.id}
            node={selectedNode}
            types={typeIndex}
            readOnly={!canEdit}
            problems={problems.filter((p) => p.node_id === selectedNode.id)}
            showRequired={showRequired}
            integrations={integrations}
            forms={forms}
            hints={hints}
            run={runs.get(selectedNode.id)}
            executionId={run?.id ?? null}
            focus={focus}
            onChange={(def, field) => changeNode(selectedNode.id, def, field)}
            onDelete={deleteSelection}
            onClose={() => {
              if (narrow) setSheetFor(null);
              else selectNode("");
            }}
          />
        )}
      </div>
      {dialog === "test" && (
        <TestRunDialog api={api} workflowId={workflowId} dirty={dirty} onClose={() => setDialog(null)} onRun={startTestRun} />
      )}
      {dialog === "versions" && (
        <VersionsDialog
          api={api}
          workflowId={workflowId}
          current={meta.version}
          canRestore={canEdit}
          dirty={dirty}
          onClose={() => setDialog(null)}
          onRestore={restore}
        />
      )}
      {dialog === "webhook" && triggerNode && (
        <WebhookDialog
          api={api}
          workflowId={workflowId}
          trigger={triggerNode.data.def}
          onClose={() => setDialog(null)}
          onForbidden={() => setWebhookAllowed(false)}
        />
      )}
    </div>
  );
}
