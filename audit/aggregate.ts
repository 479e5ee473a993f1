import type { BehaviorSet, Category, Item, Replica } from '../core/behavior.js';
import { syscallName, type Arch } from '../core/syscalls.js';
import { P, PERM_WORDS } from './tables.js';

/**
 * Aggregation of one target's observations, not through core/behavior's observe(): one Map hit
 * and a counter bump per record; drain() then hands out only the items touched since the previous
 * drain, with cumulative counts (the G-counter contract of core/behavior.ts).
 */

/** One item of the model as the audit side counts it. */
export interface Agg {
  category: Category;
  key: string;
  first: number;
  last: number;
  n: number;
  perms: number;
  owner: boolean | undefined;
  sets: Map<string, Set<string>> | undefined;
  dirty: boolean;
}

// Categories by number: one array index instead of a Map lookup per observation.
const CATEGORIES = ['profiles', 'syscalls', 'files', 'executions', 'capabilities', 'signals', 'ptraces', 'mounts', 'sockets', 'egresses', 'binds', 'unhandled'] as const satisfies readonly Category[];
export const C_PROFILES = 0;
const C_SYSCALLS = 1;
export const C_FILES = 2;
export const C_EXECUTIONS = 3;
export const C_CAPABILITIES = 4;
export const C_SIGNALS = 5;
export const C_PTRACES = 6;
export const C_MOUNTS = 7;
export const C_SOCKETS = 8;
export const C_EGRESSES = 9;
export const C_BINDS = 10;
export const C_UNHANDLED = 11;

/** The time of the record being attributed: in a typed array, so passing it around boxes no number. */
export const NOW = new Float64Array(1);

/** The items the record being attributed touched, in order: what a repeat of its body touches again. */
export const TOUCHED: Agg[] = [];

/** Syscall numbers below this get a direct slot per architecture; others go through the name. */
const SYSCALL_SLOTS = 1024;

/** The items of one target, observed at NOW. */
export class TargetBehaviors {
  private readonly items: (Map<string, Agg> | undefined)[] = CATEGORIES.map(() => undefined);
  /** Per architecture, syscall number → its item: no name lookup per seccomp record. */
  private readonly syscalls = new Map<Arch, (Agg | undefined)[]>();
  dirty: Agg[] = [];

  hit(category: number, key: string): Agg {
    let byKey = this.items[category];
    if (byKey === undefined) this.items[category] = byKey = new Map();
    let agg = byKey.get(key);
    if (agg === undefined) {
      agg = { category: CATEGORIES[category]!, key, first: NOW[0]!, last: NOW[0]!, n: 0, perms: 0, owner: undefined, sets: undefined, dirty: false };
      byKey.set(key, agg);
    }
    this.again(agg);
    return agg;
  }

  /** One more observation of an item already found. */
  again(agg: Agg): void {
    const at = NOW[0]!;
    TOUCHED.push(agg);
    agg.n++;
    if (at < agg.first) agg.first = at;
    if (at > agg.last) agg.last = at;
    if (!agg.dirty) {
      agg.dirty = true;
      this.dirty.push(agg);
    }
  }

  syscall(arch: Arch, nr: number): void {
    if (nr >= SYSCALL_SLOTS) {
      this.hit(C_SYSCALLS, syscallName(arch, nr));
      return;
    }
    let slots = this.syscalls.get(arch);
    if (slots === undefined) this.syscalls.set(arch, (slots = new Array<Agg | undefined>(SYSCALL_SLOTS).fill(undefined)));
    const agg = slots[nr];
    if (agg === undefined) slots[nr] = this.hit(C_SYSCALLS, syscallName(arch, nr));
    else this.again(agg);
  }

  drain(replica: Replica): BehaviorSet {
    const out: BehaviorSet = {};
    for (const agg of this.dirty) {
      agg.dirty = false;
      const item: Item = { first: agg.first, last: agg.last, n: { [replica]: agg.n } };
      const sets: Record<string, string[]> = {};
      if (agg.perms) sets.perms = PERM_WORDS.filter((w) => agg.perms & P[w]).sort();
      for (const [name, values] of agg.sets ?? []) sets[name] = [...values].sort();
      if (Object.keys(sets).length > 0) item.sets = sets;
      if (agg.owner !== undefined) item.owner = agg.owner;
      (out[agg.category] ??= {})[agg.key] = item;
    }
    this.dirty = [];
    return out;
  }
}

export function addAll(agg: Agg, set: string, values: readonly string[]): void {
  for (let i = 0; i < values.length; i++) addTo(agg, set, values[i]!);
}

export function addTo(agg: Agg, set: string, value: string): void {
  const sets = (agg.sets ??= new Map());
  let values = sets.get(set);
  if (!values) sets.set(set, (values = new Set()));
  values.add(value);
}
