// Shapes of the JSON the editor exchanges with the server (see /ui/api/v1 in handlers/ui_api.go). Only what the
// editor reads is typed; everything else is carried through untouched (index signatures), so that a definition
// saved by the editor keeps fields it does not know.

export type Category = "trigger" | "transform" | "condition" | "action";

/** A JSON Schema (2020-12) object as the node catalogue sends it; only the keywords the form generator uses. */
export interface JSONSchema {
  $ref?: string;
  $defs?: Record<string, JSONSchema>;
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JSONSchema>;
  additionalProperties?: boolean | JSONSchema;
  required?: string[];
  items?: JSONSchema | boolean;
  oneOf?: JSONSchema[];
  anyOf?: JSONSchema[];
  "x-expression"?: ExpressionKind;
  [k: string]: unknown;
}

export type ExpressionKind = "expression" | "template" | "jq";

export interface NodeType {
  name: string;
  category: Category;
  title: string;
  description: string;
  config_schema: JSONSchema;
  /** null: one default output (edge port ""). */
  ports: string[] | null;
  side_effects: boolean;
  example?: unknown;
}

export interface RetryPolicy {
  max_attempts?: number;
  backoff?: "exponential" | "fixed";
  initial_interval?: string;
  max_interval?: string;
  [k: string]: unknown;
}

export type OnError = "stop" | "continue" | "error";

export interface DefNode {
  id: string;
  type: string;
  name?: string;
  position?: { x: number; y: number };
  config?: Record<string, unknown>;
  retry?: RetryPolicy;
  timeout?: string;
  on_error?: OnError;
  [k: string]: unknown;
}

export interface DefEdge {
  from: string;
  port?: string;
  to: string;
  [k: string]: unknown;
}

export interface Definition {
  nodes: DefNode[];
  edges: DefEdge[];
  [k: string]: unknown;
}

export interface Workflow {
  id: string;
  name: string;
  description?: string;
  version: number;
  active: boolean;
  archived?: boolean;
  updated_at?: string;
  next_run_at?: string | null;
  definition: Definition;
  [k: string]: unknown;
}

export interface FieldProblem {
  node_id?: string;
  field?: string;
  message: string;
}

/** RFC 9457 problem details as the server writes them. */
export interface Problem {
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: FieldProblem[];
}

export type ExecutionStatus = "queued" | "running" | "waiting" | "succeeded" | "failed" | "canceled";
export type NodeRunStatus = "running" | "succeeded" | "failed" | "skipped";

export interface NodeRun {
  node_id: string;
  type: string;
  status: NodeRunStatus;
  attempt: number;
  item_index?: number | null;
  port?: string | null;
  input?: unknown;
  output?: unknown;
  error?: unknown;
  started_at?: string | null;
  finished_at?: string | null;
}

export interface TriggerData {
  body?: unknown;
  headers?: unknown;
  query?: unknown;
  method?: string;
  [k: string]: unknown;
}

export interface Execution {
  id: string;
  workflow_id: string;
  version: number;
  status: ExecutionStatus;
  trigger_kind?: string;
  trigger?: TriggerData | null;
  error?: unknown;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
  nodes?: NodeRun[];
}

export interface VersionInfo {
  number: number;
  author_id?: string | null;
  author_name?: string | null;
  message?: string | null;
  created_at: string;
  definition?: Definition;
}

export interface WebhookInfo {
  url: string;
  secret: string;
  signature_header?: string;
}

export interface Integration {
  id: string;
  name: string;
  kind: string;
  [k: string]: unknown;
}

export interface FormInfo {
  id: string;
  name: string;
  slug: string;
  [k: string]: unknown;
}
