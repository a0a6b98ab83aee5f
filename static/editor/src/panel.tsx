// The side panel of the selected node: its name and id, the config form generated from its type's schema, the
// run options every node has (retry, timeout, on_error), problems found by validation, and the node's latest
// input/output/error from the test run shown on the canvas.
import { useEffect, useMemo, useRef, type ReactNode } from "react";
import { isTrigger, type CmNode, type TypeIndex } from "./definition";
import type { Hint } from "./hints";
import { glyphOf, STATUS_TEXT } from "./icons";
import { hasExpressionAnnotations, normalizeField, setIn } from "./schema";
import { ObjectFields, type FormContext, type Path } from "./schemaForm";
import type { CredentialActions } from "./credentials";
import type { LatestRun } from "./testRun";
import type { DefNode, ExpressionKind, FieldProblem, FormInfo, Integration, JSONSchema } from "./types";

interface Props {
  node: CmNode;
  types: TypeIndex;
  readOnly: boolean;
  problems: FieldProblem[];
  showRequired: boolean;
  integrations: Integration[] | null;
  forms: FormInfo[] | null;
  credentials?: CredentialActions;
  hints: (kind: ExpressionKind) => Hint[];
  run: LatestRun | undefined;
  executionId: string | null;
  /** Whether the shown execution is a test run (false for a production run or retry opened with "debug in editor"). */
  testRun: boolean;
  /** A field to focus (from a click on a problem), with a counter so the same field can be asked for twice. */
  focus: { nodeId: string; field: string; seq: number } | null;
  /** `field` names what changed, to merge keystrokes into one undo step and to clear that field's server errors. */
  onChange: (def: DefNode, field: string) => void;
  onDelete: () => void;
  onClose: () => void;
  /** The node view's hooks into the config form (drop a field into an expression, live preview) and its button. */
  formHooks?: Pick<FormContext, "exprDrop" | "exprPreview">;
  headExtra?: ReactNode;
}

const DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;

export function Panel(props: Props) {
  const { node, types, readOnly, problems, run } = props;
  const def = node.data.def;
  const type = types.get(def.type);
  const trigger = isTrigger(def, types);
  const rootRef = useRef<HTMLDivElement>(null);

  const errorsByField = useMemo(() => {
    const m = new Map<string, string[]>();
    for (const p of problems) {
      const f = normalizeField(p.field);
      m.set(f, [...(m.get(f) ?? []), p.message]);
    }
    return m;
  }, [problems]);

  useEffect(() => {
    if (!props.focus || props.focus.nodeId !== node.id || !rootRef.current) return;
    const el = rootRef.current.querySelector<HTMLElement>(`[name="${CSS.escape(props.focus.field)}"]`);
    (el ?? rootRef.current.querySelector<HTMLElement>("[data-field-error]") ?? rootRef.current.querySelector<HTMLElement>("h2"))?.focus();
    el?.scrollIntoView({ block: "center" });
  }, [props.focus, node.id]);

  const change = (path: Path, value: unknown, field = path.join(".")) => {
    props.onChange(setIn(def, path, value) as DefNode, field);
  };

  const schema: JSONSchema = type?.config_schema ?? {};
  const ctx: FormContext = {
    nodeType: def.type,
    root: schema,
    readOnly,
    serverErrors: (name, deep) => {
      const out = [...(errorsByField.get(name) ?? [])];
      // A leaf control holding a list or an object also shows what is wrong inside it ("config.to.1").
      if (deep) for (const [f, msgs] of errorsByField) if (f.startsWith(name + ".")) out.push(...msgs);
      return out;
    },
    showRequired: props.showRequired,
    fallbackExpr: !trigger && type && !hasExpressionAnnotations(schema) ? "template" : undefined,
    hints: props.hints,
    integrations: props.integrations,
    forms: props.forms,
    credentials: props.credentials,
    onChange: (path, value) => change(path, value),
    ...props.formHooks,
  };

  // Problems no input shows: about the node as a whole, its id or type, or the config as a whole.
  const orphanProblems = problems.filter((p) => {
    const f = normalizeField(p.field);
    if (!f || f === "config") return true;
    if (f.startsWith("config.")) return !type;
    return !(f === "name" || f === "timeout" || f === "on_error" || f.startsWith("retry."));
  });

  const err = (name: string) => {
    const msgs = errorsByField.get(name);
    return msgs ? (
      <p className="cm-field-error" data-field-error={name}>
        {msgs.join(" ")}
      </p>
    ) : null;
  };
  const timeoutError = def.timeout && !DURATION.test(def.timeout) ? "A duration such as 30s, 5m or 1h." : null;
  const retry = def.retry ?? {};

  return (
    <aside className="cm-panel" aria-labelledby="cm-panel-title" ref={rootRef}>
      <div className="cm-panel-head">
        <span className={`cm-node-icon cm-cat-${type?.category ?? "unknown"}`} aria-hidden="true">
          {glyphOf(def.type, type?.category)}
        </span>
        <h2 id="cm-panel-title" tabIndex={-1}>
          {type?.title ?? def.type}
        </h2>
        {props.headExtra}
        <button type="button" className="cm-icon-btn" aria-label="Close the node panel" onClick={props.onClose}>
          ×
        </button>
      </div>
      {type ? <p className="cm-help">{type.description}</p> : <p className="cm-field-error">Unknown node type {def.type}: its config is kept as it is.</p>}
      {orphanProblems.length > 0 && (
        <ul className="cm-problems-inline" aria-label="Problems">
          {orphanProblems.map((p, i) => (
            <li key={i} data-field-error={normalizeField(p.field) || undefined}>
              <span aria-hidden="true">⚠ </span>
              {p.field ? <code>{p.field}</code> : null} {p.message}
            </li>
          ))}
        </ul>
      )}
      <form className="cm-form" onSubmit={(e) => e.preventDefault()} noValidate>
        <fieldset disabled={readOnly} className="cm-form-body">
          <div className="cm-field">
            <label htmlFor="cm-node-name">Name</label>
            <input
              id="cm-node-name"
              name="name"
              className="cm-input"
              type="text"
              value={def.name ?? ""}
              placeholder={type?.title}
              maxLength={200}
              autoComplete="off"
              onChange={(e) => change(["name"], e.target.value === "" ? undefined : e.target.value, "name")}
            />
            {err("name")}
          </div>
          <div className="cm-field">
            <label htmlFor="cm-node-id">ID</label>
            <input id="cm-node-id" name="id" className="cm-input cm-mono" type="text" value={def.id} readOnly aria-describedby="cm-node-id-help" />
            <p className="cm-help" id="cm-node-id-help">
              Expressions refer to this node as <code>nodes.{def.id}.output</code>.
            </p>
          </div>
          {type && Object.keys(schema.properties ?? {}).length > 0 && (
            <Section title="Configuration">
              <ObjectFields schema={schema} value={def.config ?? {}} path={["config"]} ctx={ctx} />
            </Section>
          )}
          {type && Object.keys(schema.properties ?? {}).length === 0 && <p className="cm-muted">This node has no settings.</p>}
          {!trigger && (
            <details className="cm-details" open={problems.some((p) => /^(retry|timeout|on_error)/.test(normalizeField(p.field))) || undefined}>
              <summary>Retries, timeout and errors</summary>
              <div className="cm-field">
                <label htmlFor="cm-retry-max">Attempts</label>
                <input
                  id="cm-retry-max"
                  name="retry.max_attempts"
                  className="cm-input"
                  type="number"
                  min={1}
                  max={100}
                  step={1}
                  inputMode="numeric"
                  placeholder="1"
                  value={typeof retry.max_attempts === "number" ? retry.max_attempts : ""}
                  onChange={(e) => change(["retry"], cleanRetry({ ...retry, max_attempts: e.target.value === "" ? undefined : e.target.valueAsNumber }), "retry.max_attempts")}
                />
                <p className="cm-help">How many times to try the node before it fails (1 = no retry).</p>
                {err("retry.max_attempts")}
              </div>
              <div className="cm-field">
                <label htmlFor="cm-retry-backoff">Backoff</label>
                <select
                  id="cm-retry-backoff"
                  name="retry.backoff"
                  className="cm-input"
                  value={retry.backoff ?? ""}
                  onChange={(e) => change(["retry"], cleanRetry({ ...retry, backoff: (e.target.value || undefined) as "fixed" | "exponential" | undefined }), "retry.backoff")}
                >
                  <option value="">Default (exponential)</option>
                  <option value="exponential">exponential</option>
                  <option value="fixed">fixed</option>
                </select>
                {err("retry.backoff")}
              </div>
              <div className="cm-field-row">
                {(["initial_interval", "max_interval"] as const).map((k) => (
                  <div className="cm-field" key={k}>
                    <label htmlFor={`cm-retry-${k}`}>{k === "initial_interval" ? "First wait" : "Longest wait"}</label>
                    <input
                      id={`cm-retry-${k}`}
                      name={`retry.${k}`}
                      className="cm-input cm-mono"
                      type="text"
                      placeholder={k === "initial_interval" ? "1s" : "1m"}
                      value={typeof retry[k] === "string" ? (retry[k] as string) : ""}
                      onChange={(e) => change(["retry"], cleanRetry({ ...retry, [k]: e.target.value || undefined }), `retry.${k}`)}
                    />
                    {err(`retry.${k}`)}
                  </div>
                ))}
              </div>
              <div className="cm-field">
                <label htmlFor="cm-timeout">Timeout</label>
                <input
                  id="cm-timeout"
                  name="timeout"
                  className="cm-input cm-mono"
                  type="text"
                  placeholder="e.g. 30s"
                  value={def.timeout ?? ""}
                  aria-invalid={timeoutError ? true : undefined}
                  onChange={(e) => change(["timeout"], e.target.value || undefined, "timeout")}
                />
                {timeoutError && !errorsByField.get("timeout") && (
                  <p className="cm-field-error" data-field-error="timeout">
                    {timeoutError}
                  </p>
                )}
                {err("timeout")}
              </div>
              <div className="cm-field">
                <label htmlFor="cm-on-error">When it fails</label>
                <select id="cm-on-error" name="on_error" className="cm-input" value={def.on_error ?? ""} onChange={(e) => change(["on_error"], e.target.value || undefined, "on_error")}>
                  <option value="">Stop the workflow (default)</option>
                  <option value="stop">Stop the workflow</option>
                  <option value="continue">Continue (output the error)</option>
                  <option value="error">Route to an “error” output</option>
                </select>
                {err("on_error")}
              </div>
            </details>
          )}
        </fieldset>
      </form>
      {run && <RunData run={run} executionId={props.executionId} testRun={props.testRun} />}
      {props.executionId && !run && <p className="cm-muted cm-pad">This node has not run in the shown {props.testRun ? "test run" : "run"}.</p>}
      {!readOnly && (
        <div className="cm-panel-foot">
          <button type="button" className="cm-btn cm-btn-danger" data-action="delete-node" onClick={props.onDelete}>
            Delete node
          </button>
        </div>
      )}
    </aside>
  );
}

function cleanRetry(r: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined && v !== "" && !(typeof v === "number" && Number.isNaN(v))) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="cm-section">
      <h3 className="cm-section-title">{title}</h3>
      {children}
    </section>
  );
}

function RunData({ run, executionId, testRun }: { run: LatestRun; executionId: string | null; testRun: boolean }) {
  const st = STATUS_TEXT[run.status] ?? STATUS_TEXT.idle;
  return (
    <section className="cm-section cm-run" aria-label={testRun ? "Last test run of this node" : "This node in the shown run"}>
      <h3 className="cm-section-title">
        {testRun ? "Test run" : "Run"}:{" "}
        <span className={`cm-status-chip cm-st-${run.status}`}>
          <span aria-hidden="true">{st.glyph}</span> {st.label}
        </span>
      </h3>
      <p className="cm-muted">
        Attempt {run.attempt}
        {run.item_index !== undefined && run.item_index !== null ? ` · item ${run.item_index}` : ""}
        {run.count > 1 ? ` · ${run.count} runs, showing the latest` : ""}
        {run.port ? ` · took “${run.port}”` : ""}
        {executionId && (
          <>
            {" · "}
            <a href={`/executions/${encodeURIComponent(executionId)}`}>execution</a>
          </>
        )}
      </p>
      {run.error !== undefined && run.error !== null && <JsonBlock label="Error" value={run.error} error />}
      <JsonBlock label="Input" value={run.input} />
      <JsonBlock label="Output" value={run.output} />
    </section>
  );
}

function JsonBlock({ label, value, error }: { label: string; value: unknown; error?: boolean }) {
  const text = value === undefined ? "—" : typeof value === "string" && error ? value : JSON.stringify(value, null, 2);
  return (
    <div className="cm-json">
      <h4>{label}</h4>
      <pre className={error ? "cm-pre cm-pre-error" : "cm-pre"} tabIndex={0}>
        {text}
      </pre>
    </div>
  );
}
