// The node drawn on the canvas: category colour and glyph, name and type, an input handle on the left (not for
// triggers) and one labelled output handle per port on the right, plus the status of the last test run and a badge
// when the node has pinned data (which test runs use instead of running it).
import { createContext, memo, useContext, useEffect } from "react";
import { Handle, Position, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { drawnPorts, handleOf, isTrigger, type CmNode, type TypeIndex } from "./definition";
import { glyphOf, PIN_GLYPH, STATUS_TEXT } from "./icons";
import type { NodeStatus } from "./testRun";

/** What every canvas node needs besides its own data; a context so that a run update does not touch the graph. */
export interface CanvasInfo {
  types: TypeIndex;
  /** Statuses of the shown test run, or null when no run is shown. */
  statuses: ReadonlyMap<string, NodeStatus> | null;
  /** Nodes the last validation flagged. */
  invalid: ReadonlySet<string>;
  /** Nodes with pinned data, each with the port that data leaves on ("" the default port). */
  pinned: ReadonlyMap<string, string>;
  /** Opens the node picker for what follows a port ("" = the default port); absent when the canvas is read-only. */
  onAddAfter?: (nodeId: string, port: string) => void;
}

export const CanvasContext = createContext<CanvasInfo>({ types: new Map(), statuses: null, invalid: new Set(), pinned: new Map() });

/** The "+" beside an output port: a node picked from the picker it opens follows this port, connected. */
function AddAfter({ nodeId, port, onAdd }: { nodeId: string; port: string; onAdd: (nodeId: string, port: string) => void }) {
  return (
    <button
      type="button"
      className="cm-port-add nodrag nopan"
      data-add-after={nodeId}
      data-add-port={handleOf(port)}
      aria-label={`Add a node after ${nodeId}${port ? ` (${port})` : ""}`}
      title="Add a node here"
      onClick={(e) => {
        e.stopPropagation();
        onAdd(nodeId, port);
      }}
    >
      +
    </button>
  );
}

export const CanvasNode = memo(function CanvasNode({ id, data, selected }: NodeProps<CmNode>) {
  const { types, statuses, invalid, pinned, onAddAfter } = useContext(CanvasContext);
  const def = data.def;
  const type = types.get(def.type);
  const category = type?.category ?? (def.type.split(".")[0] as string);
  const trigger = isTrigger(def, types);
  const ports = drawnPorts(def, type);
  const pinPort = pinned.get(id);
  const status: NodeStatus | undefined = statuses ? (statuses.get(id) ?? "idle") : undefined;
  const st = status ? STATUS_TEXT[status] : undefined;

  // Handles moved or renamed without the node changing size are not re-measured by React Flow on its own.
  const updateNodeInternals = useUpdateNodeInternals();
  const portsKey = ports.join("\u0000");
  useEffect(() => {
    updateNodeInternals(id);
  }, [id, portsKey, updateNodeInternals]);

  const title = def.name || type?.title || def.type;
  const single = ports.length === 1 && ports[0] === "";
  return (
    <div
      className={`cm-node cm-cat-${category}${selected ? " cm-selected" : ""}`}
      data-node-status={status}
      data-invalid={invalid.has(id) ? "true" : undefined}
      data-node-type={def.type}
      title={type ? `${type.title}: ${type.description}` : `Unknown type ${def.type}`}
    >
      {!trigger && <Handle type="target" position={Position.Left} className="cm-handle cm-handle-in" />}
      <div className="cm-node-head">
        <span className="cm-node-icon" aria-hidden="true">
          {glyphOf(def.type, type?.category)}
        </span>
        <span className="cm-node-titles">
          <span className="cm-node-name">{title}</span>
          <span className="cm-node-sub">{def.name && type ? `${type.title} · ${id}` : id}</span>
        </span>
      </div>
      {st && (
        <span className={`cm-node-status cm-st-${status}`}>
          <span aria-hidden="true">{st.glyph}</span> {st.label}
        </span>
      )}
      {pinPort !== undefined && (
        <span
          className="cm-node-pin"
          role="img"
          data-pinned-badge={pinPort}
          aria-label={`Pinned data${ports.length > 1 ? ` on the output “${pinPort || "output"}”` : ""}: test runs use it instead of running this node`}
          title="Pinned data: test runs use it instead of running this node"
        >
          <span aria-hidden="true">{PIN_GLYPH} pinned{ports.length > 1 ? ` → ${pinPort || "output"}` : ""}</span>
        </span>
      )}
      {invalid.has(id) && (
        <span className="cm-node-problem">
          <span aria-hidden="true">⚠</span> needs attention
        </span>
      )}
      {single ? (
        <>
          <Handle type="source" position={Position.Right} id={handleOf("")} className="cm-handle cm-handle-out" />
          {onAddAfter && <AddAfter nodeId={id} port="" onAdd={onAddAfter} />}
        </>
      ) : (
        <div className="cm-node-ports">
          {ports.map((p) => (
            <div key={handleOf(p)} className={`cm-port${p === "error" ? " cm-port-error" : ""}${pinPort === p ? " cm-port-pinned" : ""}`}>
              <span className="cm-port-label">{p === "" ? "output" : p}</span>
              <Handle type="source" position={Position.Right} id={handleOf(p)} className="cm-handle cm-handle-out" />
              {onAddAfter && <AddAfter nodeId={id} port={p} onAdd={onAddAfter} />}
            </div>
          ))}
        </div>
      )}
    </div>
  );
});

export const nodeTypes = { cm: CanvasNode };
