// Shapes of the JSON the editor exchanges with the server (/ui/api/v1, the cookie twin of /api/v1). The API's types
// are generated from the server's OpenAPI document into generated/openapi.ts (`make assets`; a test fails when it
// drifts); the names here alias them, narrowing what the document leaves open ("any JSON value": a node type's
// config schema, a run's trigger) or types apart (a workflow's definition).
//
// A workflow definition is described by its own JSON Schema (/api/v1/schemas/workflow-definition.json), generated
// from the node types, not by the document: its types are kept here. Only what the editor reads is typed; the
// rest is carried through untouched (index signatures), so that a definition saved by the editor keeps fields it
// does not know.
import type { components } from "./generated/openapi";

type Schemas = components["schemas"];

export type Category = Schemas["NodeType"]["category"];

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

/** ports null: one default output (edge port ""). */
export type NodeType = Omit<Schemas["NodeType"], "config_schema"> & { config_schema: JSONSchema };

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

/** A sticky note on the canvas (the engine's Note): plain text, never run. */
export interface DefNote {
  id: string;
  text: string;
  position?: { x: number; y: number };
  size?: { width: number; height: number };
  color?: string;
}

export interface Definition {
  nodes: DefNode[];
  edges: DefEdge[];
  notes?: DefNote[];
  [k: string]: unknown;
}

export type Workflow = Omit<Schemas["Workflow"], "definition"> & { definition: Definition };

export type FieldProblem = Schemas["FieldError"];

/** RFC 9457 problem details as the server writes them; partial, since a failure before the server (the network,
 * a proxy) has none of it. */
export type Problem = Partial<Schemas["Problem"]>;

export type NodeRunStatus = "running" | "succeeded" | "failed" | "skipped";

export type NodeRun = Omit<Schemas["NodeRun"], "status"> & { status: NodeRunStatus };

export interface TriggerData {
  body?: unknown;
  headers?: unknown;
  query?: unknown;
  method?: string;
  [k: string]: unknown;
}

export type Execution = Omit<Schemas["Execution"], "trigger" | "nodes"> & {
  trigger?: TriggerData | null;
  nodes?: NodeRun[] | null;
};

export type VersionInfo = Omit<Schemas["Version"], "definition"> & { definition?: Definition };

export type WebhookInfo = Schemas["WebhookInfo"];

export type Integration = Schemas["Integration"];

export type FormInfo = Schemas["Form"];

export type IntegrationKind = Schemas["IntegrationKind"];

export type IntegrationField = Schemas["IntegrationField"];

export type Grant = Schemas["Grant"];

export type Member = Schemas["Member"];

export type Permission = Schemas["GrantInput"]["permission"];
