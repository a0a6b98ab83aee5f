// Turns a node type's config schema (JSON Schema 2020-12) into form fields, and the cheap client-side checks shown
// at each field. Pure: the React side (schemaForm.tsx) only renders what classify() decides.
import type { ExpressionKind, JSONSchema } from "./types";

export type FieldKind =
  | { kind: "string"; multiline: boolean; expr?: ExpressionKind }
  | { kind: "enum"; options: unknown[] }
  | { kind: "number"; integer: boolean }
  | { kind: "boolean" }
  /** An array of strings, one per line. */
  | { kind: "lines"; item: JSONSchema; expr?: ExpressionKind }
  /** An array of enum values, as checkboxes. */
  | { kind: "multi"; options: unknown[] }
  /** An array of objects, as repeatable groups. */
  | { kind: "list"; item: JSONSchema }
  /** An object with known properties, as a nested fieldset. */
  | { kind: "object"; schema: JSONSchema }
  /** A string, or an array of strings (e-mail addresses): one text input, arrays shown comma-separated. */
  | { kind: "stringish"; expr?: ExpressionKind }
  | { kind: "integration"; kinds: string[] | null }
  | { kind: "form" }
  /** An object mapping free keys to strings (headers, query, mapping) or to enum values: rows of key and value. */
  | { kind: "map"; value: JSONSchema }
  /** Anything else, edited as JSON. */
  | { kind: "json"; expr?: ExpressionKind };

/** Resolves local references (#/$defs/…); the referring schema's own keywords (title, default…) win. */
export function resolve(schema: JSONSchema | boolean | undefined, root: JSONSchema, depth = 0): JSONSchema {
  if (!schema || typeof schema !== "object") return {};
  if (!schema.$ref || depth > 8) return schema;
  const m = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
  const target = m ? root.$defs?.[decodeURIComponent(m[1])] : undefined;
  const { $ref: _ref, ...rest } = schema;
  void _ref;
  return { ...resolve(target, root, depth + 1), ...rest };
}

/** The schema's main type, ignoring "null". */
export function typeOf(s: JSONSchema): string | undefined {
  if (typeof s.type === "string") return s.type;
  if (Array.isArray(s.type)) return s.type.find((t) => t !== "null");
  if (s.properties) return "object";
  return undefined;
}

/** Integrations a node type may use, by kind; null means any. */
const INTEGRATION_KINDS: Record<string, string[]> = {
  "action.email": ["smtp"],
  "action.database": ["postgres"],
  "action.http": ["http"],
};

export function classify(name: string, raw: JSONSchema, root: JSONSchema, nodeType: string): FieldKind {
  const s = resolve(raw, root);
  const expr = s["x-expression"];
  if (name === "integration_id") return { kind: "integration", kinds: INTEGRATION_KINDS[nodeType] ?? null };
  if (name === "form_id" && nodeType === "trigger.form") return { kind: "form" };
  if (Array.isArray(s.enum)) return { kind: "enum", options: s.enum };
  const branches = s.oneOf ?? s.anyOf;
  if (branches && !s.type) {
    const rs = branches.map((b) => resolve(b, root));
    const stringy = rs.every((b) => {
      const t = typeOf(b);
      return t === "string" || (t === "array" && typeOf(resolve(b.items as JSONSchema, root)) === "string");
    });
    if (stringy) {
      const e = expr ?? rs.map((b) => b["x-expression"] ?? resolve(b.items as JSONSchema, root)["x-expression"]).find(Boolean);
      return { kind: "stringish", expr: e };
    }
    return { kind: "json", expr };
  }
  switch (typeOf(s)) {
    case "string": {
      let multiline: boolean;
      if (expr === "jq") multiline = true;
      else if (expr === "expression") multiline = false;
      else if (expr === "template") multiline = s.maxLength === undefined || s.maxLength > 8192;
      else multiline = (s.maxLength ?? 0) > 8192;
      return { kind: "string", multiline, expr };
    }
    case "integer":
      return { kind: "number", integer: true };
    case "number":
      return { kind: "number", integer: false };
    case "boolean":
      return { kind: "boolean" };
    case "array": {
      const item = resolve(s.items as JSONSchema, root);
      if (Array.isArray(item.enum)) return { kind: "multi", options: item.enum };
      const t = typeOf(item);
      if (t === "string") return { kind: "lines", item, expr: item["x-expression"] };
      if (t === "object" && item.properties) return { kind: "list", item };
      return { kind: "json", expr };
    }
    case "object":
      if (s.properties && (s.additionalProperties === undefined || s.additionalProperties === false)) {
        return { kind: "object", schema: s };
      }
      if (!s.properties && s.additionalProperties && typeof s.additionalProperties === "object") {
        const v = resolve(s.additionalProperties, root);
        if (Array.isArray(v.enum) || typeOf(v) === "string") return { kind: "map", value: v };
      }
      return { kind: "json", expr };
    default:
      return { kind: "json", expr };
  }
}

/** Whether a schema mentions x-expression anywhere: when it does not, string fields of non-trigger nodes get hints. */
export function hasExpressionAnnotations(schema: JSONSchema): boolean {
  return JSON.stringify(schema).includes('"x-expression"');
}

export function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || v === "";
}

/** A client-side check of one value: required, lengths, bounds, pattern, enum. Null when fine. */
export function checkValue(raw: JSONSchema, root: JSONSchema, value: unknown, required: boolean): string | null {
  const s = resolve(raw, root);
  if (isEmpty(value) || (Array.isArray(value) && value.length === 0 && required)) {
    return required ? "Required." : null;
  }
  if (Array.isArray(s.enum) && !s.enum.some((o) => o === value)) {
    return `Must be one of ${s.enum.map(String).join(", ")}.`;
  }
  const t = typeOf(s);
  if (typeof value === "string" && (t === "string" || t === undefined)) {
    const n = [...value].length;
    if (s.minLength !== undefined && n < s.minLength) return `At least ${s.minLength} characters.`;
    if (s.maxLength !== undefined && n > s.maxLength) return `At most ${s.maxLength} characters.`;
    if (s.pattern && !matches(s.pattern, value)) return "Not in the expected format.";
  }
  if (typeof value === "number") {
    if (t === "integer" && !Number.isInteger(value)) return "A whole number.";
    if (s.minimum !== undefined && value < s.minimum) return `At least ${s.minimum}.`;
    if (s.maximum !== undefined && value > s.maximum) return `At most ${s.maximum}.`;
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) return `At least ${s.minItems} item(s).`;
    if (s.maxItems !== undefined && value.length > s.maxItems) return `At most ${s.maxItems} items.`;
    const item = resolve(s.items as JSONSchema, root);
    for (const v of value) {
      if (typeof v === "string" && item.pattern && !matches(item.pattern, v)) return `"${v}" is not in the expected format.`;
    }
  }
  return null;
}

const patternCache = new Map<string, RegExp | null>();
function matches(pattern: string, value: string): boolean {
  let re = patternCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, "u");
    } catch {
      re = null;
    }
    patternCache.set(pattern, re);
  }
  return re ? re.test(value) : true;
}

/** A label for a property: its title, else its name made readable. */
export function labelOf(name: string, s: JSONSchema): string {
  if (s.title) return s.title;
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Sets a value at a path in a JSON value without mutating it; undefined deletes the key. */
export function setIn(obj: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (typeof head === "number") {
    const arr = Array.isArray(obj) ? [...obj] : [];
    const next = setIn(arr[head], rest, value);
    if (next === undefined && rest.length === 0) arr.splice(head, 1);
    else arr[head] = next;
    return arr;
  }
  const o: Record<string, unknown> = obj && typeof obj === "object" && !Array.isArray(obj) ? { ...(obj as Record<string, unknown>) } : {};
  const next = setIn(o[head], rest, value);
  if (next === undefined) delete o[head];
  else o[head] = next;
  return o;
}

export function getIn(obj: unknown, path: (string | number)[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/** Normalizes a server field path ("config.cases[0].condition") to the form's input names ("config.cases.0.condition"). */
export function normalizeField(field: string | undefined): string {
  return (field ?? "").replace(/\[(\d+)\]/g, ".$1").replace(/^\./, "");
}

/** What the panel calls a node's own fields (those outside config). */
const NODE_FIELD_LABELS: Record<string, string> = {
  id: "ID",
  name: "Name",
  type: "Type",
  timeout: "Timeout",
  on_error: "On error",
  retry: "Retry",
  position: "Position",
};

/**
 * A server field path ("config.cases[0].condition") in the words of the panel's labels ("Cases › 1 › Condition"),
 * so that a problem reads like the form it points at.
 */
export function fieldLabel(field: string | undefined, configSchema: JSONSchema | undefined): string {
  const path = normalizeField(field).split(".").filter((x) => x !== "");
  if (path.length === 0) return "";
  // A sticky note's problem ("notes.2.text") counts notes from 1, as people do.
  if (path[0] === "notes" && /^\d+$/.test(path[1] ?? "")) return [`Note ${Number(path[1]) + 1}`, ...path.slice(2).map((k) => labelOf(k, {}))].join(" › ");
  if (path[0] !== "config") return path.map((k, i) => (i === 0 ? (NODE_FIELD_LABELS[k] ?? labelOf(k, {})) : labelOf(k, {}))).join(" › ");
  const root = configSchema ?? {};
  const out: string[] = [];
  let cur: JSONSchema = root;
  for (const k of path.slice(1)) {
    if (/^\d+$/.test(k)) {
      out.push(String(Number(k) + 1));
      cur = resolve(cur.items as JSONSchema | undefined, root);
      continue;
    }
    const prop = resolve(cur.properties?.[k], root);
    out.push(labelOf(k, prop));
    cur = prop;
  }
  return out.length ? out.join(" › ") : "Configuration";
}
