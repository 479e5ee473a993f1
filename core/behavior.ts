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
  'egresses', // key: `${family}|${address}|${port}` (unix: `unix|${path}|0`); sets.protocols: tcp udp ...
  'binds', // key: `${family}|${address}|${port}`; sets.ops: bind listen; sets.protocols: tcp udp ...
  'ingresses', // key: `${family}|${peer address}|${local port}`: connections the workload accepted; sets.protocols
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

/** What a batch holds beside where it comes from: behaviors, and what the collector reports with them. */
export interface BatchBody<C = Counters> {
  behaviors: BehaviorSet;
  /** Behaviors of interactive sessions (`kubectl exec`), kept apart so they never reach a profile. */
  sessions?: BehaviorSet;
  counters: C;
  /** Malformed input the collector skipped, a few verbatim (sanitised) lines for the report. */
  samples?: string[];
  /** Collector-specific resume state (e.g. the audit log offset), read back after a restart. */
  position?: unknown;
}

/** What one collector hands over at a checkpoint (activities/checkpoint.ts): its own counters, cumulative. */
export type Delta = BatchBody<Record<string, number>>;

/** One checkpoint of one collector: what it saw since its previous checkpoint. */
export interface Batch extends BatchBody {
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
}

export const BATCH_FORMAT = 'varmor-modeler/batch@1';

/**
 * A batch read back from the store, checked field by field: the merge trusts nothing it did not
 * check, and a wrong shape is a clear error naming the field, never a crash later on.
 */
export function checkBatch(v: unknown): Batch {
  const b = record(v, 'batch');
  if (b.format !== BATCH_FORMAT) throw new Error(`format is ${JSON.stringify(b.format)?.slice(0, 40)}, expected ${BATCH_FORMAT}`);
  for (const f of ['run', 'node', 'collector', 'replica', 'arch', 'target'] as const) if (typeof b[f] !== 'string') throw new Error(`${f}: must be a string`);
  if (!Number.isSafeInteger(b.seq) || (b.seq as number) < 0) throw new Error('seq: must be a non-negative integer');
  for (const f of ['from', 'to'] as const) if (!Number.isFinite(b[f])) throw new Error(`${f}: must be a number`);
  checkSet(b.behaviors, 'behaviors');
  if (b.sessions !== undefined) checkSet(b.sessions, 'sessions');
  checkCounters(b.counters, 'counters');
  if (b.samples !== undefined && !(Array.isArray(b.samples) && b.samples.every((x) => typeof x === 'string'))) throw new Error('samples: must be an array of strings');
  return b as unknown as Batch;
}

export function checkCounters(v: unknown, at: string): Counters {
  for (const [replica, c] of Object.entries(record(v, at))) numbers(c, `${at}.${replica}`);
  return v as Counters;
}

/** A behavior set read back, checked as checkBatch checks a batch's. */
export function checkSet(v: unknown, at: string): BehaviorSet {
  checkItems(v, at);
  return v as BehaviorSet;
}

function checkItems(v: unknown, at: string): void {
  for (const [category, items] of Object.entries(record(v, at))) {
    if (!(CATEGORIES as readonly string[]).includes(category)) throw new Error(`${at}: unknown category ${JSON.stringify(category).slice(0, 40)}`);
    for (const [key, value] of Object.entries(record(items, `${at}.${category}`))) {
      const where = `${at}.${category}[${JSON.stringify(key).slice(0, 80)}]`;
      const item = record(value, where);
      if (!Number.isFinite(item.first) || !Number.isFinite(item.last)) throw new Error(`${where}: first and last must be numbers`);
      numbers(item.n, `${where}.n`);
      if (item.sets !== undefined) {
        for (const [k, s] of Object.entries(record(item.sets, `${where}.sets`))) {
          if (!Array.isArray(s) || !s.every((x) => typeof x === 'string')) throw new Error(`${where}.sets.${k}: must be an array of strings`);
        }
      }
      if (item.owner !== undefined && typeof item.owner !== 'boolean') throw new Error(`${where}.owner: must be true or false`);
      if (item.raw !== undefined && typeof item.raw !== 'string') throw new Error(`${where}.raw: must be a string`);
    }
  }
}

function numbers(v: unknown, at: string): void {
  for (const [k, x] of Object.entries(record(v, at))) if (typeof x !== 'number' || !(x >= 0) || !Number.isFinite(x)) throw new Error(`${at}.${k.slice(0, 80)}: must be a non-negative number`);
}

/** An object of the batch; no collector writes a `__proto__` key, so none is taken (the rest of the core would treat it as the prototype). */
function record(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${at}: must be an object`);
  if (Object.hasOwn(v, '__proto__')) throw new Error(`${at}: "__proto__" is not a key a collector writes`);
  return v as Record<string, unknown>;
}

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
  const incoming: Item = { first: at, last: at, n: put({}, replica, count), ...extra };
  const existing = own(items, key);
  put(items, key, existing ? mergeItem(existing, incoming, key) : normaliseItem(incoming, key));
}

/*
 * Keys come from what a workload did and from batches read back: `__proto__` or `constructor` is a
 * key like any other here, never the object's prototype or an inherited member.
 */
function own<T>(o: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

function put<T>(o: Record<string, T>, key: string, value: T): Record<string, T> {
  if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
  return o;
}

function normaliseItem(item: Item, key: string): Item {
  if (!item.sets && item.raw !== key) return item;
  const out: Item = { ...item };
  if (item.sets) {
    const sets: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(item.sets)) put(sets, k, [...new Set(v)].sort());
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
  const n: Record<Replica, number> = {};
  for (const [r, v] of Object.entries(a.n)) put(n, r, v);
  for (const [r, v] of Object.entries(b.n)) put(n, r, Math.max(own(n, r) ?? 0, v));
  const out: Item = { first: Math.min(a.first, b.first), last: Math.max(a.last, b.last), n };
  if (a.sets || b.sets) {
    const sets: Record<string, string[]> = {};
    for (const k of new Set([...Object.keys(a.sets ?? {}), ...Object.keys(b.sets ?? {})])) {
      put(sets, k, unionSorted((a.sets && own(a.sets, k)) ?? [], (b.sets && own(b.sets, k)) ?? []));
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
      const existing = own(dst, key);
      put(dst, key, existing ? mergeItem(existing, item, key) : normaliseItem(item, key));
    }
  }
  return into;
}

/**
 * Whether `delta` holds anything `known` does not: a key, a set member, an owner flag turned
 * false. Repeat observations that only raise counts and last-seen times bring nothing new; a
 * checkpoint of only those can wait (activities/checkpoint.ts).
 */
export function bringsNew(known: BehaviorSet, delta: BehaviorSet): boolean {
  for (const category of CATEGORIES) {
    const items = delta[category];
    if (!items) continue;
    const had = known[category];
    for (const [key, item] of Object.entries(items)) {
      const old = had && own(had, key);
      if (!old) return true;
      if (item.owner === false && old.owner !== false) return true;
      for (const [k, values] of Object.entries(item.sets ?? {})) {
        const oldValues = old.sets && own(old.sets, k);
        if (!oldValues || values.some((v) => !oldValues.includes(v))) return true;
      }
    }
  }
  return false;
}

/**
 * The set with each item's counts summed into one replica `as`: for a set whose replicas are all
 * finished (the window is over) and that no other set shares (a group of nodes), so that a merge
 * of such sets stays a G-counter and the set's size no longer grows with replicas.
 */
export function collapseReplicas(set: BehaviorSet, as: Replica): BehaviorSet {
  for (const items of Object.values(set)) for (const item of Object.values(items ?? {})) item.n = { [as]: total(item) };
  return set;
}

export function mergeCounters(into: Counters, from: Counters): Counters {
  for (const [replica, counters] of Object.entries(from)) {
    const dst = own(into, replica) ?? {};
    put(into, replica, dst);
    for (const [k, v] of Object.entries(counters)) put(dst, k, Math.max(own(dst, k) ?? 0, v));
  }
  return into;
}

/** Sums each counter across replicas. */
export function sumCounters(counters: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of Object.values(counters)) for (const [k, v] of Object.entries(c)) put(out, k, (own(out, k) ?? 0) + v);
  return out;
}

export function keys(set: BehaviorSet, category: Category): string[] {
  return Object.keys(set[category] ?? {}).sort();
}
