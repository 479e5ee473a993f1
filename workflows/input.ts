import { parseDuration } from '../core/duration.js';
import type { Target } from '../core/target.js';
import { CONTEXT_FLAG_NAMES, isContextFlag, type Context } from '../core/context.js';


/** The workflow's input as users send it (CLI, Temporal CLI or Web UI): one JSON object. */
export interface ModelingInput {
  target: Target;
  /** Names the model (vArmor's profile name is varmor-<namespace>-<name>). */
  name?: string;
  namespace?: string;
  /** Window length, e.g. "30s", "12h", "7d". */
  duration: string;
  /** How often collectors checkpoint to the object store. Default 10s. */
  checkpointInterval?: string;
  /** Object store URL for batches and outputs; default: the worker's configured store. */
  store?: string;
  /** How often the target is resolved again (Kubernetes targets move). Default 1m. */
  resolveInterval?: string;
  /** How long a node whose collector is gone is waited for before it is marked failed. Default 10m. */
  nodeGiveUp?: string;
  /** Context for the advice, and where the pod may write. */
  context?: Context;
  writablePaths?: string[];
  /** Set search attributes (VarmorTargetNamespace, VarmorWorkload, VarmorPhase). Default true. */
  searchAttributes?: boolean;
  /** Advanced: continue as new once the history has this many events. Default 10000. */
  historyLimit?: number;
  /** Advanced: how long one collector activity runs before the next takes over (bounds its timeout). Default 6h. */
  leaseInterval?: string;
  /** End the window once nothing new was seen in any category, on any node, for this long (`duration` stays the upper bound). */
  convergeAfter?: string;
  /** With convergeAfter: the window lasts at least this long. */
  minDuration?: string;
}

/** The validated input with durations in milliseconds. */
export interface ModelingPlan {
  target: Target;
  name: string;
  namespace: string;
  durationMs: number;
  checkpointMs: number;
  resolveMs: number;
  giveUpMs: number;
  leaseMs: number;
  store?: string;
  context: Context;
  writablePaths: string[];
  searchAttributes: boolean;
  historyLimit: number;
  /** Quiet period that ends the window early; undefined: the window lasts `durationMs`. */
  convergeMs?: number;
  minMs: number;
}

export class InputError extends Error {}

const MIN_CHECKPOINT_MS = 1000;
const MIN_LEASE_MS = 5000;
/** Longer than any window a user means, and within what Temporal's timers and this code's arithmetic take. */
const MAX_DURATION_MS = 366 * 86_400_000;

/** Checks the input, naming the first wrong field. Pure: runs inside the workflow. */
/** Every field the input may have (docs/modeling-input.schema.json lists the same). */
export const INPUT_FIELDS = ['target', 'duration', 'name', 'namespace', 'checkpointInterval', 'resolveInterval', 'nodeGiveUp', 'store', 'context', 'writablePaths', 'searchAttributes', 'historyLimit', 'leaseInterval', 'convergeAfter', 'minDuration'] as const;

export function planFromInput(input: unknown): ModelingPlan {
  if (!isObject(input)) throw new InputError('input must be a JSON object');
  // A misspelt field would otherwise be ignored silently.
  for (const key of Object.keys(input)) {
    if (!(INPUT_FIELDS as readonly string[]).includes(key)) throw new InputError(`${fieldName(key)}: unknown field (known: ${INPUT_FIELDS.join(', ')})`);
  }
  const target = checkTarget(input.target);
  const durationMs = duration(input.duration, 'duration');
  const checkpointMs = input.checkpointInterval === undefined ? 10_000 : duration(input.checkpointInterval, 'checkpointInterval');
  if (checkpointMs < MIN_CHECKPOINT_MS) throw new InputError(`checkpointInterval: must be at least 1s`);
  const name = optionalString(input.name, 'name') ?? defaultName(target);
  const namespace = optionalString(input.namespace, 'namespace') ?? (target.kind === 'k8s' ? /^k8s:([^/?]+)/.exec(target.spec)?.[1] : undefined) ?? 'default';
  for (const [field, value] of [['name', name], ['namespace', namespace]] as const) {
    if (!/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(value)) throw new InputError(`${field}: ${shown(value)} is not a DNS-1123 name (lower-case letters, digits, '-', '.')`);
  }
  const store = optionalString(input.store, 'store');
  if (store !== undefined && !/^(file|s3):\/\//.test(store)) throw new InputError(`store: ${shown(store)} must be a file:// or s3:// URL`);
  const resolveMs = input.resolveInterval === undefined ? 60_000 : duration(input.resolveInterval, 'resolveInterval');
  const giveUpMs = input.nodeGiveUp === undefined ? 600_000 : duration(input.nodeGiveUp, 'nodeGiveUp');
  const leaseMs = input.leaseInterval === undefined ? 6 * 3600_000 : duration(input.leaseInterval, 'leaseInterval');
  if (leaseMs < MIN_LEASE_MS) throw new InputError('leaseInterval: must be at least 5s');
  if (input.searchAttributes !== undefined && typeof input.searchAttributes !== 'boolean') throw new InputError('searchAttributes: must be true or false');
  const convergeMs = input.convergeAfter === undefined ? undefined : duration(input.convergeAfter, 'convergeAfter');
  if (convergeMs !== undefined && convergeMs < MIN_CHECKPOINT_MS) throw new InputError('convergeAfter: must be at least 1s');
  const minMs = input.minDuration === undefined ? 0 : duration(input.minDuration, 'minDuration');
  if (input.minDuration !== undefined && convergeMs === undefined) throw new InputError('minDuration: only with convergeAfter (without it the window lasts its duration)');
  if (minMs > durationMs) throw new InputError('minDuration: must not be longer than duration');
  return {
    target,
    name,
    namespace,
    durationMs,
    checkpointMs,
    resolveMs,
    giveUpMs,
    leaseMs,
    ...(store ? { store } : {}),
    context: checkContext(input.context),
    writablePaths: checkPaths(input.writablePaths),
    searchAttributes: input.searchAttributes !== false,
    historyLimit: historyLimit(input.historyLimit),
    ...(convergeMs !== undefined ? { convergeMs } : {}),
    minMs,
  };
}

function historyLimit(v: unknown): number {
  if (v === undefined) return 10_000;
  if (!Number.isInteger(v) || (v as number) < 100) throw new InputError('historyLimit: must be an integer of at least 100');
  return v as number;
}

function checkContext(c: unknown): Context {
  if (c === undefined) return {};
  if (!isObject(c)) throw new InputError('context: must be an object of flags');
  const out: Context = {};
  for (const [k, v] of Object.entries(c)) {
    if (!isContextFlag(k)) throw new InputError(`context.${fieldName(k)}: unknown flag (known: ${CONTEXT_FLAG_NAMES.join(', ')})`);
    if (typeof v !== 'boolean') throw new InputError(`context.${k}: must be true or false`);
    out[k] = v;
  }
  return out;
}

function checkPaths(p: unknown): string[] {
  if (p === undefined) return [];
  if (!Array.isArray(p) || !p.every((x) => typeof x === 'string' && x.startsWith('/'))) throw new InputError('writablePaths: must be an array of absolute paths');
  return p as string[];
}

function checkTarget(t: unknown): Target {
  if (!isObject(t)) throw new InputError('target: must be an object with a "kind"');
  const node = () => {
    if (typeof t.node !== 'string' || t.node === '') throw new InputError('target.node: must be the node name');
    return t.node;
  };
  switch (t.kind) {
    case 'command': {
      if (!Array.isArray(t.argv) || t.argv.length === 0 || !t.argv.every((a) => typeof a === 'string')) {
        throw new InputError('target.argv: must be a non-empty array of strings');
      }
      return { kind: 'command', node: node(), argv: t.argv as string[] };
    }
    case 'pid':
      if (!Number.isInteger(t.pid) || (t.pid as number) <= 0) throw new InputError('target.pid: must be a positive integer');
      return { kind: 'pid', node: node(), pid: t.pid as number };
    case 'container':
      if (typeof t.id !== 'string' || !/^[0-9a-zA-Z_.-]{1,128}$/.test(t.id)) throw new InputError('target.id: must be a container ID');
      return { kind: 'container', node: node(), id: t.id };
    case 'k8s':
      if (typeof t.spec !== 'string' || !/^k8s:/.test(t.spec)) throw new InputError('target.spec: must be a k8s:NAMESPACE/KIND/NAME spec');
      return { kind: 'k8s', spec: t.spec };
    default:
      throw new InputError(`target.kind: must be one of command, pid, container, k8s (got ${shown(t.kind)})`);
  }
}

function defaultName(t: Target): string {
  switch (t.kind) {
    case 'command':
      return (t.argv[0]!.split('/').pop() ?? 'command').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'command';
    case 'pid':
      return `pid-${t.pid}`;
    case 'container':
      return `container-${t.id.slice(0, 12).toLowerCase()}`;
    case 'k8s':
      return t.spec.replace(/^k8s:[^/]*\//, '').replace(/\?.*$/, '').split('/').pop()!.toLowerCase().replace(/[^a-z0-9-]+/g, '-') || 'workload';
  }
}

function duration(v: unknown, field: string): number {
  if (typeof v !== 'string' && typeof v !== 'number') throw new InputError(`${field}: must be a duration such as "30s" or "7d"`);
  let ms: number;
  try {
    ms = parseDuration(String(v));
  } catch (err) {
    throw new InputError(`${field}: ${(err as Error).message}`);
  }
  if (ms <= 0) throw new InputError(`${field}: must be positive`);
  if (!(ms <= MAX_DURATION_MS)) throw new InputError(`${field}: must be at most 366d`);
  return ms;
}

/** A field name from the input, as an error names it. */
function fieldName(k: string): string {
  return /^[\w.-]{1,64}$/.test(k) ? k : shown(k);
}

/** Input echoed in an error: primitives quoted and cut short (a message must stay one short line), objects by their kind. */
function shown(v: unknown): string {
  if (v !== null && typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object';
  const s = JSON.stringify(v) ?? typeof v;
  return s.length > 64 ? `${s.slice(0, 60)}..."` : s;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new InputError(`${field}: must be a non-empty string`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const WORKFLOW_ID_PREFIX = 'varmor-modeler/';

/** One modeling run per target at a time: the workflow ID says which model. */
export function workflowIdFor(model: Pick<ModelingPlan, 'namespace' | 'name'>): string {
  return `${WORKFLOW_ID_PREFIX}${model.namespace}/${model.name}`;
}

export function isWorkflowId(id: string): boolean {
  return id.startsWith(WORKFLOW_ID_PREFIX);
}
