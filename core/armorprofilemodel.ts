import { keys, type BehaviorSet, type Item } from './behavior.js';
import { letters } from './perms.js';

/**
 * vArmor's ArmorProfileModel (crd.varmor.org/v1beta1), the contract our output must keep so that
 * vArmor loads it as-is. Fields of our own live under names vArmor does not use
 * (`storage`, kept only where the CRD declares it; on vArmor's CRD an annotation).
 */
export interface ArmorProfileModel {
  apiVersion: 'crd.varmor.org/v1beta1';
  kind: 'ArmorProfileModel';
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  storageType: 'CRDInternal' | 'LocalDisk';
  /** Ours: where the data lives when it is too large for the API server. */
  storage?: { url: string; key: string };
  data: {
    dynamicResult: {
      appArmor?: AppArmorResult;
      bpf?: BpfResult;
      seccomp?: { syscalls: string[] };
    };
    staticResult: Record<string, never>;
    profile: ProfileSection;
  };
  status: ModelStatus;
}

export interface AppArmorResult {
  profiles?: string[];
  executions?: string[];
  files?: { path: string; oldPath?: string; owner?: boolean; permissions: string[] }[];
  capabilities?: string[];
  networks?: { sockets?: Socket[]; egresses?: Egress[] };
  ptraces?: { peer: string; permissions: string[]; external?: boolean }[];
  signals?: { peer: string; permissions: string[]; signals: string[] }[];
  unhandled?: string[];
}

export interface BpfResult {
  executions?: string[];
  files?: { path: string; oldPath?: string; owner?: boolean; permissions: string[] }[];
  capabilities?: string[];
  network?: { sockets?: Socket[]; egresses?: Egress[] };
  ptraces?: { external: boolean; permissions: string[] }[];
  mounts?: { path: string; type: string; flags: string[] }[];
}

export interface Egress {
  ip: string;
  ports: number[];
}

export interface Socket {
  domain: string;
  type: string;
  protocol: string;
}

export interface ProfileSection {
  name: string;
  enforcer: string;
  mode: 'enforce' | 'complain';
  appArmor: string;
  /** vArmor's BpfContent (an object) for its BPF enforcer; absent: we generate none. */
  bpf?: Record<string, unknown>;
  seccomp: string;
}

export interface ModelStatus {
  desiredNumber: number;
  completedNumber: number;
  ready: boolean;
  conditions?: {
    type: 'Ready';
    status: 'True' | 'False';
    lastTransitionTime: string;
    reason: string;
    message: string;
    nodeName: string;
  }[];
}

/** vArmor's profile name: `varmor-<namespace>-<name>`, lower-cased; characters AppArmor names cannot hold become `-`. */
export function profileName(namespace: string, name: string): string {
  return `varmor-${namespace}-${name}`.toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
}

/** Kubernetes object names: DNS-1123 subdomain. */
export function objectName(name: string): string {
  const n = name
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return (n || 'unnamed').slice(0, 253);
}

function fileEntries(set: BehaviorSet, permissions: (words: string[]) => string[]) {
  return Object.entries(set.files ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, item]) => {
      const entry: { path: string; oldPath?: string; owner?: boolean; permissions: string[] } = {
        path,
        permissions: permissions(item.sets?.perms ?? []),
      };
      if (item.raw !== undefined && item.raw !== path) entry.oldPath = item.raw;
      if (item.owner) entry.owner = true;
      return entry;
    })
    .filter((e) => e.permissions.length > 0);
}

function splitKey(key: string, sep: string): string[] {
  return key.split(sep);
}

function sockets(set: BehaviorSet): Socket[] {
  return keys(set, 'sockets').map((k) => {
    const [domain = '', type = '', protocol = ''] = splitKey(k, '/');
    return { domain, type, protocol };
  });
}

function egressByIp(set: BehaviorSet): Egress[] {
  const byIp = new Map<string, Set<number>>();
  for (const k of keys(set, 'egresses')) {
    const [family, address = '', port = '0'] = splitKey(k, '|');
    if (family === 'unix') continue;
    const ports = byIp.get(address) ?? new Set<number>();
    ports.add(Number(port));
    byIp.set(address, ports);
  }
  return [...byIp].map(([ip, ports]) => ({ ip, ports: [...ports].sort((a, b) => a - b) }));
}

function setOf(item: Item, name: string): string[] {
  return item.sets?.[name] ?? [];
}

function compact<T extends object>(o: T): T {
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || (Array.isArray(v) && v.length === 0)) delete (o as Record<string, unknown>)[k];
    else if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(compact(v)).length === 0) delete (o as Record<string, unknown>)[k];
  }
  return o;
}

/**
 * The vArmor-shaped dynamic results of a merged behavior set. `profiles` names the profile the
 * workload was modelled under: ours, exactly one, as vArmor's generator requires.
 */
export function dynamicResult(set: BehaviorSet, profile: string): ArmorProfileModel['data']['dynamicResult'] {
  const appArmor: AppArmorResult = compact({
    profiles: [profile],
    executions: keys(set, 'executions'),
    files: fileEntries(set, letters),
    capabilities: keys(set, 'capabilities'),
    networks: { sockets: sockets(set), egresses: egressByIp(set) },
    ptraces: Object.entries(set.ptraces ?? {}).map(([peer, item]) => ({ peer, permissions: setOf(item, 'perms'), ...(peer === 'external' ? { external: true } : {}) })),
    signals: Object.entries(set.signals ?? {}).map(([peer, item]) => ({ peer, permissions: ['send'], signals: setOf(item, 'signals') })),
    unhandled: keys(set, 'unhandled'),
  });
  const bpf: BpfResult = compact({
    executions: keys(set, 'executions'),
    files: fileEntries(set, (words) => [...words].sort()),
    capabilities: keys(set, 'capabilities'),
    network: { sockets: sockets(set), egresses: egressByIp(set) },
    ptraces: Object.entries(set.ptraces ?? {}).map(([peer, item]) => ({ external: peer === 'external', permissions: setOf(item, 'perms') })),
    mounts: Object.entries(set.mounts ?? {}).map(([k, item]) => {
      const [path = '', type = ''] = splitKey(k, '|');
      return { path, type, flags: setOf(item, 'flags') };
    }),
  });
  return compact({ appArmor, bpf, seccomp: { syscalls: keys(set, 'syscalls') } });
}
