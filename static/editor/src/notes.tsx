// A sticky note on the canvas. Its text is shown as plain text with its line breaks (React escapes it; it is never
// parsed as HTML or markdown), edited in a textarea while selected, resized with React Flow's resizer and moved
// like a node. The engine validates notes on save (engine.checkNotes); the limits here only spare a round trip.
import { createContext, memo, useContext } from "react";
import { NodeResizer, type NodeProps } from "@xyflow/react";
import { NOTE_COLORS, NOTE_LIMITS, type NoteNode } from "./definition";

export interface NoteActions {
  canEdit: boolean;
  /** The note's text or colour changed; one undo step per field while typing. */
  onChange: (canvasId: string, patch: { text?: string; color?: string }) => void;
  onResizeStart: () => void;
  onResizeEnd: () => void;
}

export const NoteContext = createContext<NoteActions>({ canEdit: false, onChange: () => {}, onResizeStart: () => {}, onResizeEnd: () => {} });

export const StickyNote = memo(function StickyNote({ id, data, selected }: NodeProps<NoteNode>) {
  const { canEdit, onChange, onResizeStart, onResizeEnd } = useContext(NoteContext);
  const { note } = data;
  const color = note.color || NOTE_COLORS[0];
  const editing = canEdit && selected;
  return (
    <div className={`cm-note cm-note-${color}${selected ? " cm-selected" : ""}`} data-note={note.id} role="note" aria-label={`Note ${note.id}`}>
      <NodeResizer isVisible={editing} minWidth={NOTE_LIMITS.min} minHeight={NOTE_LIMITS.min} maxWidth={NOTE_LIMITS.max} maxHeight={NOTE_LIMITS.max} onResizeStart={onResizeStart} onResizeEnd={onResizeEnd} />
      {editing && (
        <div className="cm-note-tools nodrag">
          <select className="cm-note-color" aria-label="Note colour" value={color} onChange={(e) => onChange(id, { color: e.target.value })}>
            {NOTE_COLORS.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </div>
      )}
      {editing ? (
        <textarea
          className="cm-note-edit nodrag nowheel"
          aria-label="Note text"
          maxLength={NOTE_LIMITS.text}
          value={note.text}
          placeholder="Write a note…"
          autoFocus={note.text === ""}
          onChange={(e) => onChange(id, { text: e.target.value })}
        />
      ) : (
        <div className="cm-note-text nowheel" data-note-text>
          {note.text || (canEdit ? "Select to write…" : "")}
        </div>
      )}
    </div>
  );
});
