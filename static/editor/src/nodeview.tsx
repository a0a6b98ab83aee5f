// The node view (n8n's NDV): Input | Parameters | Output around the selected node's config panel. Input and Output
// show the node's data from the shown test run (or its pinned data) as a table, JSON or a schema tree; their fields
// drag into the expression inputs of the parameters form, inserting the path in the field's syntax; an expression
// input shows a live preview evaluated by the server against the current input, under a run's sandbox limits.
// Pinned output (saved with the draft, used only by the editor's test runs) is set and cleared here, with the
// output port it leaves on for a node that branches, so that a test run follows the branch a real run would. On a
// phone the three columns become tabs.
import { useEffect, useRef, useState, type DragEvent, type ReactNode } from "react";
import { errorMessage, type Api } from "./api";
import { member, wrap } from "./hints";
import { PIN_GLYPH } from "./icons";
import type { Execution, ExpressionKind } from "./types";
import "./nodeview.css";

/** The MIME type a dragged field carries: its path in expression syntax (input.body.total). */
export const PATH_MIME = "application/x-concertmaster-path";

type View = "table" | "json" | "schema";

/** What a dragged field becomes in an input of kind: the path wrapped in the field's syntax. */
export function dropText(data: DataTransfer, kind: ExpressionKind): string | null {
  const path = data.getData(PATH_MIME);
  if (!path) return null;
  return wrap(path, kind);
}

function startDrag(e: DragEvent, path: string) {
  e.dataTransfer.setData(PATH_MIME, path);
  e.dataTransfer.setData("text/plain", path);
  e.dataTransfer.effectAllowed = "copy";
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function short(v: unknown): string {
  if (v === undefined) return "";
  if (typeof v === "string") return v.length > 120 ? v.slice(0, 120) + "…" : v;
  const t = JSON.stringify(v);
  return t.length > 120 ? t.slice(0, 120) + "…" : t;
}

const MAX_ROWS = 200;
const MAX_COLS = 30;

/** Arrays of objects as rows; a single object as one row; anything else has no table. */
function DataTable({ value, prefix }: { value: unknown; prefix: string }) {
  const rows: { path: string; row: Record<string, unknown> }[] = [];
  if (Array.isArray(value)) {
    value.slice(0, MAX_ROWS).forEach((r, i) => {
      if (r && typeof r === "object" && !Array.isArray(r)) rows.push({ path: `${prefix}[${i}]`, row: r as Record<string, unknown> });
    });
  } else if (value && typeof value === "object") rows.push({ path: prefix, row: value as Record<string, unknown> });
  if (rows.length === 0) return <p className="cm-muted">No table for this value: see JSON.</p>;
  const cols: string[] = [];
  for (const { row } of rows) for (const k of Object.keys(row)) if (!cols.includes(k) && cols.length < MAX_COLS) cols.push(k);
  const first = rows[0].path;
  return (
    <div className="cm-nv-table-wrap" tabIndex={0}>
      <table className="cm-nv-table">
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c} draggable data-path={member(first, c)} onDragStart={(e) => startDrag(e, member(first, c))} title="Drag into an expression">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map(({ path, row }) => (
            <tr key={path}>
              {cols.map((c) => (
                <td key={c} draggable data-path={member(path, c)} onDragStart={(e) => startDrag(e, member(path, c))}>
                  {short(row[c])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Field names and types as a tree; arrays show their first element's fields. */
function SchemaTree({ value, path, name, depth = 0 }: { value: unknown; path: string; name: string; depth?: number }) {
  const t = typeOf(value);
  let children: ReactNode = null;
  if (depth < 8 && t === "object") {
    const entries = Object.entries(value as Record<string, unknown>).slice(0, 50);
    children = (
      <ul>
        {entries.map(([k, v]) => (
          <SchemaTree key={k} value={v} path={member(path, k)} name={k} depth={depth + 1} />
        ))}
      </ul>
    );
  } else if (depth < 8 && t === "array" && (value as unknown[]).length > 0) {
    children = (
      <ul>
        <SchemaTree value={(value as unknown[])[0]} path={`${path}[0]`} name="[0]" depth={depth + 1} />
      </ul>
    );
  }
  return (
    <li>
      <span className="cm-nv-field" draggable data-path={path} onDragStart={(e) => startDrag(e, path)}>
        <span className="cm-nv-name">{name}</span> <span className={`cm-nv-type cm-nv-t-${t}`}>{t}</span>
      </span>
      {children}
    </li>
  );
}

/** One side (Input or Output) with its view switch. */
function DataPane(props: { title: string; value: unknown; prefix: string; empty: string; extra?: ReactNode; side: string }) {
  const [view, setView] = useState<View>(() => (Array.isArray(props.value) ? "table" : "schema"));
  const has = props.value !== undefined;
  return (
    <section className="cm-nv-pane" aria-label={props.title} data-nodeview-side={props.side}>
      <div className="cm-nv-head">
        <h3>{props.title}</h3>
        <div className="cm-nv-views" role="group" aria-label={`${props.title} view`}>
          {(["table", "json", "schema"] as View[]).map((v) => (
            <button key={v} type="button" className="cm-btn cm-btn-small" aria-pressed={view === v} data-view={v} onClick={() => setView(v)}>
              {v === "json" ? "JSON" : v[0].toUpperCase() + v.slice(1)}
            </button>
          ))}
        </div>
      </div>
      {props.extra}
      {!has ? (
        <p className="cm-muted">{props.empty}</p>
      ) : view === "table" ? (
        <DataTable value={props.value} prefix={props.prefix} />
      ) : view === "json" ? (
        <pre className="cm-pre cm-nv-json" tabIndex={0}>
          {JSON.stringify(props.value, null, 2)}
        </pre>
      ) : (
        <ul className="cm-nv-schema">
          <SchemaTree value={props.value} path={props.prefix} name={props.prefix} />
        </ul>
      )}
    </section>
  );
}

/** The live preview under an expression input: debounced, evaluated by the server against the current input. */
export function ExprPreview(props: { api: Api; workflowId: string; source: string; kind: ExpressionKind; input: unknown; trigger: unknown }) {
  const { api, workflowId, source, kind, input, trigger } = props;
  const [out, setOut] = useState<{ ok: boolean; text: string } | null>(null);
  const seq = useRef(0);
  const meaningful = source.trim() !== "" && (kind !== "template" || source.includes("{{"));
  useEffect(() => {
    if (!meaningful) {
      setOut(null);
      return;
    }
    const mine = ++seq.current;
    const t = window.setTimeout(() => {
      api.preview(workflowId, { kind, source, input: input ?? null, trigger: trigger ?? null }).then(
        (r) => mine === seq.current && setOut(r.ok ? { ok: true, text: typeof r.result === "string" ? r.result : JSON.stringify(r.result ?? null) } : { ok: false, text: r.error ?? "error" }),
        (e) => mine === seq.current && setOut({ ok: false, text: errorMessage(e) }),
      );
    }, 350);
    return () => window.clearTimeout(t);
  }, [api, workflowId, source, kind, input, trigger, meaningful]);
  if (!meaningful || !out) return null;
  return (
    <p className={`cm-nv-preview${out.ok ? "" : " cm-nv-preview-error"}`} data-expression-preview aria-live="polite">
      <span className="cm-nv-preview-label">{out.ok ? "Result: " : "Error: "}</span>
      <code>{out.text.length > 400 ? out.text.slice(0, 400) + "…" : out.text}</code>
    </p>
  );
}

/** A node's pinned output and the port it leaves on ("" the default port). */
export interface PinnedOutput {
  data: unknown;
  port: string;
}

/** How a port reads in the node view: "true", or "output" for the default port. */
export const portLabel = (port: string) => (port === "" ? "output" : port);

export interface NodeViewProps {
  api: Api;
  workflowId: string;
  nodeId: string;
  canEdit: boolean;
  narrow: boolean;
  input: unknown;
  output: unknown;
  /** The port the shown run left on, if it ran. */
  outputPort?: string;
  /** The shown run's error, when the node failed: said on the output side, where its output would be. */
  error?: string;
  /** The node's output ports ("" the default one), for choosing where pinned data leaves. */
  ports: string[];
  pinned: PinnedOutput | undefined;
  /** The config panel, drawn as the middle column. */
  panel: ReactNode;
  onPinned: (nodeId: string, pin: PinnedOutput | undefined) => void;
  onClose: () => void;
}

/** The three-column node view, over the canvas. */
export function NodeView(p: NodeViewProps) {
  const [tab, setTab] = useState<"input" | "parameters" | "output">("parameters");
  const [draft, setDraft] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Where new pinned data leaves: the port the run took, else the node's first (a condition's "true").
  const ports = p.ports.length > 0 ? p.ports : [""];
  const [port, setPort] = useState(() => p.pinned?.port ?? (p.outputPort !== undefined && ports.includes(p.outputPort) ? p.outputPort : ports[0]));
  const pinnedPort = p.pinned?.port;
  useEffect(() => {
    if (pinnedPort !== undefined) setPort(pinnedPort);
  }, [pinnedPort]);
  const branches = ports.length > 1 || (p.pinned !== undefined && !ports.includes(p.pinned.port));
  const shown = p.pinned ? p.pinned.data : p.output;
  const outPrefix = `nodes.${p.nodeId}.output`;

  const pin = async (data: unknown, on: string) => {
    setError(null);
    try {
      await p.api.pin(p.workflowId, p.nodeId, data, on);
      p.onPinned(p.nodeId, { data, port: on });
      setPort(on);
      setDraft(null);
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const unpin = async () => {
    setError(null);
    try {
      await p.api.unpin(p.workflowId, p.nodeId);
      p.onPinned(p.nodeId, undefined);
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const pinDraft = () => {
    let data: unknown;
    try {
      data = JSON.parse(draft ?? "");
    } catch {
      setError("The pinned data must be JSON.");
      return;
    }
    void pin(data, port);
  };

  // A node that branches says which output its pinned data leaves on; changing it re-pins the same data.
  const portChoice = branches && (
    <div className="cm-field cm-nv-pin-port">
      <label htmlFor="cm-nv-pin-port">{p.pinned ? "Pinned data leaves on" : "Pin on the output"}</label>
      <select
        id="cm-nv-pin-port"
        name="pin-port"
        className="cm-input"
        value={port}
        disabled={!p.canEdit}
        aria-describedby="cm-nv-pin-port-help"
        onChange={(e) => {
          setPort(e.target.value);
          if (p.pinned) void pin(p.pinned.data, e.target.value);
        }}
      >
        {ports.map((x) => (
          <option key={x} value={x}>
            {portLabel(x)}
          </option>
        ))}
        {!ports.includes(port) && <option value={port}>{`${portLabel(port)} (no longer an output)`}</option>}
      </select>
      <p className="cm-help" id="cm-nv-pin-port-help">
        A test run continues only along this output, as a real run takes one branch.
      </p>
    </div>
  );

  const pinControls = (
    <div className="cm-nv-pin">
      {p.pinned && (
        <span className="cm-nv-pinned" data-pinned data-pinned-port={p.pinned.port}>
          <span aria-hidden="true">{PIN_GLYPH}</span> Pinned: test runs use this output instead of running the node
          {branches ? `, leaving on “${portLabel(p.pinned.port)}”` : ""}
        </span>
      )}
      {(p.pinned || draft !== null || (p.canEdit && p.output !== undefined)) && portChoice}
      {p.canEdit && !p.pinned && p.output !== undefined && (
        <button type="button" className="cm-btn cm-btn-small" data-action="pin-output" onClick={() => void pin(p.output, port)}>
          Pin this output
        </button>
      )}
      {p.canEdit && !p.pinned && draft === null && (
        <button type="button" className="cm-btn cm-btn-small" data-action="edit-pin" onClick={() => setDraft(p.output === undefined ? "{}" : JSON.stringify(p.output, null, 2))}>
          Set pinned data…
        </button>
      )}
      {p.canEdit && p.pinned && (
        <button type="button" className="cm-btn cm-btn-small" data-action="unpin-output" onClick={() => void unpin()}>
          Unpin
        </button>
      )}
      {draft !== null && (
        <div className="cm-nv-draft">
          <label htmlFor="cm-nv-pin-json">Pinned data (JSON)</label>
          <textarea id="cm-nv-pin-json" name="pin-data" className="cm-input cm-mono" rows={6} value={draft} onChange={(e) => setDraft(e.target.value)} />
          <button type="button" className="cm-btn cm-btn-small" data-action="save-pin" onClick={pinDraft}>
            Pin
          </button>
          <button type="button" className="cm-btn cm-btn-small" onClick={() => setDraft(null)}>
            Cancel
          </button>
        </div>
      )}
      {error && (
        <p className="cm-field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );

  const input = (
    <DataPane side="input" title="Input" value={p.input} prefix="input" empty="No input yet: run a test, pin a parent's output, or open an execution with “Debug in editor”." />
  );
  const output = (
    <DataPane side="output" title="Output" value={shown} prefix={outPrefix} empty={p.error ? `No output: the node failed. ${p.error}` : "No output yet."} extra={pinControls} />
  );
  const cols = [
    { id: "input" as const, label: "Input", body: input },
    { id: "parameters" as const, label: "Parameters", body: p.panel },
    { id: "output" as const, label: "Output", body: output },
  ];
  return (
    <div className={`cm-nodeview${p.narrow ? " cm-nodeview-narrow" : ""}`} role="dialog" aria-label="Node view" data-nodeview>
      <div className="cm-nv-bar">
        {p.narrow && (
          <div role="tablist" aria-label="Node view parts" className="cm-nv-tabs">
            {cols.map((c) => (
              <button key={c.id} type="button" role="tab" aria-selected={tab === c.id} data-tab={c.id} onClick={() => setTab(c.id)}>
                {c.label}
              </button>
            ))}
          </div>
        )}
        <button type="button" className="cm-btn cm-btn-small cm-nv-close" data-action="close-nodeview" onClick={p.onClose}>
          Back to canvas
        </button>
      </div>
      <div className="cm-nv-cols">
        {cols.map((c) => (
          <div key={c.id} className={`cm-nv-col cm-nv-col-${c.id}`} hidden={p.narrow && tab !== c.id}>
            {c.body}
          </div>
        ))}
      </div>
    </div>
  );
}

/**
 * The node view's state for the editor: the draft's pins, whether the view is open, and the run to show at start
 * (the execution of "debug in editor", else the last test run, so the node data survives a reload).
 */
export function useNodeData(api: Api, workflowId: string, debugExecution: string | undefined, showRun: (id: string, ex: Execution) => void) {
  const [pins, setPins] = useState<Record<string, PinnedOutput>>({});
  const [open, setOpen] = useState(false);
  useEffect(() => {
    let cancelled = false;
    api.pins(workflowId).then(
      (items) => !cancelled && setPins(Object.fromEntries(items.map((p) => [p.node_id, { data: p.data, port: p.port ?? "" }]))),
      () => undefined, // no pins shown; pinning still answers with its own error
    );
    const load = debugExecution ? Promise.resolve<string | null>(debugExecution) : api.lastTestRun(workflowId);
    load
      .then((id) => (id ? api.execution(id) : null))
      .then(
        (ex) => {
          if (!cancelled && ex && ex.workflow_id === workflowId) showRun(ex.id, ex);
        },
        () => undefined, // the canvas works without the run's data
      );
    return () => {
      cancelled = true;
    };
    // showRun is the editor's stable store setter
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, workflowId, debugExecution]);
  const onPinned = (nodeId: string, pin: PinnedOutput | undefined) =>
    setPins((p) => {
      const next = { ...p };
      if (pin === undefined) delete next[nodeId];
      else next[nodeId] = pin;
      return next;
    });
  return { pins, onPinned, open, setOpen };
}

/**
 * The input a node would get: its shown run's, else the pinned output of its only parent when that output leaves
 * on the port this node hangs from (the other branch of a pinned condition gets nothing, as in a run).
 */
export function nodeInput(nodeId: string, edges: { from: string; port?: string; to: string }[], runInput: unknown, pins: Record<string, PinnedOutput>): unknown {
  if (runInput !== undefined && runInput !== null) return runInput;
  const parents = edges.filter((e) => e.to === nodeId);
  if (parents.length !== 1) return undefined;
  const pin = pins[parents[0].from];
  return pin && pin.port === (parents[0].port ?? "") ? pin.data : undefined;
}

