// The palette of node types, grouped by category and searchable. A type is added by dragging it onto the canvas
// (pointer events, so that a mouse, a pen and automated tests behave the same; HTML5 drag-and-drop is neither
// touch-friendly nor drivable by a headless browser's mouse) or by Enter/click, which adds it mid-view.
import { useEffect, useMemo, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";
import { createPortal } from "react-dom";
import { CATEGORY_LABELS, CATEGORY_ORDER, glyphOf } from "./icons";
import type { NodeType } from "./types";

interface Props {
  types: NodeType[];
  hasTrigger: boolean;
  /** Adds a node; with a point (client coordinates) when dropped, mid-view otherwise. */
  onAdd: (type: string, at?: { x: number; y: number }) => void;
  onClose?: () => void;
}

/** Pixels the pointer must travel before a press becomes a drag (below that it is a click). */
const DRAG_THRESHOLD = 5;

interface Ghost {
  type: NodeType;
  x: number;
  y: number;
}

export function Palette({ types, hasTrigger, onAdd, onClose }: Props) {
  const [query, setQuery] = useState("");
  const [ghost, setGhost] = useState<Ghost | null>(null);
  // Set when a press turned into a drag, so that the click that follows pointerup does not add a second node.
  const suppressClick = useRef(false);
  const cleanup = useRef<(() => void) | null>(null);
  useEffect(() => () => cleanup.current?.(), []);

  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    const match = (t: NodeType) =>
      !q || t.title.toLowerCase().includes(q) || t.name.toLowerCase().includes(q) || t.description.toLowerCase().includes(q);
    return CATEGORY_ORDER.map((c) => ({ category: c, items: types.filter((t) => t.category === c && match(t)) })).filter(
      (g) => g.items.length > 0,
    );
  }, [types, query]);

  const onPointerDown = (t: NodeType, e: ReactPointerEvent<HTMLButtonElement>) => {
    if (e.button !== 0 || !e.isPrimary) return;
    cleanup.current?.();
    const startX = e.clientX;
    const startY = e.clientY;
    let dragging = false;
    suppressClick.current = false;
    const move = (ev: PointerEvent) => {
      if (ev.pointerId !== e.pointerId) return;
      if (!dragging && Math.hypot(ev.clientX - startX, ev.clientY - startY) < DRAG_THRESHOLD) return;
      dragging = true;
      suppressClick.current = true;
      ev.preventDefault();
      // A drag is not a text selection, even when the pointer passes over text.
      window.getSelection()?.removeAllRanges();
      setGhost({ type: t, x: ev.clientX, y: ev.clientY });
    };
    const up = (ev: PointerEvent) => {
      if (ev.pointerId !== e.pointerId) return;
      stop();
      if (dragging) onAdd(t.name, { x: ev.clientX, y: ev.clientY });
    };
    const cancel = (ev: PointerEvent) => {
      if (ev.pointerId === e.pointerId) stop();
    };
    const stop = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      window.removeEventListener("pointercancel", cancel);
      cleanup.current = null;
      setGhost(null);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
    window.addEventListener("pointercancel", cancel);
    cleanup.current = stop;
  };

  return (
    <aside className="cm-palette" aria-label="Node types">
      <div className="cm-palette-head">
        <label className="cm-visually-hidden" htmlFor="cm-palette-search">
          Search node types
        </label>
        <input
          id="cm-palette-search"
          className="cm-input"
          type="search"
          placeholder="Search nodes…"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          autoComplete="off"
        />
        {onClose && (
          <button type="button" className="cm-icon-btn" aria-label="Close the node list" onClick={onClose}>
            ×
          </button>
        )}
      </div>
      <p className="cm-palette-tip">Drag a node onto the canvas, or press Enter to add it.</p>
      {groups.length === 0 && <p className="cm-muted cm-pad">No node type matches “{query}”.</p>}
      {groups.map((g) => (
        <section key={g.category} className="cm-palette-group" aria-labelledby={`cm-pal-${g.category}`}>
          <h3 id={`cm-pal-${g.category}`} className="cm-palette-heading">
            {CATEGORY_LABELS[g.category]}
            {g.category === "trigger" && <span className="cm-muted"> · one per workflow</span>}
          </h3>
          <ul className="cm-palette-list">
            {g.items.map((t) => (
              <li key={t.name}>
                <button
                  type="button"
                  className={`cm-pal-item cm-cat-${t.category}`}
                  data-palette-type={t.name}
                  aria-disabled={t.category === "trigger" && hasTrigger ? "true" : undefined}
                  onPointerDown={(e) => onPointerDown(t, e)}
                  onClick={() => {
                    if (suppressClick.current) {
                      suppressClick.current = false;
                      return;
                    }
                    onAdd(t.name);
                  }}
                >
                  <span className="cm-node-icon" aria-hidden="true">
                    {glyphOf(t.name, t.category)}
                  </span>
                  <span className="cm-pal-text">
                    <span className="cm-pal-title">{t.title}</span>
                    <span className="cm-pal-desc">{t.description}</span>
                  </span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {ghost &&
        createPortal(
          <div
            className={`cm-ghost cm-cat-${ghost.type.category}`}
            aria-hidden="true"
            style={{ transform: `translate(${ghost.x + 8}px, ${ghost.y + 8}px)` }}
          >
            <span className="cm-node-icon">{glyphOf(ghost.type.name, ghost.type.category)}</span> {ghost.type.title}
          </div>,
          document.body,
        )}
    </aside>
  );
}
