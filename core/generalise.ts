/**
 * Path generalisation: vArmor's rules, plus detection of random-looking path components, turning
 * the raw paths a workload touched into the patterns its profile needs on every run (next run's
 * pids, temp names and ids differ). Keys of `files` and `executions` in the result are patterns
 * (pattern.ts); each item keeps its earliest raw path in `raw` (the model's `oldPath`).
 *
 * Writes are never widened to a directory the workload did not write in: a subtree rule (`/tmp/**`,
 * the service-account directory) takes only the read side of an access; the write side becomes
 * `<directory it was written in>/*`. Multiarch library directories are generalised only when every
 * access was a read.
 */
import { CATEGORIES, mergeItem, type BehaviorSet, type Category, type Item } from './behavior.js';
import { escapeGlob } from './pattern.js';
import { isWrite } from './perms.js';

export interface GeneralisationRule {
  id: string;
  description: string;
}

export interface AppliedRule extends GeneralisationRule {
  /** Rewrites the rule took part in (a read/write split counts twice). */
  count: number;
  /** Up to three rewrites, raw path to pattern. */
  examples: { from: string; to: string }[];
}

export interface Generalised {
  set: BehaviorSet;
  applied: AppliedRule[];
}

export const RULES = {
  procPid: { id: 'proc-pid', description: 'process ids under /proc (/proc/<digits>, .../task/<digits>) become *' },
  tmp: { id: 'tmp', description: 'reads anywhere under /tmp become /tmp/**; writes become <directory written in>/*' },
  saToken: {
    id: 'sa-token',
    description: 'the service-account token directory (its ..data and timestamped links change on rotation) becomes <dir>/**; writes stay in their directory',
  },
  multiarchLib: { id: 'multiarch-lib', description: 'read-only accesses under a multiarch library directory (/lib/<triplet>, /usr/lib/<triplet>) become <dir>/**' },
  uuid: { id: 'uuid', description: 'UUIDs inside a path component become *' },
  ip: { id: 'ip-address', description: 'IPv4 / IPv6 addresses inside a path component become *' },
  hex: { id: 'hex-id', description: 'hex ids of 8 or more characters with a digit (container ids, hashes, dates) become *' },
  number: { id: 'number', description: 'path components made only of digits become *' },
  base64: { id: 'base64-token', description: 'tokens of 8 or more letters and digits mixing upper case, lower case and digits (mktemp names, random tokens) become *' },
} as const satisfies Record<string, GeneralisationRule>;

const MULTIARCH_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu'];
const SA_DIRS = ['/run/secrets/kubernetes.io/serviceaccount', '/var/run/secrets/kubernetes.io/serviceaccount'];

/** Token detectors, tried in order within the runs of a component between model escapes. */
const TOKEN_RULES: { rule: GeneralisationRule; re: RegExp }[] = [
  { rule: RULES.uuid, re: /(?<![A-Za-z0-9])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![A-Za-z0-9])/gi },
  { rule: RULES.ip, re: /(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9.])|(?<![0-9a-f:])(?=(?:[0-9a-f:]*[0-9a-f]){4})(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![0-9a-f:])/gi },
  { rule: RULES.hex, re: /(?<![A-Za-z0-9])(?=[0-9a-f]*\d)[0-9a-f]{8,}(?![A-Za-z0-9])/gi },
  { rule: RULES.base64, re: /(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{8,}(?![A-Za-z0-9])/g },
];

/** Model escapes (`\\`, `\xNN`) are opaque: detectors never match across or into them. */
const ESCAPE = /\\\\|\\x[0-9a-f]{2}/g;

/** One component as a pattern, with the ids of the rules that rewrote it. */
function component(text: string, underProc: boolean, used: Set<GeneralisationRule>): string {
  if (/^\d+$/.test(text)) {
    used.add(underProc ? RULES.procPid : RULES.number);
    return '*';
  }
  let out = '';
  let last = 0;
  for (const m of text.matchAll(ESCAPE)) {
    out += run(text.slice(last, m.index), used) + m[0];
    last = m.index + m[0].length;
  }
  return (out + run(text.slice(last), used)).replace(/\*+/g, '*');
}

function run(text: string, used: Set<GeneralisationRule>): string {
  if (!/\d/.test(text)) return escapeGlob(text); // every detector needs a digit
  // Mark matches with a character no path run holds, escape the rest, then turn marks into globs.
  const MARK = '\u0000';
  let marked = text;
  for (const { rule, re } of TOKEN_RULES) {
    marked = marked.replace(re, () => {
      used.add(rule);
      return MARK;
    });
  }
  return escapeGlob(marked).split(MARK).join('*');
}

/** Components repeat across paths (var, lib, pids): one generalise() call rewrites each once. */
type Cache = Map<string, { pattern: string; rules: GeneralisationRule[] }>;

/** Component-level generalisation of a whole path (no subtree rules). */
function components(path: string, used: Set<GeneralisationRule>, cache: Cache): string {
  const parts = path.split('/');
  return parts
    .map((p, i) => {
      const underProc = isProcPidSlot(parts, i);
      const key = (underProc ? '1' : '0') + p;
      let hit = cache.get(key);
      if (!hit) {
        const rules = new Set<GeneralisationRule>();
        cache.set(key, (hit = { pattern: component(p, underProc, rules), rules: [...rules] }));
      }
      for (const r of hit.rules) used.add(r);
      return hit.pattern;
    })
    .join('/');
}

/** /proc/<pid> and /proc/<pid>/task/<tid>. */
function isProcPidSlot(parts: string[], i: number): boolean {
  if (parts[0] !== '' || parts[1] !== 'proc') return false;
  return i === 2 || (i === 4 && parts[3] === 'task');
}

function under(path: string, dirs: readonly string[]): string | undefined {
  return dirs.find((d) => path.startsWith(d + '/') && path.length > d.length + 1);
}

function parentPattern(path: string, used: Set<GeneralisationRule>, cache: Cache): string {
  return components(path.slice(0, path.lastIndexOf('/')), used, cache) + '/*';
}

interface Piece {
  key: string;
  item: Item;
  used: Set<GeneralisationRule>;
}

function withPerms(item: Item, perms: string[]): Item {
  return { ...item, sets: { ...item.sets, perms } };
}

function componentsOnly(path: string, item: Item, cache: Cache): Piece {
  const used = new Set<GeneralisationRule>();
  return { key: components(path, used, cache), item, used };
}

/** The pattern(s) one raw file access becomes: one, or two when a subtree rule splits reads from writes. */
function generaliseFile(path: string, item: Item, cache: Cache): Piece[] {
  const perms = item.sets?.perms ?? [];
  const writes = perms.filter(isWrite);
  const reads = perms.filter((p) => !isWrite(p));
  const tmp = path.startsWith('/tmp/') && path.length > 5 ? '/tmp' : undefined;
  const sa = under(path, SA_DIRS);
  const subtree = tmp ?? sa ?? (writes.length === 0 ? under(path, MULTIARCH_DIRS) : undefined);
  if (!subtree) return [componentsOnly(path, item, cache)];
  const rule = tmp ? RULES.tmp : sa ? RULES.saToken : RULES.multiarchLib;
  const pieces: Piece[] = [];
  if (writes.length === 0 || reads.length > 0) {
    pieces.push({ key: escapeGlob(subtree) + '/**', item: writes.length ? withPerms(item, reads) : item, used: new Set([rule]) });
  }
  if (writes.length > 0) {
    const used = new Set<GeneralisationRule>([rule]);
    pieces.push({ key: parentPattern(path, used, cache), item: withPerms(item, writes), used });
  }
  return pieces;
}

const PATH_CATEGORIES: readonly Category[] = ['files', 'executions'];

export function generalise(set: BehaviorSet): Generalised {
  const out: BehaviorSet = {};
  const applied = new Map<string, AppliedRule>();
  const cache: Cache = new Map();
  for (const category of CATEGORIES) {
    const items = set[category];
    if (!items) continue;
    if (!PATH_CATEGORIES.includes(category)) {
      out[category] = { ...items };
      continue;
    }
    const dst: Record<string, Item> = {};
    for (const [path, item] of Object.entries(items)) {
      // Executions take component rules only: `/tmp/**` with exec would let anything dropped in /tmp run.
      const pieces = category === 'files' ? generaliseFile(path, item, cache) : [componentsOnly(path, item, cache)];
      for (const piece of pieces) {
        const raw = item.raw ?? path;
        const next = withRaw(piece.item, raw === piece.key ? undefined : raw);
        const existing = dst[piece.key];
        // Keyed merge: an item without raw was seen as the pattern itself, which then needs no oldPath.
        dst[piece.key] = existing ? mergeItem(existing, next, piece.key) : next;
        for (const rule of piece.used) record(applied, rule, raw, piece.key);
      }
    }
    out[category] = dst;
  }
  return { set: out, applied: [...applied.values()].sort((a, b) => (a.id < b.id ? -1 : 1)) };
}

function withRaw(item: Item, raw: string | undefined): Item {
  const out: Item = { first: item.first, last: item.last, n: item.n };
  if (item.sets) out.sets = item.sets;
  if (item.owner !== undefined) out.owner = item.owner;
  if (raw !== undefined) out.raw = raw;
  return out;
}

function record(applied: Map<string, AppliedRule>, rule: GeneralisationRule, from: string, to: string): void {
  let entry = applied.get(rule.id);
  if (!entry) applied.set(rule.id, (entry = { ...rule, count: 0, examples: [] }));
  entry.count++;
  if (entry.examples.length < 3) entry.examples.push({ from, to });
}
