/**
 * securityContext advice: the tightest Kubernetes settings the observed behavior allows, each line
 * with the reason and the behaviors it rests on. Absence of evidence is only as good as the
 * modeling window; every "why" says what was looked for.
 */
import type { BehaviorSet, Category, Item } from './behavior.js';
import { capability, granted } from './capabilities.js';
import { evidence, type Evidence } from './evidence.js';
import { endpoint } from './net.js';
import { isWrite } from './perms.js';
import { runtimeDefaultFit, type RuntimeDefaultFit } from './seccomp.js';
import type { Arch } from './syscalls.js';

export interface SecurityContextOptions {
  /** Paths the pod makes writable (volumes, emptyDir, tmpfs): writes under them keep the root file system read-only. */
  writablePaths?: readonly string[];
  arches?: readonly Arch[];
  /** File name of the generated seccomp profile under the kubelet's seccomp directory, for Localhost. */
  localhostProfile?: string;
}

export interface AdviceLine {
  /** Dotted path in the pod spec, e.g. `securityContext.capabilities.drop`, `spec.hostPID`. */
  field: string;
  value: unknown;
  why: string;
  evidence: Evidence[];
}

export interface SecurityContextAdvice {
  /** The container's securityContext to paste. */
  securityContext: Record<string, unknown>;
  /** Pod-level fields. */
  pod: Record<string, unknown>;
  lines: AdviceLine[];
  runtimeDefault: RuntimeDefaultFit;
}

/** Binaries installed setuid-root by common distributions: running them needs privilege escalation. */
const SETUID_BINARIES = new Set(['su', 'sudo', 'passwd', 'ping', 'ping6', 'mount', 'umount', 'newgrp', 'chsh', 'chfn', 'gpasswd', 'pkexec', 'fusermount', 'fusermount3', 'unix_chkpwd', 'doas', 'crontab', 'at']);

/** Written by the runtime or kubelet, not the image: writes there do not need a writable root. */
const RUNTIME_WRITABLE = ['/dev/', '/proc/', '/sys/fs/cgroup/', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/run/secrets/', '/var/run/secrets/'];

const MAX = 10;

function entries(set: BehaviorSet, category: 'files' | 'executions' | 'capabilities' | 'binds' | 'mounts' | 'ptraces' | 'signals'): [string, Item][] {
  return Object.entries(set[category] ?? {});
}

/** Evidence earliest first, so the lines show what appeared first. */
function evidenceOf(category: Category, found: [string, Item][]): Evidence[] {
  return found
    .sort(([, a], [, b]) => a.first - b.first)
    .slice(0, MAX)
    .map(([k, item]) => evidence(category, k, item));
}

function under(path: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : p + '/'));
}

/** Capabilities a program uses to leave root for another user: setuid/setgid, and chown to hand it its files. */
const SWITCH_CAPABILITIES: readonly string[] = ['setuid', 'setgid', 'chown'];

/**
 * How the workload used setuid/setgid, if at all: `wrapper` when a process that switched user then
 * exec'd (setpriv, gosu, su: the switch is the wrapper's whole job, and it fails as non-root);
 * `drops-itself` when the program switched without exec'ing and used nothing but the switch's
 * capabilities and no low port (a server that leaves root for its workers, and starts as non-root
 * when it is started so); undefined otherwise.
 */
function userSwitch(caps: [string, Item][], names: readonly string[], lowPort: boolean): 'wrapper' | 'drops-itself' | undefined {
  const switches = caps.filter(([k]) => ['setuid', 'setgid'].includes(capability(k) ?? ''));
  if (switches.length === 0) return undefined;
  if (switches.some(([, item]) => item.sets?.then?.includes('exec'))) return 'wrapper';
  return !lowPort && names.every((c) => SWITCH_CAPABILITIES.includes(c)) ? 'drops-itself' : undefined;
}

/** What to change so that nothing needs uid 0, per capability used (and for a low port). */
const ROOT_CHANGES: [readonly string[], string][] = [
  [['setuid', 'setgid'], 'it switches to another user by itself (setuid/setgid): start it as that user (runAsUser, runAsGroup) and turn its own switch off (e.g. nginx\'s `user` directive)'],
  [['chown', 'fowner', 'dac_override', 'dac_read_search'], 'it works on files it does not own: make them owned by the run-as user (fsGroup for volumes, chown in the image)'],
  [['net_bind_service'], 'it binds a port below 1024: bind a port >= 1024 (or set the sysctl net.ipv4.ip_unprivileged_port_start)'],
];

function rootChanges(caps: readonly string[], lowPort: boolean, wrapper: boolean): string[] {
  const out: string[] = [];
  const covered = new Set<string>();
  if (wrapper) {
    out.push('it starts through a wrapper that switches user and then execs the program (setpriv, gosu, su): run the program itself as that user (runAsUser, runAsGroup) without the wrapper');
    for (const c of ['setuid', 'setgid']) covered.add(c);
  }
  for (const [group, change] of ROOT_CHANGES) {
    if (group.every((c) => covered.has(c))) continue;
    const hit = group.filter((c) => caps.includes(c) || (c === 'net_bind_service' && lowPort));
    if (!hit.length) continue;
    out.push(change);
    for (const c of group) covered.add(c);
  }
  const rest = caps.filter((c) => !covered.has(c));
  if (rest.length) out.push(`it uses ${rest.join(', ')}: remove that need, or keep root with exactly these capabilities`);
  return out;
}

export function adviseSecurityContext(set: BehaviorSet, options: SecurityContextOptions = {}): SecurityContextAdvice {
  const lines: AdviceLine[] = [];
  const line = (field: string, value: unknown, why: string, ev: Evidence[] = []) => lines.push({ field, value, why, evidence: ev.slice(0, MAX) });

  const caps = entries(set, 'capabilities').filter(([, item]) => granted(item.sets?.verdict));
  const capNames = caps.map(([k]) => capability(k)).filter((c): c is NonNullable<typeof c> => c !== undefined);
  const capEvidence = evidenceOf('capabilities', caps);
  const lowBinds = entries(set, 'binds').filter(([k]) => {
    const port = endpoint(k).port;
    return port > 0 && port < 1024;
  });
  const switching = userSwitch(caps, capNames, lowBinds.length > 0);
  line('securityContext.capabilities.drop', ['ALL'], 'Start from no capabilities; the runtime default set grants more than most workloads use.');
  if (capNames.length && switching !== 'drops-itself') line('securityContext.capabilities.add', capNames.map((c) => c.toUpperCase()), `The workload used ${capNames.length} capabilit${capNames.length === 1 ? 'y' : 'ies'} successfully.`, capEvidence);

  const setuidExecs = entries(set, 'executions').filter(([k, item]) => [k, item.raw ?? k].some((p) => SETUID_BINARIES.has(p.slice(p.lastIndexOf('/') + 1))));
  const idCaps = caps.filter(([k]) => ['setuid', 'setgid'].includes(capability(k) ?? ''));
  if (setuidExecs.length) {
    line(
      'securityContext.allowPrivilegeEscalation',
      true,
      'The workload ran binaries that are setuid-root on common distributions; under no_new_privs their setuid bit is ignored and they fail. (The model records no file modes: this is judged by name.)',
      evidenceOf('executions', setuidExecs),
    );
  } else {
    line(
      'securityContext.allowPrivilegeEscalation',
      false,
      `No known setuid binary (su, sudo, ping, mount, ...) was executed${idCaps.length ? '; the setuid/setgid capabilities seen change ids directly, which no_new_privs allows' : ''}.`,
      evidenceOf('capabilities', idCaps),
    );
  }

  const writable = [...RUNTIME_WRITABLE, ...(options.writablePaths ?? [])];
  const rootWrites = entries(set, 'files').filter(([k, item]) => (item.sets?.perms ?? []).some(isWrite) && ![k, item.raw ?? k].every((p) => under(p, writable)));
  if (rootWrites.length === 0) {
    line('securityContext.readOnlyRootFilesystem', true, `No writes outside ${options.writablePaths?.length ? 'the declared writable paths and ' : ''}the runtime's own mounts (/dev, /proc, /etc/hosts, ...).`);
  } else {
    line(
      'securityContext.readOnlyRootFilesystem',
      false,
      `${rootWrites.length} written path${rootWrites.length === 1 ? '' : 's'} on the root file system; mount an emptyDir or volume there (and declare it writable) to make the root read-only.`,
      evidenceOf('files', rootWrites),
    );
  }

  const rootEvidence = [...capEvidence, ...evidenceOf('binds', lowBinds)];
  if (rootEvidence.length === 0) {
    line('securityContext.runAsNonRoot', true, 'No capability was used and no port below 1024 was bound: nothing needed uid 0. The image needs a numeric non-root USER (or set runAsUser).');
  } else if (switching === 'drops-itself') {
    line(
      'securityContext.runAsNonRoot',
      true,
      `The capabilities it used (${capNames.join(', ')}) only switched it from root to another user after it started, without exec'ing a new program: started as that user (runAsUser, runAsGroup, with the paths it writes owned by it) there is nothing to switch and no capability is needed. If it refuses to start as non-root, keep runAsNonRoot false and add exactly ${capNames.map((c) => c.toUpperCase()).join(', ')}.`,
      rootEvidence,
    );
  } else {
    line('securityContext.runAsNonRoot', false, `It needs uid 0 as it runs now: a non-root container process gets no capabilities in Kubernetes. To run it as non-root: ${rootChanges(capNames, lowBinds.length > 0, switching === 'wrapper').join('; ')}.`, rootEvidence);
  }

  const syscalls = Object.keys(set.syscalls ?? {});
  const fit = runtimeDefaultFit(syscalls, options.arches ?? [], capNames);
  const seccomp = fit.compatible
    ? { type: 'RuntimeDefault' }
    : { type: 'Localhost', ...(options.localhostProfile ? { localhostProfile: options.localhostProfile } : {}) };
  line(
    'securityContext.seccompProfile',
    seccomp,
    fit.compatible
      ? `Every observed syscall is allowed by the runtime's RuntimeDefault profile${fit.conditional.length ? ` (${fit.conditional.map((c) => c.syscall).join(', ')} only for some arguments)` : ''}. The generated Localhost profile is tighter still, but allows only what was observed (with its equivalents, e.g. writev for write): use it once the modeling window has driven every code path, as it refuses the others.`
      : `RuntimeDefault refuses ${fit.refused.map((r) => r.syscall + (r.allowedWith ? ` (unless ${r.allowedWith})` : '')).join(', ')}; use the generated Localhost profile.`,
    fit.refused.map((r) => evidence('syscalls', r.syscall, set.syscalls![r.syscall]!)),
  );

  const devices = entries(set, 'files').filter(([k, item]) => [k, item.raw ?? k].some((p) => /^\/dev\/(sd|vd|xvd|hd|nvme|dm-|loop|md|mem$|kmem$|port$)/.test(p)));
  const sysWrites = entries(set, 'files').filter(([k, item]) => (item.sets?.perms ?? []).some(isWrite) && /^\/(sys\/(?!fs\/cgroup\/)|proc\/sys\/)/.test(item.raw ?? k));
  const mounts = entries(set, 'mounts');
  const privEvidence = [...evidenceOf('files', [...devices, ...sysWrites]), ...evidenceOf('mounts', mounts)];
  if (privEvidence.length === 0) line('securityContext.privileged', false, 'No host device, no write to /sys or /proc/sys, no mount: nothing needed a privileged container.');
  else line('securityContext.privileged', 'review', 'Host devices, kernel tunables or mounts were used: a privileged container may be needed, or the exact capability and device.', privEvidence);

  const external = [...entries(set, 'ptraces'), ...entries(set, 'signals')].filter(([peer]) => peer === 'external');
  if (external.length === 0) line('spec.hostPID', false, 'No signal or ptrace crossed the container: nothing needed the host PID namespace.');
  else
    line(
      'spec.hostPID',
      'review',
      'The workload signalled or traced processes outside its container: it needs the host PID namespace or shareProcessNamespace.',
      external.map(([peer]) => evidence(set.ptraces?.[peer] ? 'ptraces' : 'signals', peer, (set.ptraces?.[peer] ?? set.signals?.[peer])!)),
    );
  line('spec.hostNetwork', false, 'Behavior never requires the host network namespace (binds and connections work in the pod namespace); keep it unless the pod must serve on the node address by design.');
  line('spec.hostIPC', false, 'SysV IPC and /dev/shm work inside the pod IPC namespace.');

  const securityContext: Record<string, unknown> = {};
  const pod: Record<string, unknown> = {};
  for (const l of lines) {
    if (l.value === 'review') continue;
    const [scope, ...path] = l.field.split('.');
    let target = scope === 'spec' ? pod : securityContext;
    for (const p of path.slice(0, -1)) target = (target[p] ??= {}) as Record<string, unknown>;
    target[path.at(-1)!] = l.value;
  }
  return { securityContext, pod, lines, runtimeDefault: fit };
}
