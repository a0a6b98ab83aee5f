// A typed client for the cookie-authenticated API the page mounts under data-api (/ui/api/v1). Every failure
// becomes an ApiError carrying the server's problem+json, so callers can show `detail` and map `errors` to fields.
import type {
  Definition,
  Execution,
  FormInfo,
  Grant,
  Integration,
  IntegrationKind,
  Member,
  Permission,
  NodeType,
  Problem,
  VersionInfo,
  WebhookInfo,
  Workflow,
} from "./types";

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `request failed (${status})`);
    this.status = status;
    this.problem = problem;
  }
}

/** Reads a message worth showing a person from whatever a failed call threw. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return "Your session has ended: sign in again (in another tab) and retry.";
    return err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

export class Api {
  constructor(readonly base: string) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const init: RequestInit = { method, credentials: "same-origin", headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(this.base + path, init);
    } catch {
      throw new ApiError(0, { title: "Network error", detail: "The server could not be reached." });
    }
    const text = await res.text();
    let data: unknown = undefined;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = undefined;
      }
    }
    if (!res.ok) {
      const problem: Problem =
        data && typeof data === "object" ? (data as Problem) : { title: res.statusText, status: res.status };
      throw new ApiError(res.status, problem);
    }
    return data as T;
  }

  nodeTypes() {
    return this.request<{ items: NodeType[] }>("GET", "/node-types").then((r) => r.items ?? []);
  }
  workflow(id: string) {
    return this.request<Workflow>("GET", `/workflows/${enc(id)}`);
  }
  save(id: string, definition: Definition, version: number, message?: string) {
    return this.request<Workflow>("PUT", `/workflows/${enc(id)}`, { definition, version, ...(message ? { message } : {}) });
  }
  validate(definition: Definition) {
    return this.request<{ valid: boolean }>("POST", "/workflows/validate", { definition });
  }
  setActive(id: string, active: boolean) {
    return this.request<Workflow>("POST", `/workflows/${enc(id)}/${active ? "activate" : "deactivate"}`);
  }
  webhook(id: string) {
    return this.request<WebhookInfo>("GET", `/workflows/${enc(id)}/webhook`);
  }
  versions(id: string) {
    return this.request<{ items: VersionInfo[] }>("GET", `/workflows/${enc(id)}/versions`).then((r) => r.items ?? []);
  }
  version(id: string, n: number) {
    return this.request<VersionInfo>("GET", `/workflows/${enc(id)}/versions/${n}`);
  }
  restore(id: string, n: number) {
    return this.request<Workflow>("POST", `/workflows/${enc(id)}/versions/${n}/restore`);
  }
  /** A test run from the editor: nodes with pinned data start from it instead of running (pins=true). */
  run(id: string, sample: unknown) {
    return this.request<{ execution_id: string }>("POST", `/workflows/${enc(id)}/run?pins=true`, sample);
  }
  pins(id: string) {
    return this.request<{ items: Pin[] }>("GET", `/workflows/${enc(id)}/pins`).then((r) => r.items ?? []);
  }
  /** Pins data as a node's output, leaving on port ("" the default port; a condition's branch otherwise). */
  pin(id: string, nodeId: string, data: unknown, port: string) {
    return this.request<Pin>("PUT", `/workflows/${enc(id)}/pins/${enc(nodeId)}`, { data, port });
  }
  unpin(id: string, nodeId: string) {
    return this.request<void>("DELETE", `/workflows/${enc(id)}/pins/${enc(nodeId)}`);
  }
  /** The newest manual run's id, or null when the workflow was never test-run. */
  lastTestRun(id: string) {
    return this.request<{ execution_id: string | null }>("GET", `/workflows/${enc(id)}/last-test-run`).then((r) => r.execution_id ?? null);
  }
  preview(id: string, body: { kind: string; source: string; input?: unknown; trigger?: unknown }) {
    return this.request<PreviewResult>("POST", `/workflows/${enc(id)}/preview`, body);
  }
  executions(workflowId: string, limit = 10) {
    return this.request<{ items: Execution[] }>(
      "GET",
      `/executions?workflow_id=${enc(workflowId)}&limit=${limit}`,
    ).then((r) => r.items ?? []);
  }
  execution(id: string) {
    return this.request<Execution>("GET", `/executions/${enc(id)}`);
  }
  executionEventsURL(id: string) {
    return `${this.base}/executions/${enc(id)}/events`;
  }
  integrations() {
    return this.request<{ items: Integration[] }>("GET", "/integrations").then((r) => r.items ?? []);
  }
  integrationKinds() {
    return this.request<{ items: IntegrationKind[] | null }>("GET", "/integration-kinds").then((r) => r.items ?? []);
  }
  createIntegration(input: { name: string; kind: string; settings: Record<string, unknown> }) {
    return this.request<Integration>("POST", "/integrations", input);
  }
  members() {
    return this.request<{ members: Member[] | null }>("GET", "/members").then((r) => r.members ?? []);
  }
  sharing(workflowId: string) {
    return this.request<{ items: Grant[] | null; can_share: boolean }>("GET", `/workflows/${enc(workflowId)}/sharing`);
  }
  share(workflowId: string, userId: string, permission: Permission) {
    return this.request<Grant>("PUT", `/workflows/${enc(workflowId)}/sharing/${enc(userId)}`, { permission });
  }
  unshare(workflowId: string, userId: string) {
    return this.request<void>("DELETE", `/workflows/${enc(workflowId)}/sharing/${enc(userId)}`);
  }
  forms() {
    return this.request<{ items: FormInfo[] }>("GET", "/forms").then((r) => r.items ?? []);
  }
}

const enc = encodeURIComponent;

/** A node output pinned in the editor, and the output port it leaves on ("" the default port). */
export interface Pin {
  node_id: string;
  port: string;
  data: unknown;
  updated_at: string;
}

/** A preview's answer: the value, or the error a run would fail with. */
export interface PreviewResult {
  ok: boolean;
  result?: unknown;
  error?: string;
}
