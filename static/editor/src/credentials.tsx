// "Create new…" beside a node's credential picker: a form generated from the integration kind's description (GET
// integration-kinds, the same one the integrations page's typed forms come from), which creates the integration
// through the API and selects it, without leaving the editor. Secrets are password inputs and never shown back.
// Creating integrations takes an admin's or owner's role: anyone else sees the button disabled, saying so, rather
// than a form the server would refuse.
import { useEffect, useId, useState } from "react";
import { createPortal } from "react-dom";
import { ApiError, errorMessage } from "./api";
import { Dialog } from "./dialogs";
import type { Integration, IntegrationField, IntegrationKind } from "./types";

export interface CredentialActions {
  /** Whether the viewer's role may create integrations (the page says, as the server decides). */
  canCreate: boolean;
  kinds(): Promise<IntegrationKind[]>;
  create(input: { name: string; kind: string; settings: Record<string, unknown> }): Promise<Integration>;
}

export function CreateCredential({ kinds, actions, onCreated }: { kinds: string[] | null; actions: CredentialActions; onCreated: (i: Integration) => void }) {
  const [open, setOpen] = useState(false);
  const noteId = useId();
  if (!actions.canCreate) {
    return (
      <>
        <button type="button" className="cm-btn cm-btn-small" data-action="create-credential" disabled aria-describedby={noteId}>
          Create new…
        </button>
        <p className="cm-help cm-picker-note" id={noteId} data-create-credential-denied>
          Only admins and owners create credentials: ask one to add them on <a href="/integrations">Integrations</a>.
        </p>
      </>
    );
  }
  return (
    <>
      <button type="button" className="cm-btn cm-btn-small" data-action="create-credential" onClick={() => setOpen(true)}>
        Create new…
      </button>
      {/* A portal: the picker sits inside the panel's form, and a form may not hold another. */}
      {open &&
        createPortal(
        <CredentialDialog
          kinds={kinds}
          actions={actions}
          onClose={() => setOpen(false)}
          onCreated={(i) => {
            setOpen(false);
            onCreated(i);
          }}
        />,
          document.body,
        )}
    </>
  );
}

function visible(f: IntegrationField, values: Record<string, unknown>, fields: IntegrationField[]): boolean {
  const w = f.shown_when;
  if (!w) return true;
  const dep = fields.find((x) => x.name === w.field);
  const v = values[w.field] ?? dep?.enum?.[0];
  return (w.in ?? []).includes(String(v ?? ""));
}

function CredentialDialog(props: { kinds: string[] | null; actions: CredentialActions; onClose: () => void; onCreated: (i: Integration) => void }) {
  const [all, setAll] = useState<IntegrationKind[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [kind, setKind] = useState("");
  const [name, setName] = useState("");
  const [values, setValues] = useState<Record<string, unknown>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    props.actions.kinds().then(
      (ks) => {
        const usable = ks.filter((k) => !props.kinds || props.kinds.includes(k.kind));
        setAll(usable);
        if (usable.length) setKind(usable[0].kind);
      },
      (e) => setLoadError(errorMessage(e)),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const k = all?.find((x) => x.kind === kind);
  const fields = k?.fields ?? [];

  const submit = async () => {
    if (!k) return;
    const settings: Record<string, unknown> = {};
    for (const f of fields) {
      if (!visible(f, values, fields)) continue;
      const v = values[f.name];
      if (v === undefined || v === "") {
        if (f.enum?.length && f.required) settings[f.name] = f.enum[0];
        continue;
      }
      if (f.type === "integer") settings[f.name] = Number(v);
      else if (f.type === "list") settings[f.name] = String(v).split("\n").map((l) => l.trim()).filter(Boolean);
      else settings[f.name] = v;
    }
    setBusy(true);
    setError(null);
    setErrors({});
    try {
      props.onCreated(await props.actions.create({ name: name.trim(), kind: k.kind, settings }));
    } catch (e) {
      const byField: Record<string, string> = {};
      if (e instanceof ApiError) for (const fe of e.problem.errors ?? []) byField[(fe.field ?? "").replace(/^settings\./, "")] = fe.message;
      setErrors(byField);
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (n: string) =>
    errors[n] ? (
      <p className="cm-field-error" data-field-error={`credential.${n}`}>
        {errors[n]}
      </p>
    ) : null;

  return (
    <Dialog title="New credentials" onClose={props.onClose}>
      {loadError && <p className="cm-field-error">{loadError}</p>}
      {all === null && !loadError && <p className="cm-muted">Loading…</p>}
      {all && all.length === 0 && <p className="cm-muted">No kind of integration fits this node.</p>}
      {k && (
        <form
          className="cm-form cm-credential-form"
          data-credential-form={k.kind}
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          {all && all.length > 1 && (
            <div className="cm-field">
              <label htmlFor="cm-cred-kind">Kind</label>
              <select id="cm-cred-kind" className="cm-input" value={kind} onChange={(e) => setKind(e.target.value)}>
                {all.map((x) => (
                  <option key={x.kind} value={x.kind}>
                    {x.label}
                  </option>
                ))}
              </select>
            </div>
          )}
          <div className="cm-field">
            <label htmlFor="cm-cred-name">Name</label>
            <input id="cm-cred-name" name="credential.name" className="cm-input" type="text" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
            {fieldError("name")}
          </div>
          {fields.filter((f) => visible(f, values, fields)).map((f) => (
            <CredentialInput key={f.name} field={f} value={values[f.name]} onValue={(v) => setValues({ ...values, [f.name]: v })} error={fieldError(f.name)} />
          ))}
          {error && (
            <p className="cm-field-error" role="alert">
              {error}
            </p>
          )}
          <div className="cm-dialog-actions">
            <button type="button" className="cm-btn cm-btn-primary" data-action="save-credential" disabled={busy || name.trim() === ""} onClick={() => void submit()}>
              Create and use
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

function CredentialInput({ field: f, value, onValue, error }: { field: IntegrationField; value: unknown; onValue: (v: unknown) => void; error: React.ReactNode }) {
  const id = `cm-cred-${f.name}`;
  const name = `credential.${f.name}`;
  const help = f.help ? <p className="cm-help">{f.help}</p> : null;
  if (f.type === "boolean") {
    return (
      <div className="cm-field cm-field-check">
        <label>
          <input type="checkbox" name={name} checked={value === true} onChange={(e) => onValue(e.target.checked)} /> {f.label}
        </label>
        {help}
        {error}
      </div>
    );
  }
  let control: React.ReactNode;
  if (f.enum?.length) {
    control = (
      <select id={id} name={name} className="cm-input" value={value === undefined ? f.enum[0] : String(value)} onChange={(e) => onValue(e.target.value)}>
        {f.enum.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  } else if (f.type === "list") {
    control = <textarea id={id} name={name} className="cm-input cm-mono" rows={3} value={typeof value === "string" ? value : ""} onChange={(e) => onValue(e.target.value)} />;
  } else {
    control = (
      <input
        id={id}
        name={name}
        className="cm-input"
        type={f.secret ? "password" : f.type === "integer" ? "number" : "text"}
        autoComplete={f.secret ? "new-password" : "off"}
        value={typeof value === "string" || typeof value === "number" ? value : ""}
        onChange={(e) => onValue(e.target.value)}
      />
    );
  }
  return (
    <div className="cm-field">
      <label htmlFor={id}>
        {f.label}
        {f.required && <span className="cm-required"> *</span>}
      </label>
      {control}
      {help}
      {error}
    </div>
  );
}
