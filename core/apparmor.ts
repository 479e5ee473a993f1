/**
 * The AppArmor profile of a generalised behavior set, in vArmor's BehaviorModeling style, narrowed
 * where vArmor is wide: network rules per observed family and type instead of `network,`, umount
 * only of mount points seen unmounted instead of a blanket `umount,` (which would let a workload
 * with sys_admin lift the runtime's masking mounts over /proc and /sys).
 *
 * Every path is emitted as a quoted string with every byte outside printable ASCII, every quote,
 * backslash and glob character escaped, so no file name can end a rule, open a block, or glob.
 * Comments are fixed text: model content never lands in one.
 */
import type { BehaviorSet, Category } from './behavior.js';
import { capability, granted } from './capabilities.js';
import { evidence, type Evidence } from './evidence.js';
import { APPARMOR_DOMAINS, APPARMOR_TYPES, socketKind } from './net.js';
import { escapeGlob, patternTokens } from './pattern.js';
import { letters } from './perms.js';

export type Section = 'exec' | 'file' | 'capability' | 'network' | 'ptrace' | 'signal' | 'mount';

export interface ProfileRule {
  section: Section;
  /** The rule as written in the profile, without indentation. */
  text: string;
  /** The behaviors that made the rule; empty for the fixed rules every profile carries. */
  evidence: Evidence[];
  /** Why a fixed rule is there. */
  why?: string;
}

export interface Skipped {
  category: Category;
  key: string;
  reason: string;
}

export interface AppArmorProfile {
  name: string;
  text: string;
  rules: ProfileRule[];
  /** Behaviors no rule allows, and why: the workload will be denied them under this profile. */
  skipped: Skipped[];
}

export interface AppArmorOptions {
  /** Profile name; also the peer of the ptrace and signal rules. */
  name: string;
  mode?: 'enforce' | 'complain';
}

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * Bytes printed as themselves inside a quoted string; all others are escaped. Quote and backslash
 * go octal: apparmor_parser's lexer reads `"/a\\"` as an unterminated string.
 */
function quoteByte(b: number): string {
  if (b === 0x22 || b === 0x5c) return '\\' + b.toString(8).padStart(3, '0');
  if ('*?[]{}'.includes(String.fromCharCode(b))) return '\\' + String.fromCharCode(b);
  if (b >= 0x20 && b < 0x7f) return String.fromCharCode(b);
  return '\\' + b.toString(8).padStart(3, '0');
}

/** A pattern as an AppArmor quoted path, or undefined when it is no absolute path (pipe:[..], anon_inode:..). */
export function quotePattern(pattern: string): string | undefined {
  const tokens = patternTokens(pattern);
  if (tokens[0] !== 0x2f) return undefined;
  return '"' + tokens.map((t) => (typeof t === 'number' ? quoteByte(t) : t)).join('') + '"';
}

function sorted<T>(items: Record<string, T> | undefined): [string, T][] {
  return Object.entries(items ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function appArmorProfile(set: BehaviorSet, options: AppArmorOptions): AppArmorProfile {
  if (!NAME.test(options.name)) throw new RangeError(`AppArmor profile name "${options.name}" must match ${NAME}`);
  const name = options.name;
  const rules: ProfileRule[] = [];
  const skipped: Skipped[] = [];
  const add = (section: Section, text: string, ev: Evidence[], why?: string) => rules.push(why ? { section, text, evidence: ev, why } : { section, text, evidence: ev });

  for (const [key, item] of sorted(set.executions)) {
    const path = quotePattern(key);
    if (path) add('exec', `${path} ix,`, [evidence('executions', key, item)]);
    else skipped.push({ category: 'executions', key, reason: 'not an absolute path' });
  }

  for (const [key, item] of sorted(set.files)) {
    let perms = letters(item.sets?.perms ?? []);
    // AppArmor rejects w and a together; w covers appending.
    if (perms.includes('w')) perms = perms.filter((p) => p !== 'a');
    if (perms.length === 0) continue;
    const path = quotePattern(key);
    if (!path) {
      skipped.push({ category: 'files', key, reason: 'not an absolute path' });
      continue;
    }
    add('file', `${item.owner ? 'owner ' : ''}${path} ${perms.join('')},`, [evidence('files', key, item)]);
  }

  for (const [key, item] of sorted(set.capabilities)) {
    const cap = capability(key);
    if (!cap) skipped.push({ category: 'capabilities', key, reason: 'unknown capability' });
    else if (granted(item.sets?.verdict)) add('capability', `capability ${cap},`, [evidence('capabilities', key, item)]);
  }

  networkRules(set, add, skipped);

  const selfTrace = set.ptraces?.self?.sets?.perms?.some((p) => p === 'trace' || p === 'tracedby');
  add('ptrace', `ptrace (read, readby) peer=${name},`, [], 'processes of the container inspect each other through /proc (ps, health checks)');
  if (selfTrace) add('ptrace', `ptrace (trace, tracedby) peer=${name},`, [evidence('ptraces', 'self', set.ptraces!.self!)]);
  add('signal', 'signal (receive) peer=unconfined,', [], 'the container runtime and kubelet stop the container');
  add('signal', `signal (send, receive) peer=${name},`, set.signals?.self ? [evidence('signals', 'self', set.signals.self)] : [], 'processes of the container signal each other');
  for (const [peer, category] of [['external', 'ptraces'], ['external', 'signals']] as const) {
    if (set[category]?.[peer]) skipped.push({ category, key: peer, reason: 'the peer outside the container has no profile name to allow' });
  }

  mountRules(set, add, skipped);

  const flags = options.mode === 'complain' ? 'attach_disconnected,mediate_deleted,complain' : 'attach_disconnected,mediate_deleted';
  return { name, text: render(name, flags, rules), rules, skipped };
}

type Add = (section: Section, text: string, ev: Evidence[], why?: string) => void;

function networkRules(set: BehaviorSet, add: Add, skipped: Skipped[]): void {
  const byRule = new Map<string, Evidence[]>();
  for (const [key, item] of sorted(set.sockets)) {
    const { domain, type } = socketKind(key);
    if (!APPARMOR_DOMAINS.has(domain)) {
      skipped.push({ category: 'sockets', key, reason: 'address family unknown to AppArmor' });
      continue;
    }
    const text = APPARMOR_TYPES.has(type) ? `network ${domain} ${type},` : `network ${domain},`;
    byRule.set(text, [...(byRule.get(text) ?? []), evidence('sockets', key, item)]);
  }
  for (const [text, ev] of byRule) add('network', text, ev);
}

const FSTYPE = /^[a-z0-9_.-]+$/;

function mountRules(set: BehaviorSet, add: Add, skipped: Skipped[]): void {
  for (const [key, item] of sorted(set.mounts)) {
    const sep = key.lastIndexOf('|');
    const [path, fstype] = [key.slice(0, sep), key.slice(sep + 1)];
    const target = quotePattern(escapeGlob(path));
    if (!target || (fstype !== '' && !FSTYPE.test(fstype))) {
      skipped.push({ category: 'mounts', key, reason: 'mount point or file system type cannot be written as a rule' });
      continue;
    }
    const ops = item.sets?.ops ?? ['mount'];
    const ev = [evidence('mounts', key, item)];
    if (ops.includes('mount')) add('mount', fstype ? `mount fstype=${fstype} -> ${target},` : `mount -> ${target},`, ev);
    // move_mount (the new mount API's attach step) is checked as a mount with MS_MOVE and no type
    if (ops.includes('move_mount')) add('mount', `mount options=(move) -> ${target},`, ev);
    if (ops.includes('umount')) add('mount', `umount ${target},`, ev);
  }
}

const HEADINGS: Record<Section, string> = {
  exec: 'EXEC',
  file: 'FILE',
  capability: 'CAPABILITY',
  network: 'NETWORK',
  ptrace: 'PTRACE',
  signal: 'SIGNAL',
  mount: 'MOUNT',
};

function render(name: string, flags: string, rules: ProfileRule[]): string {
  const lines = [
    '## Generated by varmor-modeler from observed behavior.',
    'abi <abi/3.0>,',
    '#include <tunables/global>',
    '',
    `profile ${name} flags=(${flags}) {`,
    '  #include <abstractions/base>',
  ];
  for (const section of Object.keys(HEADINGS) as Section[]) {
    const inSection = rules.filter((r) => r.section === section);
    if (inSection.length === 0) continue;
    lines.push('', `  # ---- ${HEADINGS[section]} ----`);
    for (const r of inSection) lines.push('  ' + r.text);
  }
  lines.push('}', '');
  return lines.join('\n');
}
