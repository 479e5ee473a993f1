/**
 * An ArmorProfileModel (ours, or one vArmor wrote) read back into a behavior set, so diff and the
 * advisor work on models alone. vArmor keeps no times or counts: items get first = last = 0 and
 * no counts, which renderings show as unknown.
 */
import type { BehaviorSet, Category, Item } from './behavior.js';
import type { ArmorProfileModel } from './armorprofilemodel.js';

const WORDS: Record<string, string> = { r: 'read', w: 'write', a: 'append', l: 'link', k: 'lock', m: 'mmap' };

function put(set: BehaviorSet, category: Category, key: string, sets?: Record<string, string[]>, extra?: Partial<Item>): void {
  const items = (set[category] ??= {});
  const item = (items[key] ??= { first: 0, last: 0, n: {} });
  if (sets) {
    item.sets ??= {};
    for (const [k, v] of Object.entries(sets)) item.sets[k] = [...new Set([...(item.sets[k] ?? []), ...v])].sort();
  }
  Object.assign(item, extra);
}

export function behaviorsFromModel(model: ArmorProfileModel): BehaviorSet {
  const set: BehaviorSet = {};
  const dynamic = model.data?.dynamicResult ?? {};
  // Older vArmor wrote `apparmor`.
  const aa = dynamic.appArmor ?? (dynamic as { apparmor?: typeof dynamic.appArmor }).apparmor ?? {};
  const bpf = dynamic.bpf ?? {};
  for (const p of aa.profiles ?? []) put(set, 'profiles', p);
  for (const e of [...(aa.executions ?? []), ...(bpf.executions ?? [])]) put(set, 'executions', e);
  for (const f of aa.files ?? []) put(set, 'files', f.path, { perms: f.permissions.map((l) => WORDS[l] ?? l) }, fileExtra(f));
  for (const f of bpf.files ?? []) put(set, 'files', f.path, { perms: f.permissions }, fileExtra(f));
  for (const c of [...(aa.capabilities ?? []), ...(bpf.capabilities ?? [])]) put(set, 'capabilities', c, { verdict: ['granted'] });
  for (const s of [...(aa.networks?.sockets ?? []), ...(bpf.network?.sockets ?? [])]) put(set, 'sockets', `${s.domain}/${s.type}/${s.protocol}`);
  // Egresses are {ip, ports} objects in both results (models of ours before 0.2 had strings in appArmor's: no ports, skipped).
  const egresses = [...(aa.networks?.egresses ?? []), ...(bpf.network?.egresses ?? [])].filter((e) => typeof e === 'object');
  for (const e of egresses) for (const port of e.ports ?? []) put(set, 'egresses', `${e.ip.includes(':') ? 'inet6' : 'inet'}|${e.ip}|${port}`);
  for (const p of aa.ptraces ?? []) put(set, 'ptraces', p.peer, { perms: p.permissions });
  for (const s of aa.signals ?? []) put(set, 'signals', s.peer, { signals: s.signals });
  for (const m of bpf.mounts ?? []) put(set, 'mounts', `${m.path}|${m.type}`, { flags: m.flags, ops: ['mount'] });
  for (const s of dynamic.seccomp?.syscalls ?? []) put(set, 'syscalls', s);
  for (const u of aa.unhandled ?? []) put(set, 'unhandled', u);
  return set;
}

function fileExtra(f: { oldPath?: string; owner?: boolean }): Partial<Item> {
  const extra: Partial<Item> = {};
  if (f.oldPath !== undefined) extra.raw = f.oldPath;
  if (f.owner !== undefined) extra.owner = f.owner;
  return extra;
}
