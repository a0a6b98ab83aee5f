// The sharing drawer: who the workflow is shared with (view < run < edit), granting a member, changing a grant and
// withdrawing it, through the sharing API (GET/PUT/DELETE workflows/{id}/sharing). The editor shows it only to
// those the API says may share (can_share); the server decides every change again.
import { useCallback, useEffect, useState } from "react";
import { errorMessage, type Api } from "./api";
import type { Grant, Member, Permission } from "./types";

const PERMISSIONS: { value: Permission; label: string }[] = [
  { value: "view", label: "View" },
  { value: "run", label: "Run" },
  { value: "edit", label: "Edit" },
];

export function SharingDrawer({ api, workflowId, onClose }: { api: Api; workflowId: string; onClose: () => void }) {
  const [grants, setGrants] = useState<Grant[] | null>(null);
  const [members, setMembers] = useState<Member[]>([]);
  const [who, setWho] = useState("");
  const [perm, setPerm] = useState<Permission>("view");
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      const [sh, ms] = await Promise.all([api.sharing(workflowId), api.members()]);
      setGrants(sh.items ?? []);
      setMembers(ms);
    } catch (e) {
      setGrants([]);
      setMessage({ text: errorMessage(e), error: true });
    }
  }, [api, workflowId]);
  useEffect(() => void load(), [load]);

  const act = async (what: () => Promise<unknown>, done: string) => {
    setBusy(true);
    try {
      await what();
      setMessage({ text: done, error: false });
      await load();
    } catch (e) {
      setMessage({ text: errorMessage(e), error: true });
    } finally {
      setBusy(false);
    }
  };
  const granted = new Set((grants ?? []).map((g) => g.user_id));
  const candidates = members.filter((m) => !granted.has(m.user_id));
  const label = (m: { name: string; email: string }) => (m.name ? `${m.name} (${m.email})` : m.email);

  return (
    <aside className="cm-panel cm-drawer" aria-labelledby="cm-sharing-title" data-drawer-panel="sharing">
      <div className="cm-panel-head">
        <h2 id="cm-sharing-title">Sharing</h2>
        <button type="button" className="cm-icon-btn" aria-label="Close sharing" onClick={onClose}>
          ×
        </button>
      </div>
      <p className="cm-help">A grant lets a member view, run or edit this workflow, whatever their role allows elsewhere.</p>
      {message && (
        <p className={message.error ? "cm-field-error" : "cm-status cm-status-ok"} role={message.error ? "alert" : "status"} data-sharing-message>
          {message.text}
        </p>
      )}
      {grants === null ? (
        <p className="cm-muted">Loading…</p>
      ) : grants.length === 0 ? (
        <p className="cm-muted" data-sharing-empty>
          Not shared with anyone yet.
        </p>
      ) : (
        <ul className="cm-grants" aria-label="Members with access">
          {grants.map((g) => (
            <li key={g.user_id} className="cm-grant" data-grant={g.email}>
              <span className="cm-grant-who">{label(g)}</span>
              <select
                className="cm-input"
                aria-label={`Permission of ${label(g)}`}
                value={g.permission}
                disabled={busy}
                onChange={(e) => void act(() => api.share(workflowId, g.user_id, e.target.value as Permission), `${label(g)} may now ${e.target.value}.`)}
              >
                {PERMISSIONS.map((p) => (
                  <option key={p.value} value={p.value}>
                    {p.label}
                  </option>
                ))}
              </select>
              <button
                type="button"
                className="cm-btn cm-btn-small cm-btn-danger"
                aria-label={`Stop sharing with ${label(g)}`}
                disabled={busy}
                onClick={() => void act(() => api.unshare(workflowId, g.user_id), `No longer shared with ${label(g)}.`)}
              >
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        className="cm-form cm-share-form"
        onSubmit={(e) => {
          e.preventDefault();
          const m = members.find((x) => x.user_id === who);
          if (m) void act(() => api.share(workflowId, m.user_id, perm), `Shared with ${label(m)} (${perm}).`).then(() => setWho(""));
        }}
      >
        <div className="cm-field">
          <label htmlFor="cm-share-member">Member</label>
          <select id="cm-share-member" name="member" className="cm-input" value={who} onChange={(e) => setWho(e.target.value)}>
            <option value="">Choose a member…</option>
            {candidates.map((m) => (
              <option key={m.user_id} value={m.user_id}>
                {label(m)} · {m.role}
              </option>
            ))}
          </select>
        </div>
        <div className="cm-field">
          <label htmlFor="cm-share-permission">Permission</label>
          <select id="cm-share-permission" name="permission" className="cm-input" value={perm} onChange={(e) => setPerm(e.target.value as Permission)}>
            {PERMISSIONS.map((p) => (
              <option key={p.value} value={p.value}>
                {p.label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="cm-btn cm-btn-primary" data-action="share" disabled={busy || !who}>
          Share
        </button>
      </form>
    </aside>
  );
}
