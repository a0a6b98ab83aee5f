// The node picker the "+" of an output port opens: a searchable list of the node types that may follow (every
// type but triggers); Enter or a click adds the highlighted one after the port, connected to it.
import { useEffect, useMemo, useRef, useState } from "react";
import { Dialog } from "./dialogs";
import { CATEGORY_LABELS, glyphOf } from "./icons";
import type { NodeType } from "./types";

interface Props {
  types: NodeType[];
  /** What the new node follows, as a person reads it ("Order in · true"). */
  after: string;
  onPick: (type: string) => void;
  onClose: () => void;
}

export function NodePicker({ types, after, onPick, onClose }: Props) {
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const search = useRef<HTMLInputElement>(null);
  const items = useMemo(() => {
    const q = query.trim().toLowerCase();
    return types.filter(
      (t) => t.category !== "trigger" && (!q || t.title.toLowerCase().includes(q) || t.name.toLowerCase().includes(q) || t.description.toLowerCase().includes(q)),
    );
  }, [types, query]);
  // The dialog opens (showModal) after this mounts and would focus its first button: search first.
  useEffect(() => {
    const frame = window.requestAnimationFrame(() => search.current?.focus());
    return () => window.cancelAnimationFrame(frame);
  }, []);
  const current = Math.min(active, Math.max(items.length - 1, 0));

  return (
    <Dialog title={`Add a node after ${after}`} onClose={onClose}>
      <div className="cm-picker">
        <label className="cm-visually-hidden" htmlFor="cm-picker-search">
          Search node types
        </label>
        <input
          ref={search}
          id="cm-picker-search"
          className="cm-input"
          type="search"
          placeholder="Search nodes…"
          autoComplete="off"
          role="combobox"
          aria-expanded="true"
          aria-controls="cm-picker-list"
          aria-activedescendant={items[current] ? `cm-pick-${items[current].name}` : undefined}
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setActive(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "ArrowDown" || e.key === "ArrowUp") {
              e.preventDefault();
              const step = e.key === "ArrowDown" ? 1 : -1;
              setActive((current + step + items.length) % Math.max(items.length, 1));
            } else if (e.key === "Enter" && items[current]) {
              e.preventDefault();
              onPick(items[current].name);
            }
          }}
        />
        {items.length === 0 && <p className="cm-muted">No node type matches “{query}”.</p>}
        <ul id="cm-picker-list" className="cm-picker-list" role="listbox" aria-label="Node types">
          {items.map((t, i) => (
            <li key={t.name} id={`cm-pick-${t.name}`} role="option" aria-selected={i === current}>
              <button
                type="button"
                tabIndex={-1}
                className={`cm-pal-item cm-cat-${t.category}${i === current ? " cm-picker-active" : ""}`}
                data-picker-type={t.name}
                onMouseEnter={() => setActive(i)}
                onClick={() => onPick(t.name)}
              >
                <span className="cm-node-icon" aria-hidden="true">
                  {glyphOf(t.name, t.category)}
                </span>
                <span className="cm-pal-text">
                  <span className="cm-pal-title">{t.title}</span>
                  <span className="cm-pal-desc">
                    {CATEGORY_LABELS[t.category]} · {t.description}
                  </span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      </div>
    </Dialog>
  );
}
