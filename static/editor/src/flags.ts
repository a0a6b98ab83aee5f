// The feature flags the page passes to the island (data-flags: a JSON object of the canvas's flags, evaluated on
// the server for the organization and user, see app/flags). A flag the page did not pass is off.
export type Flags = Readonly<Record<string, boolean>>;

/** The canvas's Tidy up button and shortcut (a layered layout). */
export const TIDY_UP = "editor.tidy_up";

export function parseFlags(raw: string | undefined): Flags {
  if (!raw) return {};
  try {
    const v: unknown = JSON.parse(raw);
    if (!v || typeof v !== "object" || Array.isArray(v)) return {};
    return Object.fromEntries(Object.entries(v).filter(([, on]) => on === true));
  } catch {
    return {};
  }
}
