/**
 * The advice round trip: model a real server with `record`, then run it again in a runc container
 * with every piece of the report's advice applied at once (the generated seccomp profile,
 * capabilities, read-only root, no_new_privs, non-root user, PID namespace), drive it with a wider
 * client mix than it was modelled with, count what the profile refused, show that an attack the
 * model never saw is refused (and allowed without the profile), that calls refused by argument
 * alone (a user namespace through clone, an AF_ALG socket, a personality change) are refused where
 * the flat, names-only profile let them through, and, for every setting the advice leaves loose,
 * show that tightening it breaks the program.
 */
import { chmod, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import runtimeDefault from '../../core/data/runtime-default-syscalls.json' with { type: 'json' };
import { behaviorsFromModel } from '../../core/from-model.js';
import { allowedNames, seccompProfile, type SeccompProfile } from '../../core/seccomp.js';
import type { SecurityContextAdvice } from '../../core/security-context.js';
import { ALL_ARCHES, archFromNode } from '../../core/syscalls.js';
import { parse as parseYaml } from 'yaml';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { compiledRules, diffAgainstModel } from '../core/apparmor-parser.js';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { run, startCli, tempDir, type Started } from '../helpers.js';
import { emptyDirMount, hostBundle, imageMounts, type Bundle, type OciConfig, type OciMount } from '../runc/bundle.js';
import { Container } from '../runc/container.js';
import { DenialCounter, type Denial } from '../runc/seccomp-notify.js';
import { loggedProfile, WouldRefuse } from '../runc/seccomp-log.js';
import { listening, type Drive } from './drivers.js';
import type { Program, Workload } from './programs.js';

/** containerd's and Docker's default capability set, what a container gets unless told otherwise. */
export const RUNTIME_DEFAULT_CAPABILITIES = ['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'NET_RAW', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'];

/** The user a container runs as when the advice says runAsNonRoot (nobody). */
export const NON_ROOT = 65534;

/** An attack the model never saw: a new user namespace, which an unprivileged process may create when seccomp lets it. */
export const ATTACK = ['/bin/busybox', 'unshare', '-U', 'true'];

/** Where test/advice/probe.c is in every container: calls refused by their arguments alone. */
const PROBE = '/varmor-probe';
export const PROBE_CALLS = ['clone-newuser', 'socket-alg', 'personality-change'] as const;
const EPERM = 1;

/** The probe's output: 0 for a call that went through, else its errno. */
export type ProbeResult = Partial<Record<(typeof PROBE_CALLS)[number], number>>;

function probeResult(stdout: string): ProbeResult {
  const r: ProbeResult = {};
  for (const m of stdout.matchAll(/^(\S+) (?:ok|errno (\d+))$/gm)) r[m[1] as (typeof PROBE_CALLS)[number]] = m[2] ? Number(m[2]) : 0;
  return r;
}

/** A call the probe made that seccomp refused (EPERM: the profiles' answer). */
export const refusedBySeccomp = (r: ProbeResult, call: (typeof PROBE_CALLS)[number]) => r[call] === EPERM;

const ARCH = archFromNode(process.arch);
const READY_MS = 30_000;
const TRIAL_READY_MS = 8_000;

/** What the container is run with. */
export interface Settings {
  uid: number;
  gid: number;
  /** Capability names as the report spells them (SETUID, ...), in every set: bounding, effective, permitted, inheritable, ambient. */
  capabilities: string[];
  readonlyRoot: boolean;
  noNewPrivileges: boolean;
  hostPID: boolean;
}

/** The advice applied as a Kubernetes pod spec would apply it: what it sets, and Kubernetes' defaults for what it leaves out (`review`). */
export function settingsFromAdvice(advice: SecurityContextAdvice): Settings {
  const sc = advice.securityContext as {
    capabilities?: { drop?: string[]; add?: string[] };
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    runAsNonRoot?: boolean;
    privileged?: boolean;
  };
  if (sc.privileged) throw new Error('the advice says privileged: a runc round trip of a privileged container proves nothing');
  const drop = sc.capabilities?.drop ?? [];
  const base = drop.includes('ALL') ? [] : RUNTIME_DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
  const nonRoot = sc.runAsNonRoot === true;
  return {
    uid: nonRoot ? NON_ROOT : 0,
    gid: nonRoot ? NON_ROOT : 0,
    capabilities: [...new Set([...base, ...(sc.capabilities?.add ?? [])])].sort(),
    readonlyRoot: sc.readOnlyRootFilesystem === true,
    noNewPrivileges: sc.allowPrivilegeEscalation === false,
    hostPID: advice.pod.hostPID === true,
  };
}

/** Each advised field as the report's lines say it (`review` included). */
export function advisedValues(advice: SecurityContextAdvice): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const l of advice.lines) values[l.field.replace(/^(securityContext|spec)\./, '')] = l.value;
  return values;
}

/** Syscalls RuntimeDefault lets through on this architecture, with the capability-gated ones for these capabilities. */
export function runtimeDefaultCount(capabilities: string[]): number {
  const rd = runtimeDefault as { allowed: string[]; conditional: Record<string, string>; byArch: Record<string, string[]>; byCapability: Record<string, string[]> };
  const names = new Set([...rd.allowed, ...Object.keys(rd.conditional), ...(rd.byArch[ARCH] ?? [])]);
  for (const cap of capabilities) for (const n of rd.byCapability[cap.toLowerCase()] ?? []) names.add(n);
  return names.size;
}

export interface Attack {
  command: string[];
  /** Under the profile: the command failed and the listener saw its `unshare` refused. */
  refused: boolean;
  code: number | null;
  stderr: string;
  denied: string[];
  control: { allowed: boolean; code: number | null; stderr: string };
}

/** A setting the advice leaves loose, tightened in an otherwise identical container. */
export interface Trial {
  setting: string;
  change: string;
  works: boolean;
  detail: string;
}

/** The same calls in the program's container under the argument-aware profile, the flat one, and in log mode. */
export interface Probe {
  argumentAware: ProbeResult;
  flat: ProbeResult;
  logMode: ProbeResult;
  /** Syscalls of the probe's calls the flat profile names. */
  flatNames: string[];
}

/** One architecture's profile compiled by libseccomp (compile-seccomp.py). */
export interface Compiled {
  arch: string;
  names: number;
  rules: number;
  bpf_bytes: number;
  /** Names the profile allows that the architecture does not have. */
  missing: string[];
}

export interface RoundTrip {
  program: string;
  /** Every architecture's profile from this recording, compiled for its architecture. */
  compiled: Record<string, Compiled>;
  /** The report's advice, field by field. */
  advised: Record<string, unknown>;
  advice: SecurityContextAdvice;
  applied: Settings;
  /** Syscalls allowed and rules: the argument-aware profile, the flat one, RuntimeDefault. */
  syscalls: { ours: number; rules: number; narrowed: string[]; flat: number; runtimeDefault: number; seccompProfileType: string };
  /** AppArmor cannot be enforced here: the profile compiled by apparmor_parser -Q -K, its rules against the model. */
  appArmor: { fileRules: number; capabilities: string[]; differences: string[] };
  modelled: Drive;
  served: Drive & {
    ready: boolean;
    runningAtEnd: boolean;
    exit: number | null;
    expectedExits: number[];
    /** Syscalls refused from the start until it was stopped (the attack's own left out), and while stopping. */
    denied: Denial[];
    deniedAtStop: Denial[];
    output: string;
  };
  /** The same wide mix in the same container under the profile in log mode: nothing refused, and what it would refuse logged. */
  logMode: Drive & { wouldRefuse: string[]; attackLogged: string[] };
  attack: Attack;
  probe: Probe;
  trials: Trial[];
}

const NOT_SERVED: Drive = { requests: 1, failures: 1, problems: ['never served'] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(probe: () => Promise<boolean>, ms: number, gaveUp: () => boolean = () => false): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !gaveUp()) {
    if (await probe().catch(() => false)) return true;
    await sleep(250);
  }
  return false;
}

/** Every process below `pid` (children of children included). */
async function descendants(pid: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parent.set(Number(name), ppid);
  }
  const found: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    for (const [child, pp] of parent) {
      if (pp !== p) continue;
      todo.push(child);
      found.push(child);
    }
  }
  return found;
}

/** Ends a `record` run: SIGINT ends the window early (the CLI still merges); a CLI that does not finish is killed with its process tree. */
async function endRecord(rec: Started, graceMs: number): Promise<void> {
  if (rec.child.exitCode !== null) return;
  rec.child.kill('SIGINT');
  const finished = await Promise.race([rec.done.then(() => true), sleep(graceMs).then(() => false)]);
  if (finished) return;
  const tree = await descendants(rec.child.pid!);
  rec.child.kill('SIGKILL');
  for (const p of tree) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rec.done.catch(() => {});
}

/** Models the workload on the host: `record` launches it, the narrow client drives it, SIGINT ends the window. */
async function model(program: Program, w: Workload, out: string): Promise<Drive> {
  const args = ['record', '--duration', '120s', '--checkpoint-interval', '5s', '--out', out, '--name', `roundtrip-${program.name}`];
  if (w.writable.length) args.push('--writable', ...w.writable.map((p) => p.path));
  const home = await tempDir('home');
  const rec = startCli([...args, '--', ...w.argv], { VARMOR_MODELER_HOME: home }, 5 * 60_000);
  try {
    if (!(await until(w.ready, 90_000, () => rec.child.exitCode !== null))) throw new Error(`${program.name} never became ready while modelled: ${rec.stderr.slice(-2000)}`);
    const narrow = await w.narrow();
    await sleep(1_000);
    rec.child.kill('SIGINT');
    const r = await rec.done;
    if (r.code !== 0) throw new Error(`record exited ${r.code}: ${r.stderr.slice(-2000)}`);
    return narrow;
  } finally {
    await endRecord(rec, 60_000);
    await rm(home, { recursive: true, force: true });
  }
}

/** The OCI config for the program under `s`, with `seccomp` as linux.seccomp (none: no filter). */
async function configFor(bundle: Bundle, w: Workload, s: Settings, seccomp: unknown, volumes: Map<string, string>, probe: string): Promise<OciConfig> {
  const c = structuredClone(bundle.config);
  c.process.args = w.argv;
  c.process.user = { uid: s.uid, gid: s.gid, additionalGids: [] };
  const caps = s.capabilities.map((n) => `CAP_${n}`);
  c.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: caps };
  c.process.noNewPrivileges = s.noNewPrivileges;
  c.root.readonly = s.readonlyRoot;
  const writable: OciMount[] = [];
  for (const p of w.writable) {
    const volume = p.volume ? (volumes.get(p.path) ?? (await p.volume())) : undefined;
    if (volume) volumes.set(p.path, volume);
    writable.push(volume ? { destination: p.path, type: 'bind', source: volume, options: ['rbind', 'rw'] } : await emptyDirMount(bundle, p.path));
  }
  const probeMount: OciMount = { destination: PROBE, type: 'bind', source: probe, options: ['bind', 'ro'] };
  c.mounts = [...c.mounts, ...(await imageMounts(bundle, !s.readonlyRoot)), ...w.readonly.map((d): OciMount => ({ destination: d, type: 'bind', source: d, options: ['rbind', 'ro'] })), ...writable, probeMount];
  // The host's network namespace, so clients on the host reach 127.0.0.1:port; the PID namespace unless hostPID.
  c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'network' && !(s.hostPID && n.type === 'pid'));
  if (seccomp) c.linux.seccomp = seccomp;
  else delete c.linux.seccomp;
  return c;
}

/** The settings the advice leaves loose, each tightened alone: every one of them should break the program. */
function tightenings(s: Settings): { setting: string; change: string; settings: Settings }[] {
  const t: { setting: string; change: string; settings: Settings }[] = [];
  if (s.uid === 0) t.push({ setting: 'runAsNonRoot', change: `uid ${NON_ROOT}, no capabilities (what Kubernetes gives a non-root process)`, settings: { ...s, uid: NON_ROOT, gid: NON_ROOT, capabilities: [] } });
  for (const cap of s.capabilities) t.push({ setting: `capabilities.add ${cap}`, change: `without ${cap}`, settings: { ...s, capabilities: s.capabilities.filter((c) => c !== cap) } });
  if (!s.readonlyRoot) t.push({ setting: 'readOnlyRootFilesystem', change: 'read-only root', settings: { ...s, readonlyRoot: true } });
  if (!s.noNewPrivileges) t.push({ setting: 'allowPrivilegeEscalation', change: 'no_new_privs', settings: { ...s, noNewPrivileges: true } });
  return t;
}

export async function roundTrip(program: Program, log: (line: string) => void = () => {}): Promise<RoundTrip> {
  const work = await tempDir(`advice-${program.name}`);
  await chmod(work, 0o755); // the program's own user must reach its files
  if (await listening(program.port)) throw new Error(`port ${program.port} is in use: ${program.name} would not be the one answering`);
  const w = await program.prepare(work);
  try {
    return await modelAndRun(program, w, work, log);
  } finally {
    for (const d of w.scratch ?? []) await rm(d, { recursive: true, force: true });
  }
}

async function modelAndRun(program: Program, w: Workload, work: string, log: (line: string) => void): Promise<RoundTrip> {
  const out = join(work, 'out');

  log(`${program.name}: modelling ${w.argv.join(' ')}`);
  const modelled = await model(program, w, out);
  const seccomp = JSON.parse(await readFile(join(out, 'seccomp.json'), 'utf8')) as SeccompProfile;
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as { securityContext: SecurityContextAdvice };
  const advice = report.securityContext;
  const applied = settingsFromAdvice(advice);
  const advised = advisedValues(advice);
  const written = parseYaml(await readFile(join(out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
  const compiled = compiledRules(await readFile(join(out, 'apparmor.profile'), 'utf8'));
  const appArmor = { fileRules: compiled.files.size, capabilities: compiled.capabilities, differences: diffAgainstModel(compiled, written.data.dynamicResult.appArmor ?? {}) };
  log(`${program.name}: advice ${JSON.stringify(advice.securityContext)} ${JSON.stringify(advice.pod)}`);

  const libseccomp: Record<string, Compiled> = {};
  for (const arch of ALL_ARCHES) {
    const r = await run('/usr/bin/python3', [join(PACKAGE_ROOT, 'test', 'advice', 'compile-seccomp.py'), join(out, `seccomp.${arch}.json`)]);
    if (r.code !== 0) throw new Error(`libseccomp did not compile the ${arch} profile: ${r.stderr}`);
    libseccomp[arch] = JSON.parse(r.stdout) as Compiled;
  }
  const probe = join(work, 'probe');
  const cc = await run('gcc', ['-O2', '-nostdlib', '-static', '-fno-stack-protector', '-o', probe, join(PACKAGE_ROOT, 'test', 'advice', 'probe.c')]);
  if (cc.code !== 0) throw new Error(`the probe did not compile: ${cc.stderr}`);
  // The flat profile: the same names, every argument allowed (what every other recorder emits).
  const flat = seccompProfile(behaviorsFromModel(written), ARCH, { flat: true }).profile;
  const flatNames = allowedNames(flat);

  const bundle = await hostBundle();
  const counter = await DenialCounter.start(work, ARCH);
  const wouldRefuse = new WouldRefuse(ARCH);
  const profile = counter.instrument(seccomp);
  const containers: Container[] = [];
  let n = 0;
  const launch = async (s: Settings, filter: unknown, volumes = new Map<string, string>()) => {
    const c = await Container.start(bundle, await configFor(bundle, w, s, filter, volumes, probe), `varmor-advice-${process.pid}-${program.name}-${++n}`);
    containers.push(c);
    return c;
  };
  const runProbe = async (c: Container) => probeResult((await c.exec([PROBE])).stdout);
  try {
    // The program under all of the advice: the attack and the probe while it serves, then the wide client mix.
    const main = await launch(applied, profile);
    const ready = await until(w.ready, READY_MS, () => main.exitCode !== undefined);
    log(`${program.name}: ${ready ? 'serving under the advice; the attack, the probe, then the wide mix' : `not ready under the advice: ${main.output().slice(-1000)}`}`);
    const before = (await counter.denials(main.id)).length;
    const attack = ready ? await main.exec(ATTACK) : { code: null, stdout: '', stderr: 'not run: the program never served' };
    const argumentAware = ready ? await runProbe(main) : {};
    // The exec'd processes are the ones whose unshare (the attack) or personality (the probe, when
    // the profile names no personality at all) was refused; anything else refused meanwhile is the program's.
    const execPids = new Set((await counter.denials(main.id)).slice(before).filter((d) => d.syscall === 'unshare' || d.syscall === 'personality').map((d) => d.pid));
    const wide = ready ? await w.wide() : NOT_SERVED;
    const runningAtEnd = ready && (await main.running()) && (await w.ready().catch(() => false));
    const serving = await counter.denials(main.id);
    const exit = await main.stop(w.stop.signal);
    const deniedAtStop = (await counter.denials(main.id)).slice(serving.length);
    const output = main.output();
    await main.delete();

    // Control: the same container under the profile in log mode. It refuses nothing: the same wide
    // mix there tells failures the profile caused from any other, and the kernel logs every call
    // the profile would have refused (by name or by argument) from start-up to the end of the mix.
    // Then the attack and the probe, which it lets through.
    wouldRefuse.take();
    const control = await launch(applied, loggedProfile(seccomp));
    const controlReady = await until(w.ready, READY_MS, () => control.exitCode !== undefined);
    const unconfined = controlReady ? await w.wide() : NOT_SERVED;
    await sleep(500); // kauditd prints asynchronously
    const refusedInLogMode = wouldRefuse.take();
    const controlAttack = await control.exec(ATTACK);
    const logMode = await runProbe(control);
    // What the attack and the probe did the log shows: the log-mode channel works, so an empty list
    // above means something. kauditd prints asynchronously: their records may come a moment later.
    const attackLogged = wouldRefuse.take();
    for (let i = 0; i < 20 && !['unshare', 'clone', 'socket'].every((s) => attackLogged.includes(s)); i++) {
      await sleep(150);
      attackLogged.push(...wouldRefuse.take());
    }
    await control.stop(w.stop.signal);
    await control.delete();
    log(`${program.name}: in log mode: attack ${controlAttack.code === 0 ? 'allowed' : 'refused'}, ${unconfined.failures} of ${unconfined.requests} requests failed, would refuse ${refusedInLogMode.join(', ') || 'nothing'}`);

    // The flat profile: the probe's calls that only an argument rule refuses go through.
    const flatContainer = await launch(applied, counter.instrument(flat));
    const flatReady = await until(w.ready, READY_MS, () => flatContainer.exitCode !== undefined);
    const flatProbe = flatReady ? await runProbe(flatContainer) : {};
    await flatContainer.stop(w.stop.signal);
    await flatContainer.delete();
    log(`${program.name}: probe ${JSON.stringify({ argumentAware, flat: flatProbe, logMode })}`);

    // Each setting the advice leaves loose, tightened alone.
    const trials: Trial[] = [];
    for (const t of tightenings(applied)) {
      const c = await launch(t.settings, profile);
      const up = await until(w.ready, TRIAL_READY_MS, () => c.exitCode !== undefined);
      const smoke = up ? await w.smoke() : undefined;
      const code = await c.stop(w.stop.signal, 5_000);
      const works = up && smoke!.failures === 0 && w.stop.exits.includes(code ?? -1);
      const detail = !up ? `not ready in ${TRIAL_READY_MS / 1000} s` : smoke!.failures ? `request failed: ${smoke!.problems[0]}` : !w.stop.exits.includes(code ?? -1) ? `exit ${code} when stopped` : 'serves and stops';
      const refused = deniedSummary(await counter.denials(c.id));
      trials.push({ setting: t.setting, change: t.change, works, detail: `${detail}${refused ? `; seccomp refused ${refused}` : ''}; ${lastLines(c.output(), 3)}` });
      await c.delete();
      log(`${program.name}: ${t.change}: ${works ? 'works' : 'fails'} (${detail})`);
    }

    const narrowed = [...new Set(seccomp.syscalls.filter((r) => r.args || r.action === 'SCMP_ACT_ERRNO').flatMap((r) => r.names))].sort();
    return {
      program: program.name,
      compiled: libseccomp,
      advised,
      advice,
      applied,
      syscalls: {
        ours: allowedNames(seccomp).length,
        rules: seccomp.syscalls.reduce((k, r) => k + r.names.length, 0),
        narrowed,
        flat: flatNames.length,
        runtimeDefault: runtimeDefaultCount(applied.capabilities),
        seccompProfileType: (advised.seccompProfile as { type?: string } | undefined)?.type ?? '?',
      },
      appArmor,
      modelled,
      served: { ...wide, ready, runningAtEnd, exit, expectedExits: w.stop.exits, denied: serving.filter((d) => !execPids.has(d.pid)), deniedAtStop, output: lastLines(output, 20) },
      logMode: { ...unconfined, wouldRefuse: refusedInLogMode, attackLogged },
      attack: {
        command: ATTACK,
        refused: attack.code !== 0 && serving.some((d) => execPids.has(d.pid) && d.syscall === 'unshare'),
        code: attack.code,
        stderr: attack.stderr.trim(),
        denied: serving.filter((d) => execPids.has(d.pid)).map((d) => d.syscall),
        control: { allowed: controlAttack.code === 0, code: controlAttack.code, stderr: controlAttack.stderr.trim() },
      },
      probe: { argumentAware, flat: flatProbe, logMode, flatNames: ['clone', 'socket', 'personality'].filter((x) => flatNames.includes(x)) },
      trials,
    };
  } finally {
    for (const c of containers) await c.delete().catch(() => {});
    wouldRefuse.close();
    await counter.close();
    await rm(bundle.dir, { recursive: true, force: true });
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/** Syscall names with counts, most refused first: `openat×3, ioctl`. */
export function deniedSummary(denied: Denial[]): string {
  const counts = new Map<string, number>();
  for (const d of denied) counts.set(d.syscall, (counts.get(d.syscall) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([s, k]) => (k > 1 ? `${s}×${k}` : s)).join(', ');
}
