// What an expression in a node's config can refer to, offered as clickable hints: the trigger, the input (the
// parent's output, keyed by parent id when there are several), every upstream node's output, item/index inside a
// loop body, and the execution. After a test run the actual keys of those values are offered too.
import { ancestors, inLoopBody } from "./definition";
import type { Definition, ExpressionKind, TriggerData } from "./types";

export interface Hint {
  /** The path in expression syntax (trigger.body.total). */
  path: string;
  /** What inserting the hint puts into the field, in the field's syntax. */
  insert: string;
}

/** Values observed in a run, used to offer real keys. */
export interface RunValues {
  trigger?: TriggerData | null;
  outputs: Record<string, unknown>;
}

const MAX_KEYS = 12;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function member(prefix: string, key: string): string {
  return IDENT.test(key) ? `${prefix}.${key}` : `${prefix}[${JSON.stringify(key)}]`;
}

/** Paths of an object's keys, up to `depth` levels. */
export function keyPaths(prefix: string, value: unknown, depth: number, out: string[] = []): string[] {
  if (depth <= 0 || !value || typeof value !== "object" || Array.isArray(value)) return out;
  let n = 0;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (n++ >= MAX_KEYS) break;
    const p = member(prefix, k);
    out.push(p);
    keyPaths(p, v, depth - 1, out);
  }
  return out;
}

/** Rewrites an expression path into jq syntax: `.` is the input, the rest are $variables. */
function toJq(path: string): string {
  if (path === "input") return ".";
  if (path.startsWith("input.") || path.startsWith("input[")) return path.slice(5).replace(/^\[/, ".[");
  return "$" + path;
}

export function wrap(path: string, kind: ExpressionKind): string {
  if (kind === "template") return `{{ ${path} }}`;
  if (kind === "jq") return toJq(path);
  return path;
}

export function hintsFor(
  nodeId: string,
  def: Pick<Definition, "nodes" | "edges">,
  kind: ExpressionKind,
  run?: RunValues,
): Hint[] {
  const paths: string[] = [];
  const trigger = def.nodes.find((n) => n.type.startsWith("trigger."));
  paths.push("trigger", "trigger.body");
  if (trigger?.type === "trigger.webhook") paths.push("trigger.headers", "trigger.query", "trigger.method");
  if (trigger?.type === "trigger.form") paths.push("trigger.data", "trigger.submission_id");
  if (trigger?.type === "trigger.error")
    paths.push("trigger.execution.id", "trigger.execution.url", "trigger.workflow.name", "trigger.node.name",
      "trigger.error.code", "trigger.error.message", "trigger.trigger", "trigger.trigger_truncated");
  if (run?.trigger) keyPaths("trigger.body", run.trigger.body, 2, paths);

  const parents = [...new Set(def.edges.filter((e) => e.to === nodeId).map((e) => e.from))];
  paths.push("input");
  const outputOf = (id: string): unknown => {
    if (run?.outputs[id] !== undefined) return run.outputs[id];
    // A trigger's output is its trigger data.
    if (run?.trigger && id === trigger?.id) return run.trigger;
    return undefined;
  };
  if (parents.length === 1) keyPaths("input", outputOf(parents[0]), 2, paths);
  else if (parents.length > 1) {
    for (const p of parents) {
      const pp = member("input", p);
      paths.push(pp);
      keyPaths(pp, outputOf(p), 1, paths);
    }
  }
  for (const id of ancestors(nodeId, def.edges)) {
    const p = `${member("nodes", id)}.output`;
    paths.push(p);
    if (run) keyPaths(p, outputOf(id), 1, paths);
  }
  if (inLoopBody(nodeId, def)) paths.push("item", "index");
  paths.push("execution.id");

  const seen = new Set<string>();
  const out: Hint[] = [];
  for (const p of paths) {
    if (seen.has(p)) continue;
    seen.add(p);
    out.push({ path: p, insert: wrap(p, kind) });
  }
  return out;
}
