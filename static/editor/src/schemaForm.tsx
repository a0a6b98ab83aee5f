// The config form of a node, generated from its type's JSON Schema (classify() in schema.ts decides the control).
// Every input's name is its path in the node ("config.cases.0.condition"), which is also how server validation
// errors name fields, so an error lands at its input and tests can find inputs by name.
import { useEffect, useId, useRef, useState, type DragEvent, type ReactNode } from "react";
import type { Hint } from "./hints";
import { checkValue, classify, getIn, labelOf, resolve, type FieldKind } from "./schema";
import { CreateCredential, type CredentialActions } from "./credentials";
import type { ExpressionKind, FormInfo, Integration, JSONSchema } from "./types";

export type Path = (string | number)[];

export interface FormContext {
  nodeType: string;
  root: JSONSchema;
  readOnly: boolean;
  /** Server messages for a field name. */
  serverErrors: (name: string, deep?: boolean) => string[];
  /** Show "required" before the user asked for validation? Only after a validate/save attempt. */
  showRequired: boolean;
  /** The expression kind string fields get when the schema has no x-expression annotations (else undefined). */
  fallbackExpr?: ExpressionKind;
  hints: (kind: ExpressionKind) => Hint[];
  integrations: Integration[] | null;
  forms: FormInfo[] | null;
  /** Lists integration kinds and creates an integration, for "Create new…" beside a credential picker. */
  credentials?: CredentialActions;
  onChange: (path: Path, value: unknown) => void;
  /** The node view's hooks (nodeview.tsx): what a field dragged from the data becomes in an expression input of a
   * kind (null: not ours), and a live preview shown under it. */
  exprDrop?: (data: DataTransfer, kind: ExpressionKind) => string | null;
  exprPreview?: (source: string, kind: ExpressionKind) => ReactNode;
}

export const nameOf = (path: Path) => path.join(".");

/** The properties of an object schema as fields. */
export function ObjectFields({ schema, value, path, ctx }: { schema: JSONSchema; value: unknown; path: Path; ctx: FormContext }) {
  const s = resolve(schema, ctx.root);
  const required = new Set(s.required ?? []);
  return (
    <>
      {Object.entries(s.properties ?? {}).map(([key, prop]) => (
        <Field key={key} name={key} schema={prop} value={getIn(value, [key])} path={[...path, key]} required={required.has(key)} ctx={ctx} />
      ))}
    </>
  );
}

interface FieldProps {
  name: string;
  schema: JSONSchema;
  value: unknown;
  path: Path;
  required: boolean;
  ctx: FormContext;
}

function Field({ name, schema, value, path, required, ctx }: FieldProps) {
  const s = resolve(schema, ctx.root);
  const kind = classify(name, schema, ctx.root, ctx.nodeType);
  const fieldName = nameOf(path);
  const id = useId();
  const [localError, setLocalError] = useState<string | null>(null);
  const clientError = checkValue(schema, ctx.root, value, required);
  const server = ctx.serverErrors(fieldName, kind.kind !== "object" && kind.kind !== "list");
  // The server's word on a field replaces the client's guess; a JSON parse error replaces both.
  const messages = localError
    ? [localError]
    : server.length
      ? server
      : clientError && (clientError !== "Required." || ctx.showRequired)
        ? [clientError]
        : [];
  const uniq = [...new Set(messages)];
  const errId = `${id}-err`;
  const helpId = `${id}-help`;
  const described = [s.description ? helpId : "", uniq.length ? errId : ""].filter(Boolean).join(" ") || undefined;
  const set = (v: unknown) => ctx.onChange(path, v);
  const label = labelOf(name, s);
  const common = { id, name: fieldName, "aria-invalid": uniq.length ? true : undefined, "aria-describedby": described };
  const expr = exprOf(kind, ctx.fallbackExpr);

  const help = s.description ? (
    <p className="cm-help" id={helpId}>
      {s.description}
    </p>
  ) : null;
  const errors = uniq.length ? (
    <p className="cm-field-error" data-field-error={fieldName} id={errId}>
      {uniq.join(" ")}
    </p>
  ) : null;

  if (kind.kind === "boolean") {
    return (
      <div className="cm-field cm-field-check">
        <label>
          <input {...common} type="checkbox" checked={value === true || (value === undefined && s.default === true)} onChange={(e) => set(e.target.checked)} />{" "}
          {label}
        </label>
        {help}
        {errors}
      </div>
    );
  }
  if (kind.kind === "map") {
    return (
      <fieldset className="cm-fieldset" aria-describedby={described} data-map-field={fieldName}>
        <legend>
          {label}
          {required && <RequiredMark />}
        </legend>
        {help}
        <MapField valueSchema={kind.value} value={value} name={fieldName} label={label} expr={kind.value["x-expression"] ?? ctx.fallbackExpr} ctx={ctx} onValue={set} onError={setLocalError} />
        {errors}
      </fieldset>
    );
  }
  if (kind.kind === "object" || kind.kind === "list" || kind.kind === "multi") {
    return (
      <fieldset className="cm-fieldset" aria-describedby={described}>
        <legend>
          {label}
          {required && <RequiredMark />}
        </legend>
        {help}
        {kind.kind === "object" && <ObjectFields schema={kind.schema} value={value} path={path} ctx={ctx} />}
        {kind.kind === "list" && <ListField item={kind.item} value={value} path={path} label={label} ctx={ctx} />}
        {kind.kind === "multi" &&
          kind.options.map((o) => {
            const arr = Array.isArray(value) ? value : Array.isArray(s.default) && value === undefined ? (s.default as unknown[]) : [];
            return (
              <label key={String(o)} className="cm-check-option">
                <input
                  type="checkbox"
                  name={fieldName}
                  value={String(o)}
                  checked={arr.includes(o)}
                  onChange={(e) => set(e.target.checked ? kind.options.filter((x) => x === o || arr.includes(x)) : arr.filter((x) => x !== o))}
                />{" "}
                {String(o)}
              </label>
            );
          })}
        {errors}
      </fieldset>
    );
  }

  let control: ReactNode;
  switch (kind.kind) {
    case "enum": {
      const def = s.default;
      control = (
        <select {...common} className="cm-input" value={value === undefined ? "" : String(value)} onChange={(e) => set(e.target.value === "" ? undefined : kind.options.find((o) => String(o) === e.target.value))}>
          <option value="">{def !== undefined ? `Default (${String(def)})` : required ? "Choose…" : "—"}</option>
          {kind.options.map((o) => (
            <option key={String(o)} value={String(o)}>
              {String(o)}
            </option>
          ))}
        </select>
      );
      break;
    }
    case "number":
      control = (
        <input
          {...common}
          className="cm-input"
          type="number"
          inputMode={kind.integer ? "numeric" : "decimal"}
          step={kind.integer ? 1 : "any"}
          min={s.minimum}
          max={s.maximum}
          placeholder={s.default !== undefined ? String(s.default) : undefined}
          value={typeof value === "number" ? value : ""}
          onChange={(e) => set(e.target.value === "" || Number.isNaN(e.target.valueAsNumber) ? undefined : e.target.valueAsNumber)}
        />
      );
      break;
    case "integration":
    case "form": {
      const options =
        kind.kind === "integration"
          ? (ctx.integrations ?? []).filter((i) => !kind.kinds || kind.kinds.includes(i.kind)).map((i) => ({ value: i.id, label: `${i.name} (${i.kind})`, alt: "" }))
          : (ctx.forms ?? []).map((f) => ({ value: f.id, label: `${f.name} (/f/${f.slug})`, alt: f.slug }));
      const cur = typeof value === "string" ? value : "";
      // A form may be named by its slug; select the matching form either way.
      const selected = options.find((o) => o.value === cur || (o.alt && o.alt === cur))?.value ?? cur;
      const loading = (kind.kind === "integration" ? ctx.integrations : ctx.forms) === null;
      control = (
        <select {...common} className="cm-input" value={selected} onChange={(e) => set(e.target.value || undefined)}>
          <option value="">{loading ? "Loading…" : required ? "Choose…" : "None"}</option>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
          {cur && !options.some((o) => o.value === selected) && <option value={cur}>{`Unknown (${cur})`}</option>}
        </select>
      );
      if (kind.kind === "integration" && ctx.credentials && !ctx.readOnly) {
        control = (
          <div className="cm-picker-row">
            {control}
            <CreateCredential kinds={kind.kinds} actions={ctx.credentials} onCreated={(i) => set(i.id)} />
          </div>
        );
      } else if (!loading && options.length === 0) {
        control = (
          <>
            {control}
            <p className="cm-help">
              {kind.kind === "integration" ? (
                <>
                  No suitable integration yet: add one on <a href="/integrations">Integrations</a>.
                </>
              ) : (
                <>
                  No form yet: create one on <a href="/forms">Forms</a>.
                </>
              )}
            </p>
          </>
        );
      }
      break;
    }
    case "string":
      control = (
        <ExprText
          common={common}
          multiline={kind.multiline}
          value={typeof value === "string" ? value : value === undefined ? "" : String(value)}
          placeholder={s.default !== undefined ? String(s.default) : undefined}
          expr={expr}
          ctx={ctx}
          onValue={(v) => set(v === "" ? undefined : v)}
        />
      );
      break;
    case "stringish":
      control = (
        <ExprText
          common={common}
          multiline={false}
          value={Array.isArray(value) ? value.join(", ") : typeof value === "string" ? value : ""}
          expr={expr}
          ctx={ctx}
          onValue={(v) => set(v === "" ? undefined : v)}
        />
      );
      break;
    case "lines":
      control = (
        <DraftText
          common={common}
          value={value}
          expr={expr}
          ctx={ctx}
          rows={3}
          format={(v) => (Array.isArray(v) ? v.map(String).join("\n") : "")}
          parse={(t) => {
            const items = t.split("\n").map((l) => l.trim()).filter(Boolean);
            return { ok: true, value: items.length ? items : undefined };
          }}
          onValue={set}
          onError={setLocalError}
          hint="One per line."
        />
      );
      break;
    case "json":
      control = (
        <DraftText
          common={common}
          value={value}
          expr={expr}
          ctx={ctx}
          rows={4}
          mono
          format={(v) => (v === undefined ? "" : JSON.stringify(v, null, 2))}
          parse={(t) => {
            if (t.trim() === "") return { ok: true, value: undefined };
            try {
              return { ok: true, value: JSON.parse(t) as unknown };
            } catch (err) {
              return { ok: false, error: `Not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
            }
          }}
          onValue={set}
          onError={setLocalError}
          hint="JSON."
        />
      );
      break;
  }
  return (
    <div className="cm-field">
      <label htmlFor={id}>
        {label}
        {required && <RequiredMark />}
        {expr && <span className="cm-expr-badge">{expr === "template" ? "{{ }}" : expr}</span>}
      </label>
      {control}
      {help}
      {errors}
    </div>
  );
}

function RequiredMark() {
  return (
    <>
      <span aria-hidden="true" className="cm-required">
        {" "}
        *
      </span>
      <span className="cm-visually-hidden"> (required)</span>
    </>
  );
}

function exprOf(kind: FieldKind, fallback: ExpressionKind | undefined): ExpressionKind | undefined {
  switch (kind.kind) {
    case "string":
    case "stringish":
      return kind.expr ?? fallback;
    case "lines":
    case "json":
      return kind.expr;
    default:
      return undefined;
  }
}

type Common = { id: string; name: string; "aria-invalid"?: boolean; "aria-describedby"?: string };

/** A text input or textarea that offers expression hints while focused; a hint is inserted at the cursor. */
function ExprText(props: {
  common: Common;
  multiline: boolean;
  value: string;
  placeholder?: string;
  expr?: ExpressionKind;
  ctx: FormContext;
  rows?: number;
  mono?: boolean;
  /** An accessible name, when no <label> points at the input. */
  label?: string;
  onValue: (v: string) => void;
}) {
  const { multiline, value, placeholder, expr, ctx, onValue } = props;
  const common = props.label ? { ...props.common, "aria-label": props.label } : props.common;
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const [focused, setFocused] = useState(false);
  const pendingCaret = useRef<number | null>(null);
  useEffect(() => {
    if (pendingCaret.current !== null && ref.current) {
      ref.current.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = null;
    }
  });
  const insert = (text: string) => {
    const el = ref.current;
    const start = el?.selectionStart ?? value.length;
    const end = el?.selectionEnd ?? value.length;
    pendingCaret.current = start + text.length;
    onValue(value.slice(0, start) + text + value.slice(end));
  };
  const cls = `cm-input${props.mono || expr ? " cm-mono" : ""}`;
  const drop = {
    onDragOver: (e: DragEvent) => {
      if (expr && ctx.exprDrop && !ctx.readOnly) e.preventDefault();
    },
    onDrop: (e: DragEvent) => {
      const text = expr && ctx.exprDrop && !ctx.readOnly ? ctx.exprDrop(e.dataTransfer, expr) : null;
      if (text === null) return;
      e.preventDefault();
      insert(text);
    },
  };
  const field = multiline ? (
    <textarea
      {...common}
      ref={ref}
      className={cls}
      rows={props.rows ?? (expr === "jq" ? 4 : 5)}
      value={value}
      placeholder={placeholder}
      spellCheck={expr ? false : undefined}
      onChange={(e) => onValue(e.target.value)}
      onFocus={() => setFocused(true)}
      onBlur={() => setFocused(false)}
      {...drop}
    />
  ) : (
    <input
      {...common}
      ref={ref}
      className={cls}
      type="text"
      value={value}
      placeholder={placeholder}
      spellCheck={expr ? false : undefined}
      autoComplete="off"
      onChange={(e) => onValue(e.target.value)}
      onFocus={() => setFocused(true)}
      onBlur={() => setFocused(false)}
      {...drop}
    />
  );
  return (
    <>
      {field}
      {expr && focused && !ctx.readOnly && <Hints hints={ctx.hints(expr)} kind={expr} onPick={insert} />}
      {expr && ctx.exprPreview?.(value, expr)}
    </>
  );
}

/** A textarea whose text is parsed into the value (lines, JSON): the text is kept while it does not parse. */
function DraftText(props: {
  common: Common;
  value: unknown;
  expr?: ExpressionKind;
  ctx: FormContext;
  rows: number;
  mono?: boolean;
  hint: string;
  format: (v: unknown) => string;
  parse: (t: string) => { ok: true; value: unknown } | { ok: false; error: string };
  onValue: (v: unknown) => void;
  onError: (e: string | null) => void;
}) {
  const { value, format, parse, onValue, onError } = props;
  const [text, setText] = useState(() => format(value));
  const committed = useRef<unknown>(value);
  useEffect(() => {
    // The value changed from outside (undo, another node): show it unless the draft already means the same.
    if (value === committed.current) return;
    committed.current = value;
    const p = parse(text);
    if (!p.ok || JSON.stringify(p.value) !== JSON.stringify(value)) {
      setText(format(value));
      onError(null);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const change = (t: string) => {
    setText(t);
    const p = parse(t);
    if (p.ok) {
      onError(null);
      committed.current = p.value;
      onValue(p.value);
    } else onError(p.error);
  };
  return (
    <>
      <ExprText common={props.common} multiline rows={props.rows} mono={props.mono} value={text} expr={props.expr} ctx={props.ctx} onValue={change} />
      <p className="cm-help cm-help-inline">{props.hint}</p>
    </>
  );
}

function Hints({ hints, kind, onPick }: { hints: Hint[]; kind: ExpressionKind; onPick: (insert: string) => void }) {
  if (hints.length === 0) return null;
  return (
    <div className="cm-hints" role="group" aria-label="Insert data">
      <span className="cm-hints-label">{kind === "jq" ? "jq data:" : kind === "template" ? "Insert {{ }}:" : "Data:"}</span>
      {hints.map((h) => (
        <button
          key={h.path}
          type="button"
          className="cm-hint"
          // mousedown would move the focus (and the caret) away from the field being edited.
          onMouseDown={(e) => e.preventDefault()}
          onClick={() => onPick(h.insert)}
          title={`Insert ${h.insert}`}
        >
          {h.insert}
        </button>
      ))}
    </div>
  );
}

/** Repeatable groups for an array of objects (switch cases, aggregations, attachments). */
function ListField({ item, value, path, label, ctx }: { item: JSONSchema; value: unknown; path: Path; label: string; ctx: FormContext }) {
  const arr = Array.isArray(value) ? value : [];
  const singular = label.replace(/s$/, "").toLowerCase() || "item";
  const replace = (next: unknown[]) => ctx.onChange(path, next.length ? next : undefined);
  return (
    <div className="cm-list">
      {arr.map((v, i) => (
        <fieldset key={i} className="cm-list-item">
          <legend>
            {singular} {i + 1}
          </legend>
          <ObjectFields schema={item} value={v} path={[...path, i]} ctx={ctx} />
          {!ctx.readOnly && (
            <div className="cm-list-actions">
              <button type="button" className="cm-btn cm-btn-small" disabled={i === 0} aria-label={`Move ${singular} ${i + 1} up`} onClick={() => replace(swap(arr, i, i - 1))}>
                ↑
              </button>
              <button type="button" className="cm-btn cm-btn-small" disabled={i === arr.length - 1} aria-label={`Move ${singular} ${i + 1} down`} onClick={() => replace(swap(arr, i, i + 1))}>
                ↓
              </button>
              <button type="button" className="cm-btn cm-btn-small cm-btn-danger" aria-label={`Remove ${singular} ${i + 1}`} onClick={() => replace(arr.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          )}
        </fieldset>
      ))}
      {!ctx.readOnly && (
        <button type="button" className="cm-btn cm-btn-small" onClick={() => replace([...arr, itemDefaults(item, ctx.root)])}>
          + Add {singular}
        </button>
      )}
    </div>
  );
}

function swap<T>(arr: T[], i: number, j: number): T[] {
  const out = [...arr];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

function itemDefaults(item: JSONSchema, root: JSONSchema): Record<string, unknown> {
  const s = resolve(item, root);
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    const r = resolve(p, root);
    if (r.default !== undefined) out[k] = structuredClone(r.default);
  }
  return out;
}

type Row = { key: string; value: unknown };

function rowsOf(v: unknown): Row[] {
  return v && typeof v === "object" && !Array.isArray(v) ? Object.entries(v as Record<string, unknown>).map(([key, value]) => ({ key, value })) : [];
}

/** Why rows cannot become an object (a name used twice, a value without a name), or null when they can. */
export function rowsProblem(rows: Row[]): string | null {
  const seen = new Set<string>();
  for (const r of rows) {
    const k = r.key.trim();
    if (k === "") {
      if (r.value !== undefined && r.value !== "") return "Every value needs a name.";
      continue;
    }
    if (seen.has(k)) return `Duplicate name “${k}”: each name may appear only once.`;
    seen.add(k);
  }
  return null;
}

/**
 * Rows of name and value for an object with free keys (headers, query parameters, a mapping's fields). The rows
 * are a draft: while a name is duplicated (or a value has no name) the error names it and the stored object keeps
 * its last good state. Values are text inputs taking expressions, or selects when the values are an enum.
 */
function MapField(props: {
  valueSchema: JSONSchema;
  value: unknown;
  name: string;
  label: string;
  expr?: ExpressionKind;
  ctx: FormContext;
  onValue: (v: unknown) => void;
  onError: (e: string | null) => void;
}) {
  const { valueSchema, value, name, label, ctx, onValue, onError } = props;
  const [rows, setRows] = useState<Row[]>(() => rowsOf(value));
  const committed = useRef<unknown>(value);
  useEffect(() => {
    // Changed from outside (undo, another node): show it.
    if (value === committed.current) return;
    committed.current = value;
    setRows(rowsOf(value));
    onError(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const change = (next: Row[]) => {
    setRows(next);
    const problem = rowsProblem(next);
    onError(problem);
    if (problem) return;
    const obj: Record<string, unknown> = {};
    for (const r of next) if (r.key.trim() !== "") obj[r.key.trim()] = r.value ?? "";
    const out = Object.keys(obj).length ? obj : undefined;
    committed.current = out;
    onValue(out);
  };
  const set = (i: number, patch: Partial<Row>) => change(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const enumValues = Array.isArray(valueSchema.enum) ? valueSchema.enum : null;
  return (
    <div className="cm-map">
      {rows.map((r, i) => {
        const n = i + 1;
        return (
          <div className="cm-map-row" key={i} data-map-row={i}>
            <input
              className="cm-input cm-mono"
              type="text"
              name={`${name}.$key.${i}`}
              aria-label={`${label}: name ${n}`}
              placeholder="name"
              autoComplete="off"
              spellCheck={false}
              readOnly={ctx.readOnly}
              value={r.key}
              onChange={(e) => set(i, { key: e.target.value })}
            />
            {enumValues ? (
              <select
                className="cm-input"
                name={`${name}.${r.key}`}
                aria-label={`${label}: value ${n}`}
                value={r.value === undefined ? "" : String(r.value)}
                onChange={(e) => set(i, { value: enumValues.find((o) => String(o) === e.target.value) })}
              >
                <option value="">Choose…</option>
                {enumValues.map((o) => (
                  <option key={String(o)} value={String(o)}>
                    {String(o)}
                  </option>
                ))}
              </select>
            ) : (
              <ExprText
                common={{ id: `${name}-v-${i}`, name: `${name}.${r.key}` }}
                multiline={false}
                value={typeof r.value === "string" ? r.value : r.value === undefined ? "" : String(r.value)}
                placeholder="value"
                expr={props.expr}
                ctx={ctx}
                label={`${label}: value ${n}`}
                onValue={(v) => set(i, { value: v })}
              />
            )}
            {!ctx.readOnly && (
              <button type="button" className="cm-btn cm-btn-small cm-btn-danger" aria-label={`Remove ${label.toLowerCase()} row ${n}`} onClick={() => change(rows.filter((_, j) => j !== i))}>
                ×
              </button>
            )}
          </div>
        );
      })}
      {!ctx.readOnly && (
        <button type="button" className="cm-btn cm-btn-small" data-map-add={name} onClick={() => setRows([...rows, { key: "", value: enumValues ? undefined : "" }])}>
          + Add row
        </button>
      )}
    </div>
  );
}
