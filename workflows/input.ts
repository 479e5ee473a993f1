import { parseDuration } from '../core/duration.js';

/** What to model. `command` is launched by the node's collector; the others are already running. */
export type Target =
  | { kind: 'command'; node: string; argv: string[]; cwd?: string }
  | { kind: 'pid'; node: string; pid: number }
  | { kind: 'container'; node: string; id: string };

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
}

/** The validated input with durations in milliseconds. */
export interface ModelingPlan {
  target: Target;
  name: string;
  namespace: string;
  durationMs: number;
  checkpointMs: number;
  store?: string;
}

export class InputError extends Error {}

const MIN_CHECKPOINT_MS = 1000;

/** Checks the input, naming the first wrong field. Pure: runs inside the workflow. */
export function planFromInput(input: unknown): ModelingPlan {
  if (!isObject(input)) throw new InputError('input must be a JSON object');
  const target = checkTarget(input.target);
  const durationMs = duration(input.duration, 'duration');
  const checkpointMs = input.checkpointInterval === undefined ? 10_000 : duration(input.checkpointInterval, 'checkpointInterval');
  if (checkpointMs < MIN_CHECKPOINT_MS) throw new InputError(`checkpointInterval: must be at least 1s`);
  const name = optionalString(input.name, 'name') ?? defaultName(target);
  const namespace = optionalString(input.namespace, 'namespace') ?? 'default';
  for (const [field, value] of [['name', name], ['namespace', namespace]] as const) {
    if (!/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(value)) throw new InputError(`${field}: "${value}" is not a DNS-1123 name (lower-case letters, digits, '-', '.')`);
  }
  const store = optionalString(input.store, 'store');
  if (store !== undefined && !/^(file|s3):\/\//.test(store)) throw new InputError(`store: "${store}" must be a file:// or s3:// URL`);
  return { target, name, namespace, durationMs, checkpointMs, ...(store ? { store } : {}) };
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
      const cwd = optionalString(t.cwd, 'target.cwd');
      return { kind: 'command', node: node(), argv: t.argv as string[], ...(cwd ? { cwd } : {}) };
    }
    case 'pid':
      if (!Number.isInteger(t.pid) || (t.pid as number) <= 0) throw new InputError('target.pid: must be a positive integer');
      return { kind: 'pid', node: node(), pid: t.pid as number };
    case 'container':
      if (typeof t.id !== 'string' || !/^[0-9a-zA-Z_.-]{1,128}$/.test(t.id)) throw new InputError('target.id: must be a container ID');
      return { kind: 'container', node: node(), id: t.id };
    default:
      throw new InputError(`target.kind: must be one of command, pid, container (got ${JSON.stringify(t.kind)})`);
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
  return ms;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new InputError(`${field}: must be a non-empty string`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One modeling run per target at a time: the workflow ID says which target. */
export function workflowIdFor(plan: ModelingPlan): string {
  return `varmor-modeler/${plan.namespace}/${plan.name}`;
}

/** The target as one line, e.g. `command:sh -c ...`, `pid:42`, `container:abc`. */
export function describeTarget(t: Target): string {
  switch (t.kind) {
    case 'command':
      return `command:${t.argv.join(' ')}`;
    case 'pid':
      return `pid:${t.pid}`;
    case 'container':
      return `container:${t.id}`;
  }
}
