/**
 * Security Profiles Operator custom resources (security-profiles-operator.x-k8s.io), API v1:
 * SeccompProfile and AppArmorProfile, both cluster-scoped, so the name carries the workload's
 * namespace (`varmor-<ns>-<name>`) and the metadata has none. SPO's AppArmorProfile holds an abstract allow-list, not
 * profile text, so it is coarser than apparmor.profile: no owner rules, read-only / read-write
 * only, TCP / UDP / raw only. SPO writes the paths into its profile unquoted, so only paths made
 * of `[A-Za-z0-9_./*+@-]` go in (the newer API enforces a similar pattern); the rest are listed
 * as omitted for the report.
 */
import type { BehaviorSet } from './behavior.js';
import { capability, granted } from './capabilities.js';
import { socketKind } from './net.js';
import { literalPrefix, patternTokens } from './pattern.js';
import { isWrite } from './perms.js';
import type { SeccompProfile } from './seccomp.js';

const GROUP = 'security-profiles-operator.x-k8s.io';

const VERSION = 'v1';

/** Cluster-scoped: a name and labels, no namespace. */
export interface SpoMeta {
  name: string;
  labels?: Record<string, string>;
}

export function spoSeccompProfile(profile: SeccompProfile, meta: SpoMeta) {
  // SPO's spec has no defaultErrnoRet; SCMP_ACT_ERRNO already returns EPERM.
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'SeccompProfile',
    metadata: meta,
    spec: { defaultAction: profile.defaultAction, architectures: profile.architectures, syscalls: profile.syscalls },
  };
}

const SAFE = /^\/[A-Za-z0-9_./*+@-]*$/;

/** The pattern as SPO text (bare `*` / `**` globs), or undefined when it holds anything else. */
function spoPath(pattern: string): string | undefined {
  const tokens = patternTokens(pattern);
  // A literal `*` would turn into a glob here: refuse it, like any character outside SAFE.
  if (tokens.includes(0x2a)) return undefined;
  const text = tokens.map((t) => (typeof t === 'number' ? String.fromCharCode(t) : t)).join('');
  return SAFE.test(text) ? text : undefined;
}

/**
 * Conservative overlap of SPO paths with any of `written`: two globs may match a common path when
 * one literal prefix (the text before the first `*`) starts with the other. Sorted prefixes and a
 * set keep it near linear for large models.
 */
function overlapTest(written: readonly string[]): (path: string) => boolean {
  const prefixes = written.map(literalPrefix).sort();
  const set = new Set(prefixes);
  return (path) => {
    const prefix = literalPrefix(path);
    for (let i = 1; i <= prefix.length; i++) if (set.has(prefix.slice(0, i))) return true;
    let lo = 0;
    let hi = prefixes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (prefixes[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    return lo < prefixes.length && prefixes[lo]!.startsWith(prefix);
  };
}

export interface SpoAppArmor {
  resource: ReturnType<typeof appArmorResource>;
  /** Behaviors the resource cannot express: the workload would be denied them under it. */
  omitted: string[];
}

function appArmorResource(meta: SpoMeta, mode: SpoMode, abstract: Record<string, unknown>) {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: 'AppArmorProfile', metadata: meta, spec: { mode, abstract } };
}

export type SpoMode = 'Enforce' | 'Complain';

export function spoAppArmorProfile(set: BehaviorSet, meta: SpoMeta, mode: SpoMode = 'Enforce'): SpoAppArmor {
  const omitted: string[] = [];
  const executables: string[] = [];
  for (const key of Object.keys(set.executions ?? {}).sort()) {
    const p = spoPath(key);
    if (p) executables.push(p);
    else omitted.push(`executions ${key}`);
  }
  const readOnly: string[] = [];
  const readWrite: string[] = [];
  for (const [key, item] of Object.entries(set.files ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const p = spoPath(key);
    if (!p) omitted.push(`files ${key}`);
    else if ((item.sets?.perms ?? []).some(isWrite)) readWrite.push(p);
    else readOnly.push(p);
  }
  // SPO pairs each read-only path with `deny <path> wlk`, and deny wins over any allow: a read-only
  // pattern that may overlap a written one goes to allowedLibraries (`mr`, no deny) instead.
  const overlaps = overlapTest(readWrite);
  const libraries = readOnly.filter(overlaps);
  const readOnlyPaths = readOnly.filter((p) => !overlaps(p));

  const kinds = Object.keys(set.sockets ?? {}).map(socketKind);
  const network = {
    allowRaw: kinds.some((k) => k.type === 'raw'),
    allowedProtocols: { allowTcp: kinds.some((k) => k.protocol === 'tcp'), allowUdp: kinds.some((k) => k.protocol === 'udp') },
  };
  for (const k of kinds) if (k.domain !== 'inet' && k.domain !== 'inet6') omitted.push(`sockets ${k.domain}/${k.type}/${k.protocol}`);
  const caps = Object.entries(set.capabilities ?? {})
    .filter(([, item]) => granted(item.sets?.verdict))
    .map(([k]) => capability(k))
    .filter((c): c is NonNullable<typeof c> => c !== undefined)
    .sort();

  const abstract: Record<string, unknown> = {
    executable: { allowedExecutables: executables, ...(libraries.length ? { allowedLibraries: libraries } : {}) },
    filesystem: { readOnlyPaths, readWritePaths: readWrite },
    network,
    capability: { allowedCapabilities: caps },
  };
  return { resource: appArmorResource(meta, mode, abstract), omitted };
}
