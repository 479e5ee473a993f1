/**
 * Rule applicability: for every vArmor built-in rule (data/builtin-rules.json), whether the modelled
 * workload can run with it. `safe` only when the rule makes sense for the workload and nothing
 * observed conflicts; `unsafe` with the conflicting behaviors; `not-applicable` when the rule only
 * makes sense in a context (privileged, a shared PID namespace, ...) the user did not declare.
 * Files are matched on their pattern and on their raw path, so models without oldPath work too.
 */
import catalogue from './data/builtin-rules.json' with { type: 'json' };
import type { BehaviorSet, Category, Item } from './behavior.js';
import { capability, granted } from './capabilities.js';
import { isContextFlag, type Context } from './context.js';
import { evidence, type Evidence } from './evidence.js';
import { endpoint, socketKind } from './net.js';
import { parseArgsEntry } from './syscall-args.js';


interface Matcher {
  category: string;
  path?: string;
  perms?: string[];
  names?: string[];
  except?: string[];
  fstypes?: string[];
  ops?: string[];
  addresses?: string[];
  ports?: number[];
  domains?: string[];
  protocols?: string[];
  /** syscalls: the argument tuples the rule refuses, as `sets.args` writes them (core/syscall-args.ts). */
  args?: string[];
}

export interface BuiltinRule {
  id: string;
  enforcers: string[];
  description: string;
  unsafeWhen: Matcher[];
  appliesWhen?: string[];
  conflictsWith?: string[];
  contextNote?: string;
  /** Capability rules: 1 all, 2 all but net_bind_service, 3 privileged, 4 one capability. */
  ladder?: number;
  capability?: string;
  argumentFiltered?: boolean;
}

export const BUILTIN_RULES: readonly BuiltinRule[] = catalogue.rules as BuiltinRule[];
export const PRIVILEGED_CAPABILITIES: readonly string[] = catalogue.privilegedCapabilities;

export type VerdictKind = 'safe' | 'unsafe' | 'not-applicable';

export interface Verdict {
  id: string;
  enforcers: string[];
  description: string;
  verdict: VerdictKind;
  /** One sentence a person can act on. */
  reason: string;
  /** Conflicting behaviors, earliest first, at most MAX_EVIDENCE of them. */
  conflicts: Evidence[];
  /** How many behaviors conflict in all. */
  conflictCount: number;
  /** Context flags that would change the verdict, when the user did not declare them. */
  needs?: string[];
  /** Safe and worth enabling: not covered by a stronger safe rule of the capability ladder. */
  recommended?: boolean;
  /** The stronger capability rule that already covers this one. */
  coveredBy?: string;
}

export const MAX_EVIDENCE = 20;

type Indexed = { category: Category; key: string; item: Item; texts: string[] }[];

/** Each category's behaviors once, with the strings matchers look at (key and raw). */
function index(set: BehaviorSet): Partial<Record<Category, Indexed>> {
  const out: Partial<Record<Category, Indexed>> = {};
  for (const [category, items] of Object.entries(set) as [Category, Record<string, Item>][]) {
    out[category] = Object.entries(items ?? {}).map(([key, item]) => ({ category, key, item, texts: item.raw !== undefined ? [key, item.raw] : [key] }));
  }
  return out;
}

const tupleOf = (syscall: string, entry: string) => parseArgsEntry(syscall, entry)?.join(',') ?? '';
const refusedArgs = (syscall: string, entries: string[]) => new Set(entries.map((e) => tupleOf(syscall, e)));

/** A rule on syscall arguments is judged exactly when it names the tuples it refuses and every conflicting call's arguments were recorded. */
function judgedExactly(rule: BuiltinRule, set: BehaviorSet, found: Evidence[]): boolean {
  if (!rule.unsafeWhen.every((m) => m.category === 'syscalls' && m.args)) return false;
  return found.every((e) => e.category === 'syscalls' && (set.syscalls?.[e.key]?.sets?.args?.length ?? 0) > 0);
}

function matches(m: Matcher, re: RegExp | undefined, key: string, item: Item, texts: string[]): boolean {
  const sets = item.sets ?? {};
  switch (m.category) {
    case 'files':
    case 'executions':
      return (!re || texts.some((t) => re.test(t))) && (!m.perms || (sets.perms ?? []).some((p) => m.perms!.includes(p)));
    case 'capabilities': {
      const cap = capability(key) ?? key;
      return granted(sets.verdict) && (!m.names || m.names.includes(cap)) && !(m.except ?? []).includes(cap);
    }
    case 'syscalls':
      // Without recorded arguments any call may be one the rule refuses.
      return (!m.names || m.names.includes(key)) && (!m.args || !sets.args?.length || sets.args.some((a) => refusedArgs(key, m.args!).has(tupleOf(key, a))));
    case 'namespaces':
      return !m.names || m.names.includes(key);
    case 'mounts': {
      const fstype = key.slice(key.lastIndexOf('|') + 1);
      return (!m.fstypes || m.fstypes.includes(fstype)) && (!m.ops || (sets.ops ?? ['mount']).some((o) => m.ops!.includes(o)));
    }
    case 'egresses': {
      const e = endpoint(key);
      if (re) return e.family === 'unix' && re.test(e.address);
      return (!m.addresses || m.addresses.includes(e.address)) && (!m.ports || m.ports.includes(e.port));
    }
    case 'sockets': {
      const s = socketKind(key);
      return (!m.domains || m.domains.includes(s.domain)) && (!m.protocols || m.protocols.includes(s.protocol));
    }
    default:
      return true; // ptraces, signals: any behavior of the category
  }
}

function conflicts(rule: BuiltinRule, idx: Partial<Record<Category, Indexed>>): Evidence[] {
  const found = new Map<string, Evidence>();
  for (const m of rule.unsafeWhen) {
    const re = m.path ? new RegExp(m.path) : undefined;
    for (const b of idx[m.category as Category] ?? []) {
      const id = `${b.category}\u0000${b.key}`;
      if (!found.has(id) && matches(m, re, b.key, b.item, b.texts)) found.set(id, evidence(b.category, b.key, b.item));
    }
  }
  return [...found.values()].sort((a, b) => (a.first ?? '').localeCompare(b.first ?? '') || a.key.localeCompare(b.key));
}

/** Does the rule make sense here? `undefined` when it does, else the flags a user could declare. */
function missingContext(rule: BuiltinRule, set: BehaviorSet, context: Context): string[] | undefined {
  if (!rule.appliesWhen) return undefined;
  const holds = rule.appliesWhen.some((cond) => {
    if (cond === 'mounts') return Object.keys(set.mounts ?? {}).length > 0;
    if (cond.startsWith('capability:')) {
      const want = cond.slice('capability:'.length);
      return Object.entries(set.capabilities ?? {}).some(([k, item]) => (capability(k) ?? k) === want && granted(item.sets?.verdict));
    }
    return context[cond as keyof Context] === true;
  });
  return holds ? undefined : rule.appliesWhen.filter((c) => isContextFlag(c) && context[c] === undefined);
}

function judge(rule: BuiltinRule, set: BehaviorSet, idx: Partial<Record<Category, Indexed>>, context: Context): Verdict {
  const base = { id: rule.id, enforcers: rule.enforcers, description: rule.description };
  const found = conflicts(rule, idx);
  const clash = (rule.conflictsWith ?? []).filter((flag) => context[flag as keyof Context] === true);
  const missing = missingContext(rule, set, context);
  if (missing) {
    return {
      ...base,
      verdict: 'not-applicable',
      reason: `Only makes sense with ${rule.appliesWhen!.join(' or ')}${rule.contextNote ? `: ${rule.contextNote}` : ''}.`,
      conflicts: found.slice(0, MAX_EVIDENCE),
      conflictCount: found.length,
      ...(missing.length ? { needs: missing } : {}),
    };
  }
  if (found.length > 0 || clash.length > 0) {
    const parts: string[] = [];
    if (clash.length) parts.push(`the workload is declared ${clash.join(', ')}`);
    if (found.length) parts.push(`${found.length} observed behavior${found.length === 1 ? '' : 's'} conflict${found.length === 1 ? 's' : ''}, first ${found[0]!.key}`);
    const caveat = rule.argumentFiltered && found.length && !judgedExactly(rule, set, found) ? ' (the rule filters on syscall arguments the model does not keep, so the conflict may be false)' : '';
    return { ...base, verdict: 'unsafe', reason: `Unsafe: ${parts.join('; ')}${caveat}.`, conflicts: found.slice(0, MAX_EVIDENCE), conflictCount: found.length };
  }
  const open = (rule.conflictsWith ?? []).filter((flag) => context[flag as keyof Context] === undefined);
  return {
    ...base,
    verdict: 'safe',
    reason: `Safe: nothing observed conflicts${open.length ? `, assuming the workload is not ${open.join(' / ')}` : ''}.`,
    conflicts: [],
    conflictCount: 0,
    ...(open.length ? { needs: open } : {}),
  };
}

/** Verdicts for every built-in rule, in catalogue order, with the capability ladder resolved. */
export function advise(set: BehaviorSet, context: Context = {}): Verdict[] {
  const idx = index(set);
  const verdicts = BUILTIN_RULES.map((rule) => judge(rule, set, idx, context));
  const byId = new Map(verdicts.map((v) => [v.id, v]));
  // vArmor's ladder: the strongest surviving capability rule first, per-capability rules only for the rest.
  const ladder = BUILTIN_RULES.filter((r) => r.ladder !== undefined && r.ladder < 4).sort((a, b) => a.ladder! - b.ladder!);
  const top = ladder.find((r) => byId.get(r.id)!.verdict === 'safe');
  for (const v of verdicts) if (v.verdict === 'safe') v.recommended = true;
  if (top) {
    const covered = coverage(top);
    for (const rule of BUILTIN_RULES) {
      const v = byId.get(rule.id)!;
      if (rule === top || rule.ladder === undefined || v.verdict !== 'safe') continue;
      // A safe ladder rule other than top is weaker than top; a capability rule may fall outside it.
      if (rule.ladder < 4 || covered.has(rule.capability!)) {
        v.recommended = false;
        v.coveredBy = top.id;
      }
    }
  }
  return verdicts;
}

/** The capabilities a ladder rule denies. */
function coverage(rule: BuiltinRule): Set<string> {
  const m = rule.unsafeWhen[0]!;
  const all = BUILTIN_RULES.filter((r) => r.ladder === 4).map((r) => r.capability!);
  return new Set(m.names ?? all.filter((c) => !(m.except ?? []).includes(c)));
}

export interface VerdictCounts {
  safe: number;
  unsafe: number;
  'not-applicable': number;
}

export function countVerdicts(verdicts: readonly Verdict[]): VerdictCounts {
  const counts: VerdictCounts = { safe: 0, unsafe: 0, 'not-applicable': 0 };
  for (const v of verdicts) counts[v.verdict]++;
  return counts;
}
