/**
 * The behavior set: everything collectors observed about one target, in a shape that merges as a
 * CRDT (commutative, associative, idempotent), so at-least-once checkpoint delivery, retries and
 * duplicated batches still give exactly-once results.
 *
 * Every category maps a canonical key (a path, a syscall name, `inet/stream/tcp`, ...) to an Item.
 * Counts are kept per replica (one collector instance on one node) as cumulative values, merged by
 * max and summed across replicas: a G-counter.
 */

/** Where a behavior came from: `<node>/<collector>/<instance>`. */
export type Replica = string;

export interface Item {
  /** First and last time seen, wall-clock milliseconds. */
  first: number;
  last: number;
  /** Cumulative count per replica. */
  n: Record<Replica, number>;
  /** Attribute sets unioned on merge: file permissions, mount flags, signal names, ports, ... */
  sets?: Record<string, string[]>;
  /** File accesses only: true while every access had fsuid == owner uid (ANDed on merge). */
  owner?: boolean;
  /** Raw spelling before generalisation; the earliest-seen wins (ties: smallest string). */
  raw?: string;
}

export const CATEGORIES = [
  'executions', // key: absolute path of the executed binary or script
  'files', // key: absolute path; sets.perms: read write append create exec rename link lock mmap chmod chown delete
  'syscalls', // key: syscall name
  'capabilities', // key: capability name without cap_; sets.verdict: granted / denied; sets.callers: kernel functions that asked
  'noaudit', // key: capability name; checks that only probe the privilege (CAP_OPT_NOAUDIT, the overcommit check): never a use, kept only to be counted
  'sockets', // key: `${domain}/${type}/${protocol}`
  'egresses', // key: `${family}|${address}|${port}` (unix: `unix|${path}|0`)
  'binds', // key: `${family}|${address}|${port}`; sets.ops: bind listen
  'signals', // key: peer (`self` or `external`); sets.signals
  'ptraces', // key: peer; sets.perms
  'mounts', // key: `${path}|${fstype}`; sets.flags, sets.ops: mount umount move_mount open_tree (path: the clone's source)
  'namespaces', // key: operation (unshare, setns); sets.types
  'profiles', // key: AppArmor profile name (audit collector)
  'unhandled', // key: description of an event that fits nowhere else
] as const;

export type Category = (typeof CATEGORIES)[number];

export type BehaviorSet = { [C in Category]?: Record<string, Item> };

/** Counters a collector reports (lost records, parse errors, ...), cumulative per replica. */
export type Counters = Record<Replica, Record<string, number>>;

/** One checkpoint of one collector: what it saw since its previous checkpoint. */
export interface Batch {
  format: typeof BATCH_FORMAT;
  run: string;
  node: string;
  collector: string;
  replica: Replica;
  seq: number;
  /** The node's architecture as uname -m names it; syscall names are already resolved for it. */
  arch: string;
  target: string;
  /** Wall-clock milliseconds covered by this batch. */
  from: number;
  to: number;
  behaviors: BehaviorSet;
  /** Behaviors of interactive sessions (`kubectl exec`), kept apart so they never reach a profile. */
  sessions?: BehaviorSet;
  counters: Counters;
  /** Malformed input the collector skipped, a few verbatim (sanitised) lines for the report. */
  samples?: string[];
  /** Collector-specific resume state (e.g. the audit log offset), read back after a restart. */
  position?: unknown;
}

export const BATCH_FORMAT = 'varmor-modeler/batch@1';

/** Total count of an item across replicas. */
export function total(item: Item): number {
  let sum = 0;
  for (const v of Object.values(item.n)) sum += v;
  return sum;
}

/** Adds one observation to a set under construction (collector side). */
export function observe(
  set: BehaviorSet,
  category: Category,
  key: string,
  at: number,
  replica: Replica,
  count: number,
  extra?: { sets?: Record<string, string[]>; owner?: boolean; raw?: string },
): void {
  const items = (set[category] ??= {});
  const incoming: Item = { first: at, last: at, n: { [replica]: count }, ...extra };
  const existing = items[key];
  items[key] = existing ? mergeItem(existing, incoming, key) : normaliseItem(incoming, key);
}

function normaliseItem(item: Item, key: string): Item {
  if (!item.sets && item.raw !== key) return item;
  const out: Item = { ...item };
  if (item.sets) {
    const sets: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(item.sets)) sets[k] = [...new Set(v)].sort();
    out.sets = sets;
  }
  if (out.raw === key) delete out.raw;
  return out;
}

function unionSorted(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

/**
 * `key`, when given, is the spelling an item without `raw` was seen under: the raw spelling must
 * stay the one seen at `first`, which an item without `raw` would otherwise decouple (not associative).
 */
export function mergeItem(a: Item, b: Item, key?: string): Item {
  const n: Record<Replica, number> = { ...a.n };
  for (const [r, v] of Object.entries(b.n)) n[r] = Math.max(n[r] ?? 0, v);
  const out: Item = { first: Math.min(a.first, b.first), last: Math.max(a.last, b.last), n };
  if (a.sets || b.sets) {
    const sets: Record<string, string[]> = {};
    for (const k of new Set([...Object.keys(a.sets ?? {}), ...Object.keys(b.sets ?? {})])) {
      sets[k] = unionSorted(a.sets?.[k] ?? [], b.sets?.[k] ?? []);
    }
    out.sets = sets;
  }
  if (a.owner !== undefined || b.owner !== undefined) out.owner = (a.owner ?? true) && (b.owner ?? true);
  const raw = earliestRaw(a, b, key);
  if (raw !== undefined && raw !== key) out.raw = raw;
  return out;
}

function earliestRaw(a: Item, b: Item, key: string | undefined): string | undefined {
  const ra = a.raw ?? key;
  const rb = b.raw ?? key;
  if (ra === undefined) return rb;
  if (rb === undefined) return ra;
  if (a.first !== b.first) return a.first < b.first ? ra : rb;
  return ra < rb ? ra : rb;
}

/** Merges `from` into `into` in place; returns `into`. */
export function mergeInto(into: BehaviorSet, from: BehaviorSet): BehaviorSet {
  for (const category of CATEGORIES) {
    const src = from[category];
    if (!src) continue;
    const dst = (into[category] ??= {});
    for (const [key, item] of Object.entries(src)) {
      const existing = dst[key];
      dst[key] = existing ? mergeItem(existing, item, key) : normaliseItem(item, key);
    }
  }
  return into;
}

export function mergeCounters(into: Counters, from: Counters): Counters {
  for (const [replica, counters] of Object.entries(from)) {
    const dst = (into[replica] ??= {});
    for (const [k, v] of Object.entries(counters)) dst[k] = Math.max(dst[k] ?? 0, v);
  }
  return into;
}

/** Sums each counter across replicas. */
export function sumCounters(counters: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of Object.values(counters)) for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v;
  return out;
}

export function keys(set: BehaviorSet, category: Category): string[] {
  return Object.keys(set[category] ?? {}).sort();
}
