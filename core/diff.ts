/**
 * Diff of two models: behaviors added, removed and changed per category, the AppArmor and seccomp
 * profile lines that change with them, and the built-in rule verdicts that flip. Inputs are
 * generalised behavior sets or ArmorProfileModel objects (read back with from-model.ts).
 */
import { advise } from './advisor.js';
import type { Context } from './context.js';
import { appArmorProfile } from './apparmor.js';
import { CATEGORIES, type BehaviorSet, type Category, type Item } from './behavior.js';
import type { ArmorProfileModel } from './armorprofilemodel.js';
import { behaviorsFromModel } from './from-model.js';

export type ModelLike = BehaviorSet | ArmorProfileModel;

export interface CategoryDiff {
  added: string[];
  removed: string[];
  /** Same key, different attributes (permissions, owner, flags, ...). */
  changed: { key: string; before: Attributes; after: Attributes }[];
}

export interface Attributes {
  sets?: Record<string, string[]>;
  owner?: boolean;
}

export interface ModelDiff {
  categories: Partial<Record<Category, CategoryDiff>>;
  profile: { appArmor: LineDiff; seccomp: LineDiff };
  verdicts: { id: string; before: string; after: string; reason: string }[];
  summary: { added: number; removed: number; changed: number; verdictChanges: number };
}

export interface LineDiff {
  added: string[];
  removed: string[];
}

export interface DiffOptions {
  context?: Context;
}

function isModel(m: ModelLike): m is ArmorProfileModel {
  return (m as ArmorProfileModel).kind === 'ArmorProfileModel';
}

function attributes(item: Item): Attributes {
  const a: Attributes = {};
  if (item.sets && Object.keys(item.sets).length) a.sets = Object.fromEntries(Object.entries(item.sets).sort(([x], [y]) => (x < y ? -1 : 1)));
  if (item.owner !== undefined) a.owner = item.owner;
  return a;
}

function lineDiff(before: readonly string[], after: readonly string[]): LineDiff {
  const b = new Set(before);
  const a = new Set(after);
  return { added: [...a].filter((l) => !b.has(l)).sort(), removed: [...b].filter((l) => !a.has(l)).sort() };
}

const PROFILE_NAME = 'diff';

export function diff(beforeModel: ModelLike, afterModel: ModelLike, options: DiffOptions = {}): ModelDiff {
  const before = isModel(beforeModel) ? behaviorsFromModel(beforeModel) : beforeModel;
  const after = isModel(afterModel) ? behaviorsFromModel(afterModel) : afterModel;
  const categories: ModelDiff['categories'] = {};
  const summary = { added: 0, removed: 0, changed: 0, verdictChanges: 0 };
  for (const category of CATEGORIES) {
    const b = before[category] ?? {};
    const a = after[category] ?? {};
    const d: CategoryDiff = { added: [], removed: [], changed: [] };
    for (const key of Object.keys(a)) if (!(key in b)) d.added.push(key);
    for (const key of Object.keys(b)) {
      if (!(key in a)) d.removed.push(key);
      else {
        const [x, y] = [attributes(b[key]!), attributes(a[key]!)];
        if (JSON.stringify(x) !== JSON.stringify(y)) d.changed.push({ key, before: x, after: y });
      }
    }
    if (d.added.length + d.removed.length + d.changed.length === 0) continue;
    d.added.sort();
    d.removed.sort();
    d.changed.sort((p, q) => (p.key < q.key ? -1 : 1));
    categories[category] = d;
    summary.added += d.added.length;
    summary.removed += d.removed.length;
    summary.changed += d.changed.length;
  }
  // Profiles are regenerated from both sides with one name, so only behavior changes show.
  const rules = (s: BehaviorSet) => appArmorProfile(s, { name: PROFILE_NAME }).rules.map((r) => r.text);
  const profile = {
    appArmor: lineDiff(rules(before), rules(after)),
    seccomp: lineDiff(Object.keys(before.syscalls ?? {}), Object.keys(after.syscalls ?? {})),
  };
  const vb = advise(before, options.context);
  const va = new Map(advise(after, options.context).map((v) => [v.id, v]));
  const verdicts = vb.flatMap((v) => {
    const w = va.get(v.id)!;
    return w.verdict === v.verdict ? [] : [{ id: v.id, before: v.verdict, after: w.verdict, reason: w.reason }];
  });
  summary.verdictChanges = verdicts.length;
  return { categories, profile, verdicts, summary };
}

const MAX_LINES = 50;

function capped(lines: string[], indent: string): string[] {
  const shown = lines.slice(0, MAX_LINES).map((l) => indent + l);
  if (lines.length > MAX_LINES) shown.push(`${indent}... and ${lines.length - MAX_LINES} more (see the JSON)`);
  return shown;
}

/** Keys may hold newlines or control characters: show them escaped, one behavior per line. */
function show(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

export function renderDiff(d: ModelDiff): string {
  const out: string[] = [];
  const s = d.summary;
  out.push(`${s.added} behaviors added, ${s.removed} removed, ${s.changed} changed; ${s.verdictChanges} rule verdicts changed.`);
  for (const [category, c] of Object.entries(d.categories) as [Category, CategoryDiff][]) {
    out.push('', `${category}: +${c.added.length} -${c.removed.length} ~${c.changed.length}`);
    out.push(...capped(c.added.map((k) => `+ ${show(k)}`), '  '));
    out.push(...capped(c.removed.map((k) => `- ${show(k)}`), '  '));
    out.push(...capped(c.changed.map((ch) => `~ ${show(ch.key)}: ${show(JSON.stringify(ch.before))} -> ${show(JSON.stringify(ch.after))}`), '  '));
  }
  const p = d.profile;
  if (p.appArmor.added.length + p.appArmor.removed.length + p.seccomp.added.length + p.seccomp.removed.length > 0) {
    out.push('', 'Profile changes:');
    out.push(...capped(p.appArmor.added.map((l) => `+ apparmor ${show(l)}`), '  '));
    out.push(...capped(p.appArmor.removed.map((l) => `- apparmor ${show(l)}`), '  '));
    out.push(...capped(p.seccomp.added.map((l) => `+ seccomp ${l}`), '  '));
    out.push(...capped(p.seccomp.removed.map((l) => `- seccomp ${l}`), '  '));
  }
  if (d.verdicts.length) {
    out.push('', 'Rule verdict changes:');
    for (const v of d.verdicts) out.push(`  ${v.id}: ${v.before} -> ${v.after}. ${show(v.reason)}`);
  }
  return out.join('\n') + '\n';
}
