// The editor's dialogs: test run (sample data + recent executions), version history, webhook details. They use the
// native <dialog> (showModal), which brings focus trapping, Escape to close and a backdrop for free.
import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { errorMessage, type Api } from "./api";
import { STATUS_TEXT } from "./icons";
import type { DefNode, Execution, VersionInfo, WebhookInfo } from "./types";

export function Dialog({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog ref={ref} className={`cm-dialog${wide ? " cm-dialog-wide" : ""}`} aria-labelledby={titleId} onClose={onClose}>
      <div className="cm-dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="cm-icon-btn" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      <div className="cm-dialog-body">{children}</div>
    </dialog>
  );
}

function when(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

const MIN = 60e3;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/**
 * How long ago (or until) iso is, in the words of the executions list (views.RelativeTime on the server,
 * static/js/reltime.js in pages): "just now", "5 min ago", "yesterday", "in 3 h"; past a month, the date.
 */
export function relativeTime(iso: string, now = Date.now()): string {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const date = () => new Date(t).toISOString().slice(0, 10);
  let d = now - t;
  if (d < -30e3) {
    d = -d;
    if (d < HOUR) return `in ${Math.max(1, Math.ceil(d / MIN))} min`;
    if (d < DAY) return `in ${Math.floor(d / HOUR)} h`;
    if (d < 30 * DAY) return `in ${Math.floor(d / DAY)} days`;
    return date();
  }
  if (d < MIN) return "just now";
  if (d < HOUR) return `${Math.floor(d / MIN)} min ago`;
  if (d < DAY) return `${Math.floor(d / HOUR)} h ago`;
  if (d < 2 * DAY) return "yesterday";
  if (d < 30 * DAY) return `${Math.floor(d / DAY)} days ago`;
  return date();
}

/** An execution's short identity, as the executions list writes it: "#12", or its short id before numbers existed. */
export function runLabel(ex: Pick<Execution, "id" | "run_number">): string {
  return ex.run_number ? `#${ex.run_number}` : ex.id.slice(0, 8);
}

/** An execution's kind as the executions list shows it: production plainly, test and retry as badges. */
export function KindBadge({ kind }: { kind: string }) {
  if (kind === "production") return <span className="cm-muted" data-run-kind={kind}>production</span>;
  return (
    <span className={`badge kind-${kind}`} data-run-kind={kind}>
      {kind}
    </span>
  );
}

/** Sample data of the last test run, per workflow, so that the next test starts from it. */
const sampleKey = (workflowId: string) => `cm-editor-sample:${workflowId}`;
export function lastSample(workflowId: string): string {
  try {
    return localStorage.getItem(sampleKey(workflowId)) ?? "{}";
  } catch {
    return "{}";
  }
}
function rememberSample(workflowId: string, text: string) {
  try {
    localStorage.setItem(sampleKey(workflowId), text);
  } catch {
    /* storage may be off (private mode): the sample is just not remembered */
  }
}

export function TestRunDialog(props: {
  api: Api;
  workflowId: string;
  dirty: boolean;
  onClose: () => void;
  /** Starts the run; resolves to an error message to show, or null when it started. */
  onRun: (sample: unknown) => Promise<string | null>;
}) {
  const { api, workflowId } = props;
  const [text, setText] = useState(() => lastSample(workflowId));
  const [error, setError] = useState<string | null>(null);
  const [runError, setRunError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [recent, setRecent] = useState<Execution[] | null>(null);
  const [recentError, setRecentError] = useState<string | null>(null);
  useEffect(() => {
    api.executions(workflowId, 10).then(setRecent, (e) => setRecentError(errorMessage(e)));
  }, [api, workflowId]);

  const parse = (t: string): { ok: true; value: unknown } | { ok: false } => {
    try {
      return { ok: true, value: t.trim() === "" ? {} : (JSON.parse(t) as unknown) };
    } catch (e) {
      setError(`Not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
      return { ok: false };
    }
  };
  const submit = async () => {
    const p = parse(text);
    if (!p.ok) return;
    setError(null);
    setRunError(null);
    setBusy(true);
    rememberSample(workflowId, text);
    const err = await props.onRun(p.value);
    setBusy(false);
    if (err) setRunError(err);
  };

  return (
    <Dialog title="Test run" onClose={props.onClose} wide>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
        noValidate
      >
        <div className="cm-field">
          <label htmlFor="cm-sample">Sample trigger data (JSON)</label>
          <textarea
            id="cm-sample"
            name="sample"
            className="cm-input cm-mono"
            rows={10}
            spellCheck={false}
            value={text}
            aria-invalid={error ? true : undefined}
            aria-describedby="cm-sample-help cm-sample-err"
            onChange={(e) => {
              setText(e.target.value);
              if (error) setError(null);
            }}
            onBlur={() => text.trim() && parse(text)}
          />
          <p className="cm-help" id="cm-sample-help">
            It becomes <code>trigger.body</code>. The run uses the saved version of the workflow.
          </p>
          <p className="cm-field-error" data-field-error="sample" id="cm-sample-err" hidden={!error}>
            {error}
          </p>
        </div>
        {props.dirty && <p className="cm-note">You have unsaved changes: they will be saved first.</p>}
        {runError && (
          <p className="cm-field-error" role="alert">
            {runError}
          </p>
        )}
        <div className="cm-dialog-actions">
          <button type="submit" className="cm-btn cm-btn-primary" data-action="run-test" disabled={busy}>
            {busy ? "Starting…" : props.dirty ? "Save and run" : "Run"}
          </button>
          <button type="button" className="cm-btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
      <section className="cm-section">
        <h3 className="cm-section-title">Take data from a recent execution</h3>
        {recentError && <p className="cm-field-error">{recentError}</p>}
        {!recent && !recentError && <p className="cm-muted">Loading…</p>}
        {recent && recent.length === 0 && <p className="cm-muted">No executions yet.</p>}
        {recent && recent.length > 0 && (
          <ul className="cm-rows">
            {recent.map((ex) => {
              const st = STATUS_TEXT[ex.status] ?? STATUS_TEXT.idle;
              return (
                <li key={ex.id} className="cm-row" data-execution-id={ex.id}>
                  <a className="cm-run-number" href={`/executions/${encodeURIComponent(ex.id)}`} title={`Execution ${ex.id}`}>
                    <code data-run-number>{runLabel(ex)}</code>
                  </a>
                  <span className={`cm-status-chip cm-st-${ex.status}`}>
                    <span aria-hidden="true">{st.glyph}</span> {st.label}
                  </span>
                  <KindBadge kind={ex.kind} />
                  <span className="cm-row-main">
                    <time dateTime={ex.created_at} title={when(ex.created_at)} data-reltime>
                      {relativeTime(ex.created_at)}
                    </time>{" "}
                    · {ex.trigger_kind ?? "run"} · v{ex.version}
                  </span>
                  <button
                    type="button"
                    className="cm-btn cm-btn-small"
                    aria-label={`Use the trigger data of run ${runLabel(ex)}`}
                    onClick={() => {
                      setText(JSON.stringify(ex.trigger?.body ?? {}, null, 2));
                      setError(null);
                    }}
                  >
                    Use its data
                  </button>
                </li>
              );
            })}
          </ul>
        )}
      </section>
    </Dialog>
  );
}

export function VersionsDialog(props: {
  api: Api;
  workflowId: string;
  current: number;
  canRestore: boolean;
  dirty: boolean;
  onClose: () => void;
  onRestore: (n: number) => Promise<void>;
}) {
  const { api, workflowId } = props;
  const [items, setItems] = useState<VersionInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [view, setView] = useState<VersionInfo | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api.versions(workflowId).then(setItems, (e) => setError(errorMessage(e)));
  }, [api, workflowId]);

  const restore = async (n: number) => {
    const msg = `Restore version ${n}? It becomes a new version with that definition.${props.dirty ? " Your unsaved changes will be lost." : ""}`;
    if (!window.confirm(msg)) return;
    setBusy(true);
    try {
      await props.onRestore(n);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  const show = async (n: number) => {
    try {
      setView(await api.version(workflowId, n));
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  return (
    <Dialog title="Versions" onClose={props.onClose} wide>
      {error && (
        <p className="cm-field-error" role="alert">
          {error}
        </p>
      )}
      {!items && !error && <p className="cm-muted">Loading…</p>}
      {items && (
        <ul className="cm-rows">
          {items.map((v) => (
            <li key={v.number} className="cm-row" data-version={v.number}>
              <strong>v{v.number}</strong>
              <span className="cm-row-main">
                {v.message || <span className="cm-muted">no message</span>}
                <span className="cm-muted">
                  {" "}
                  · {v.author_name || "someone"} · {when(v.created_at)}
                </span>
              </span>
              <button type="button" className="cm-btn cm-btn-small" onClick={() => void show(v.number)} aria-label={`View version ${v.number}`}>
                View
              </button>
              {v.number === props.current ? (
                <span className="cm-badge">current</span>
              ) : (
                props.canRestore && (
                  <button
                    type="button"
                    className="cm-btn cm-btn-small"
                    data-action="restore"
                    disabled={busy}
                    aria-label={`Restore version ${v.number}`}
                    onClick={() => void restore(v.number)}
                  >
                    Restore
                  </button>
                )
              )}
            </li>
          ))}
        </ul>
      )}
      {view && (
        <section className="cm-section">
          <h3 className="cm-section-title">
            Version {view.number}: {view.definition?.nodes.length ?? 0} nodes, {view.definition?.edges.length ?? 0} connections
          </h3>
          <ul className="cm-version-nodes">
            {(view.definition?.nodes ?? []).map((n: DefNode) => (
              <li key={n.id}>
                <code>{n.id}</code> {n.name ? `“${n.name}” ` : ""}
                <span className="cm-muted">{n.type}</span>
              </li>
            ))}
          </ul>
          <details>
            <summary>Definition (JSON)</summary>
            <pre className="cm-pre" tabIndex={0}>
              {JSON.stringify(view.definition, null, 2)}
            </pre>
          </details>
        </section>
      )}
    </Dialog>
  );
}

export function WebhookDialog(props: {
  api: Api;
  workflowId: string;
  trigger: DefNode;
  onClose: () => void;
  onForbidden: () => void;
}) {
  const { api, workflowId, onForbidden } = props;
  const [info, setInfo] = useState<WebhookInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  useEffect(() => {
    api.webhook(workflowId).then(setInfo, (e) => {
      if (e && typeof e === "object" && "status" in e && (e as { status: number }).status === 403) onForbidden();
      setError(errorMessage(e));
    });
  }, [api, workflowId, onForbidden]);

  const copy = async (what: string, value: string, inputId: string) => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(what);
    } catch {
      // Clipboard refused (no permission, insecure origin): select the text so a person can copy it.
      const el = document.getElementById(inputId) as HTMLInputElement | null;
      el?.select();
      setCopied(`${what} selected: press Ctrl+C`);
    }
  };
  const auth = typeof props.trigger.config?.auth === "string" ? props.trigger.config.auth : "hmac";
  const header = info?.signature_header || "X-ConcertMaster-Signature";
  const headerName = typeof props.trigger.config?.header_name === "string" ? props.trigger.config.header_name : "the configured header";

  return (
    <Dialog title="Webhook" onClose={props.onClose}>
      {error && (
        <p className="cm-field-error" role="alert">
          {error}
        </p>
      )}
      {!info && !error && <p className="cm-muted">Loading…</p>}
      {info && (
        <>
          <div className="cm-field">
            <label htmlFor="cm-webhook-url">URL</label>
            <div className="cm-copy-row">
              <input id="cm-webhook-url" className="cm-input cm-mono" readOnly value={info.url} />
              <button type="button" className="cm-btn" data-action="copy-url" onClick={() => void copy("URL", info.url, "cm-webhook-url")}>
                Copy
              </button>
            </div>
          </div>
          <div className="cm-field">
            <label htmlFor="cm-webhook-secret">Secret</label>
            <div className="cm-copy-row">
              <input id="cm-webhook-secret" className="cm-input cm-mono" readOnly value={info.secret} autoComplete="off" />
              <button type="button" className="cm-btn" data-action="copy-secret" onClick={() => void copy("Secret", info.secret, "cm-webhook-secret")}>
                Copy
              </button>
            </div>
          </div>
          <p className="cm-muted" aria-live="polite">
            {copied ? `${copied}${copied.includes("selected") ? "" : " copied."}` : ""}
          </p>
          <div className="cm-help">
            {auth === "hmac" && (
              <p>
                Send <code>POST</code> requests signed with the secret: header{" "}
                <code>
                  {header}: t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256(secret, "&lt;t&gt;.&lt;raw body&gt;")&gt;
                </code>
                . Requests with an old timestamp or a wrong signature are refused.
              </p>
            )}
            {auth === "header" && (
              <p>
                Callers send the secret in the header <code>{headerName}</code>.
              </p>
            )}
            {auth === "basic" && <p>Callers authenticate with HTTP basic auth, as set in the trigger's Authentication.</p>}
            {auth === "none" && <p>Anyone who knows the URL can start this workflow (Authentication: none).</p>}
            <p>The request body becomes <code>trigger.body</code>. The workflow must be active to receive calls.</p>
          </div>
        </>
      )}
    </Dialog>
  );
}
