// The editor's toolbar: save/validate/activate/test run/versions/webhook, undo/redo, fit view, delete, the dirty
// indicator, saved version and problems list. On a narrow screen the secondary actions fold into a "More" menu
// (still in the DOM, so every data-action exists exactly once).
import { useState, type ReactNode } from "react";
import type { FieldProblem } from "./types";

export interface ToolbarProps {
  narrow: boolean;
  canEdit: boolean;
  canRun: boolean;
  dirty: boolean;
  busy: string | null;
  version: number;
  active: boolean;
  canUndo: boolean;
  canRedo: boolean;
  hasSelection: boolean;
  showWebhook: boolean;
  paletteOpen: boolean;
  problems: FieldProblem[];
  onTogglePalette: () => void;
  onSave: () => void;
  onValidate: () => void;
  onToggleActive: () => void;
  onTestRun: () => void;
  onVersions: () => void;
  onWebhook: () => void;
  /** Opens the sharing drawer; absent for those who may not change the grants. */
  onSharing?: () => void;
  sharingOpen?: boolean;
  onUndo: () => void;
  onRedo: () => void;
  onFit: () => void;
  /** Tidy up, when the editor.tidy_up flag lets this organization have it. */
  onTidyUp?: () => void;
  onDelete: () => void;
  /** Adds a sticky note; absent when the canvas is read-only. */
  onAddNote?: () => void;
  onProblem: (p: FieldProblem) => void;
  /** A problem's node and field in the words the canvas and the panel show (the node's label, the field's label). */
  describeProblem: (p: FieldProblem) => { node: string; field: string };
}

const mod = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform) ? "⌘" : "Ctrl+";

function Btn(props: {
  action: string;
  label: string;
  icon: string;
  onClick: () => void;
  disabled?: boolean;
  primary?: boolean;
  keys?: string;
  iconOnly?: boolean;
  pressed?: boolean;
}) {
  return (
    <button
      type="button"
      className={`cm-btn${props.primary ? " cm-btn-primary" : ""}${props.iconOnly ? " cm-btn-icon" : ""}`}
      data-action={props.action}
      aria-label={props.label}
      aria-pressed={props.pressed}
      aria-keyshortcuts={props.keys}
      title={props.keys ? `${props.label} (${props.keys.replace("Control+", mod)})` : props.label}
      disabled={props.disabled}
      onClick={props.onClick}
    >
      <span className="cm-btn-glyph" aria-hidden="true">
        {props.icon}
      </span>
      {!props.iconOnly && <span className="cm-btn-text">{props.label}</span>}
    </button>
  );
}

export function Toolbar(p: ToolbarProps) {
  const [moreOpen, setMoreOpen] = useState(false);
  const [problemsOpen, setProblemsOpen] = useState(false);
  const busy = p.busy !== null;

  const secondary: ReactNode = (
    <>
      {p.canEdit && <Btn action="validate" label="Validate" icon="✓" onClick={p.onValidate} disabled={busy} />}
      {p.canEdit &&
        (p.active ? (
          <Btn action="deactivate" label="Deactivate" icon="●" onClick={p.onToggleActive} disabled={busy} />
        ) : (
          <Btn action="activate" label="Activate" icon="○" onClick={p.onToggleActive} disabled={busy} />
        ))}
      <Btn action="versions" label="Versions" icon="↺" onClick={p.onVersions} />
      {p.showWebhook && <Btn action="webhook" label="Webhook" icon="⚡" onClick={p.onWebhook} />}
      {p.onSharing && <Btn action="sharing" label="Share" icon="⇆" onClick={p.onSharing} pressed={!!p.sharingOpen} />}
      {p.onTidyUp && <Btn action="tidy-up" label="Tidy up" icon="⊞" onClick={p.onTidyUp} keys="Shift+T" />}
      <Btn action="fit" label="Fit view" icon="⤢" onClick={p.onFit} iconOnly={!p.narrow} />
    </>
  );

  return (
    <div className="cm-toolbar" role="toolbar" aria-label="Workflow editor">
      <div className="cm-toolbar-group">
        {p.canEdit && <Btn action="palette" label="Nodes" icon="+" onClick={p.onTogglePalette} pressed={p.paletteOpen} />}
        {p.canEdit && (
          <Btn action="save" label="Save" icon="⤓" onClick={p.onSave} disabled={!p.dirty || busy} primary keys="Control+S" />
        )}
        {p.onAddNote && <Btn action="add-note" label="Note" icon="✎" onClick={p.onAddNote} keys="N" />}
        {p.canRun && <Btn action="test-run" label="Test run" icon="▶" onClick={p.onTestRun} disabled={busy} />}
      </div>
      {p.canEdit && (
        <div className="cm-toolbar-group">
          <Btn action="undo" label="Undo" icon="↶" onClick={p.onUndo} disabled={!p.canUndo} iconOnly keys="Control+Z" />
          <Btn action="redo" label="Redo" icon="↷" onClick={p.onRedo} disabled={!p.canRedo} iconOnly keys="Control+Shift+Z" />
          <Btn action="delete" label="Delete selection" icon="✕" onClick={p.onDelete} disabled={!p.hasSelection} iconOnly keys="Delete" />
        </div>
      )}
      {p.narrow ? (
        <div className="cm-toolbar-group cm-more">
          <button type="button" className="cm-btn cm-btn-icon" aria-label="More actions" aria-expanded={moreOpen} aria-controls="cm-more-menu" onClick={() => setMoreOpen((o) => !o)}>
            <span aria-hidden="true">⋯</span>
          </button>
          <div id="cm-more-menu" className="cm-more-menu" hidden={!moreOpen} onClick={() => setMoreOpen(false)}>
            {secondary}
          </div>
        </div>
      ) : (
        <div className="cm-toolbar-group">{secondary}</div>
      )}
      <div className="cm-toolbar-state">
        {p.canEdit && (
          <span className={`cm-dirty${p.dirty ? " cm-is-dirty" : ""}`} data-dirty={p.dirty ? "true" : "false"}>
            <span aria-hidden="true">{p.dirty ? "● " : ""}</span>
            {p.dirty ? "Unsaved changes" : "Saved"}
          </span>
        )}
        <span className="cm-muted">
          Version <span data-editor-version>{p.version}</span>
        </span>
        <span className={`cm-badge ${p.active ? "cm-badge-on" : ""}`} data-editor-active={p.active ? "true" : "false"}>
          {p.active ? "Active" : "Inactive"}
        </span>
        {p.problems.length > 0 && (
          <span className="cm-problems">
            <button
              type="button"
              className="cm-btn cm-btn-warn"
              data-action="problems"
              aria-expanded={problemsOpen}
              aria-controls="cm-problems-list"
              onClick={() => setProblemsOpen((o) => !o)}
            >
              <span aria-hidden="true">⚠ </span>
              {p.problems.length} {p.problems.length === 1 ? "problem" : "problems"}
            </button>
            <ul id="cm-problems-list" className="cm-problems-list" hidden={!problemsOpen}>
              {p.problems.map((pr, i) => (
                <li key={i}>
                  <button
                    type="button"
                    className="cm-problem"
                    data-problem-node={pr.node_id}
                    onClick={() => {
                      setProblemsOpen(false);
                      p.onProblem(pr);
                    }}
                  >
                    {(() => {
                      const d = p.describeProblem(pr);
                      return (
                        <>
                          {d.node && <strong>{d.node}</strong>}
                          {d.field && <span className="cm-muted"> · {d.field}</span>}
                          {(d.node || d.field) && ": "}
                          {pr.message}
                        </>
                      );
                    })()}
                  </button>
                </li>
              ))}
            </ul>
          </span>
        )}
      </div>
    </div>
  );
}
