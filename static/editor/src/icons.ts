// Glyphs for node types: plain text (no icon font, no SVG sprite to load), always paired with a title so that the
// glyph is decoration only (aria-hidden where shown).
import type { Category } from "./types";

const TYPE_GLYPHS: Record<string, string> = {
  "trigger.webhook": "⚡",
  "trigger.form": "☰",
  "trigger.schedule": "◷",
  "trigger.file_upload": "⇪",
  "trigger.error": "⚠",
  "transform.data": "{}",
  "transform.filter": "▽",
  "transform.aggregate": "Σ",
  "transform.format": "¶",
  "condition.if": "?",
  "condition.switch": "⋔",
  "condition.loop": "↻",
  "condition.delay": "◔",
  "action.email": "✉",
  "action.http": "⇅",
  "action.database": "⛁",
  "action.file_export": "⤓",
};

const CATEGORY_GLYPHS: Record<Category, string> = { trigger: "▶", transform: "⇄", condition: "◇", action: "●" };

export function glyphOf(type: string, category?: Category): string {
  return TYPE_GLYPHS[type] ?? (category ? CATEGORY_GLYPHS[category] : "■");
}

export const CATEGORY_LABELS: Record<Category, string> = {
  trigger: "Triggers",
  transform: "Transforms",
  condition: "Conditions",
  action: "Actions",
};

export const CATEGORY_ORDER: Category[] = ["trigger", "transform", "condition", "action"];

/** Text (not only colour) for a node's run status. */
export const STATUS_TEXT: Record<string, { glyph: string; label: string }> = {
  running: { glyph: "◐", label: "running" },
  succeeded: { glyph: "✓", label: "succeeded" },
  failed: { glyph: "✕", label: "failed" },
  skipped: { glyph: "–", label: "skipped" },
  idle: { glyph: "○", label: "not run" },
  queued: { glyph: "…", label: "queued" },
  waiting: { glyph: "◔", label: "waiting" },
  canceled: { glyph: "⊘", label: "canceled" },
};

/** The mark of pinned data (on the canvas node and in the node view); the words beside it carry the meaning. */
export const PIN_GLYPH = "◉";
