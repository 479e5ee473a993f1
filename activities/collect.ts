import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Arch } from '../core/syscalls.js';
import { modelingSeccomp } from '../core/modeling-state.js';
import { AuditSide } from '../audit/side.js';
import { openStore } from '../store/open.js';
import { TracerHost, type TracerSession } from '../bpf/driver/host.js';
import { hexArg, TracerError } from '../bpf/driver/loader.js';
import { isKind, type ExitRecord, type TrackedRecord } from '../bpf/driver/records.js';
import { Recorder } from '../bpf/driver/recorder.js';
import type { NodeTarget } from '../core/target.js';
import type { Keyring } from '../lib/keyring.js';
import { countedCollector, forgetTarget, tracerStats } from '../lib/metrics.js';
import { Checkpointer, type Progress } from './checkpoint.js';
import { grantProblem } from './grant.js';

export interface CollectInput {
  run: string;
  node: string;
  /** The target as one line, for batches and the report. */
  target: string;
  /** The AppArmor profile the target runs under in modeling state (its audit records carry it). */
  profile: string;
  /** What this node traces. */
  trace: NodeTarget;
  store: string;
  checkpointMs: number;
  /** Wall-clock end of this collector's lease: it checkpoints and returns then; the workflow starts the next. */
  until: number;
  /** The controller's grant for `trace` on this node (activities/grant.ts); nothing is traced without one. */
  grant?: string;
}

export interface CollectResult {
  node: string;
  batches: number;
  events: number;
  /** target-exited: nothing left to trace; lease-ended: `until` passed; cancelled: the workflow stopped it. */
  reason: 'target-exited' | 'lease-ended' | 'cancelled';
  exitCode?: number;
}

export interface CollectorConfig {
  tracerPath: string;
  /** bpffs directory under which the node's tracer pins its state; undefined: no pinning. */
  pinRoot?: string;
  arch: Arch;
  /** Where launched commands write stdout/stderr: a file descriptor of this process, or nowhere. */
  commandOutput: number | 'ignore';
  /** Audit log search order (vArmor's --auditLogPaths); empty: no audit collector. */
  auditSources: string[];
  /**
   * The kubelet's seccomp root (`<root-dir>/seccomp`): the agent installs each pod target's
   * modeling-state profile below it (docs/modeling-state.md); undefined: it installs none.
   */
  seccompDir?: string;
  /** The cgroup hierarchy pods are found in (the loader's --pod-cgroup); default auto. */
  podCgroup?: string;
  /** Runs the node's tracer takes at once (its --max-targets, 1..127); default 127. */
  maxTargets?: number;
  /** With nothing left to trace, how long the node's tracer stays loaded for the next run (bpf/driver/host.ts); default 0. */
  lingerMs?: number;
  /** Verifies the controller's grants and seals the batches. */
  keyring: Keyring;
  /** What this agent's operator allowed beyond tracing pods: off unless set at start (record and dev set both). */
  allow: {
    /** Launch `command` targets. */
    launch: boolean;
    /** Trace processes and containers outside any pod's cgroup (pid:, container:). */
    hostTargets: boolean;
    /** The object stores it writes to; undefined: any the workflow names. */
    stores?: string[];
  };
}

const HEARTBEAT_MS = 2000;
const KILL_GRACE_MS = 2000;

/**
 * The node activity: attaches the run as a target of the node's one BPF tracer (shared by every
 * run on the node) and runs the audit-log collector, until the target is gone, the lease ends or
 * the workflow cancels, checkpointing batches of each to the object store as it goes. The store is
 * the truth; heartbeats only carry progress.
 */
export function collectActivity(config: CollectorConfig, tracers: (node: string) => TracerHost) {
  return countedCollector(async function collect(input: CollectInput): Promise<CollectResult> {
    const ctx = Context.current();
    // Nothing runs, attaches or is written before the agent knows it may.
    refuseUnlessAllowed(config, input, ctx.info.workflowExecution?.workflowId ?? '');
    if (config.seccompDir && input.trace.kind === 'pods') await installModelingProfile(config.seccompDir, input.profile, config.arch);
    const store = await openStore(input.store);
    const base = { run: input.run, node: input.node, arch: config.arch, target: input.target };
    const attempt = ctx.info.attempt;

    // The run's target outlives this activity (and, pinned, the agent's process): a retried or
    // next-lease collector attaches it again, gets what was not checkpointed replayed, and keeps
    // counting in the same generation.
    let recorder!: Recorder;
    let bpfReplica = `${input.node}/bpf/a${attempt}`;
    let exit: ExitRecord | undefined;
    let rootPid: number | undefined;
    let resolveGone: () => void = () => {};
    const targetGone = new Promise<void>((resolve) => (resolveGone = resolve));
    let session: TracerSession;
    const key = runKey(input.run, input.node);
    try {
      session = await tracers(input.node).attach(key, (a) => {
        if (a.generation) bpfReplica = `${input.node}/bpf/${a.generation.slice(0, 12)}`;
        recorder = new Recorder(a.target, bpfReplica, config.arch);
        recorder.accept(a.ready);
        return (r) => {
          recorder.accept(r);
          if (r.t === 'stats') tracerStats(key, r, a.adopted);
          if (r.t === 'exit' && r.pid === rootPid) exit = r;
          if (r.t === 'target-empty') resolveGone();
        };
      });
    } catch (err) {
      if (!(err instanceof TracerError) || err.kind === 'crashed') throw err;
      throw ApplicationFailure.create({ message: err.message, type: err.kind === 'full' ? 'TracerFull' : 'BpfUnavailable', nonRetryable: true });
    }
    const events = recorder;
    // The tracer's counts go on in an adopted target; anything else counts from zero again.
    let bpfOut: Checkpointer;
    try {
      bpfOut = await Checkpointer.open(store, config.keyring, ctx, { ...base, collector: 'bpf', replica: bpfReplica }, undefined, { countsRestart: !session.adopted });
    } catch (err) {
      session.detach();
      throw err;
    }

    const auditReplica = `${input.node}/audit/a${attempt}`;
    const audit = config.auditSources.length
      ? await AuditSide.open(await Checkpointer.open(store, config.keyring, ctx, { ...base, collector: 'audit', replica: auditReplica }, undefined, { countsRestart: true }), {
          sources: config.auditSources,
          replica: auditReplica,
          arch: config.arch,
          profile: input.profile,
          hasPid: (pid) => events.hasPid(pid),
        })
      : undefined;
    // Counts are cumulative, so a checkpoint the Checkpointer holds back (nothing new) loses nothing when the spool moves on.
    const checkpoint = async (final = false) => {
      const token = await session.flush();
      await bpfOut.save(events.take(Date.now()), { final });
      await session.checkpointed(token);
      await audit?.checkpoint(final);
    };
    const progress = () => ({ node: input.node, attempt, seq: bpfOut.written + (audit?.out.written ?? 0), events: events.events }) satisfies Progress;

    let reason: CollectResult['reason'] = 'lease-ended';
    try {
      // An adopted target goes on without a second launch; pods and containers are tracked again all
      // the same (idempotent), since the workflow may have resolved a new set since (a rollout).
      const followed = input.trace.kind === 'pods' || input.trace.kind === 'containers';
      rootPid = session.adopted && !followed ? session.root : await startTarget(session, input.trace, config.allow.hostTargets);
      let nextCheckpoint = Date.now() + input.checkpointMs;
      for (;;) {
        const now = Date.now();
        if (now >= input.until) break;
        const wake = Math.min(nextCheckpoint, input.until, now + HEARTBEAT_MS) - now;
        // Not ctx.sleep: its timer would outlive a target that is gone first, holding record's process up to HEARTBEAT_MS after its run.
        const tick = new Promise<'tick'>((r) => setTimeout(r, Math.max(wake, 0), 'tick').unref());
        const event = await Promise.race([tick, ctx.cancelled, targetGone.then(() => 'gone' as const), session.ended]);
        audit?.poll();
        if (event === 'gone') {
          reason = 'target-exited';
          break;
        }
        if (Date.now() >= nextCheckpoint) {
          await checkpoint();
          nextCheckpoint = Date.now() + input.checkpointMs;
        }
        ctx.heartbeat(progress());
      }
    } catch (err) {
      if (err instanceof CancelledFailure) reason = 'cancelled';
      else {
        audit?.stop();
        // A run that cannot go on gives its target back; one that will be retried keeps it.
        if (err instanceof ApplicationFailure && err.nonRetryable) await session.free().catch(() => {});
        else session.detach();
        if (err instanceof TracerError) throw ApplicationFailure.create({ message: err.message, type: 'TracerCrashed' });
        throw err;
      }
    }
    // Stop the target's processes (for launched commands), then record everything up to now.
    if (input.trace.kind === 'command' && reason !== 'target-exited') {
      await session.request('kill', `${KILL_GRACE_MS}`, isKind('killed')).catch(() => {});
    }
    audit?.poll();
    await checkpoint(true);
    audit?.stop();
    // Nothing left to trace gives the target back; otherwise it goes on tracking for whoever comes next.
    if (reason === 'target-exited') await session.free();
    else session.detach();
    const batches = bpfOut.written + (audit?.out.written ?? 0);
    ctx.log.info('collector finished', { reason, batches, events: events.events, adopted: session.adopted, target: session.target });
    const result: CollectResult = { node: input.node, batches, events: events.events, reason };
    if (exit) result.exitCode = exit.code;
    // The details tell the workflow this collector ran (and what it wrote) although it was stopped.
    if (reason === 'cancelled') throw new CancelledFailure('collector stopped by the workflow; batches are in the store', [result]);
    return result;
  });
}

/**
 * The node agent's own checks, whatever the workflow input says: the controller granted this
 * target on this node to this workflow; launching and host processes only where the operator
 * allowed them; batches only to the agent's own store. Refusals are final (non-retryable).
 */
function refuseUnlessAllowed(config: CollectorConfig, input: CollectInput, workflowId: string): void {
  const refuse = (type: string, message: string) => {
    throw ApplicationFailure.create({ message: `node ${input.node} refuses: ${message}`, type, nonRetryable: true });
  };
  if (input.trace.kind === 'command' && !config.allow.launch) {
    refuse('LaunchNotAllowed', 'this node agent launches no commands (started without --allow-launch; record and dev allow it on one machine)');
  }
  const problem = grantProblem(config.keyring, input.grant, workflowId, input.node, input.trace);
  if (problem) refuse('TargetNotGranted', problem);
  if (config.allow.stores && !config.allow.stores.includes(input.store)) {
    refuse('StoreNotAllowed', `it writes only to its configured object store ${config.allow.stores.join(', ')}, not ${input.store}`);
  }
}

/**
 * Writes the run's modeling-state seccomp profile where the kubelet finds Localhost profiles, so
 * a workload pointed at it starts here; unchanged content is left alone, a change replaces it whole.
 */
async function installModelingProfile(root: string, profile: string, arch: Arch): Promise<void> {
  let p: ReturnType<typeof modelingSeccomp>;
  try {
    p = modelingSeccomp(profile, arch, root);
  } catch (err) {
    throw ApplicationFailure.create({ message: (err as Error).message, type: 'BadInput', nonRetryable: true });
  }
  const text = JSON.stringify(p.profile, null, 2) + '\n';
  if ((await readFile(p.path, 'utf8').catch(() => undefined)) === text) return;
  await mkdir(dirname(p.path), { recursive: true });
  const tmp = `${p.path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, p.path);
}

/** The name of one run's target in a node's tracer (1..32 of [0-9a-f]). */
function runKey(run: string, node: string): string {
  return createHash('sha256').update(`${run}\0${node}`).digest('hex').slice(0, 32);
}

/** The node agent's tracers, one per node name it serves (a real agent serves one). */
export interface TracerHosts {
  (node: string): TracerHost;
  /** The agent stops: each tracer is handed off (pinned state stays) or detached. */
  close(): Promise<void>;
}

/**
 * One tracer per node agent (bpf/driver/host.ts), made at the first collector: every run on the
 * node is a target in it. Pinned below the pin root in a directory of the node's own.
 */
export function tracerHosts(config: CollectorConfig, warn?: (message: string, fields: Record<string, unknown>) => void): TracerHosts {
  const hosts = new Map<string, TracerHost>();
  const get = (node: string) => {
    let host = hosts.get(node);
    if (!host) {
      host = new TracerHost({
        binary: config.tracerPath,
        ...(config.pinRoot ? { stateDir: `${config.pinRoot}/node-${createHash('sha256').update(node).digest('hex').slice(0, 16)}` } : {}),
        podCgroup: config.podCgroup,
        ...(config.maxTargets ? { maxTargets: config.maxTargets } : {}),
        ...(config.lingerMs ? { lingerMs: config.lingerMs } : {}),
        commandOutput: config.commandOutput,
        // started by a collector or a release (inside an activity), or warmed by the worker (`warn`)
        warn: (message, fields) => (warn && !inActivity() ? warn(message, fields) : Context.current().log.warn(message, fields)),
      });
      hosts.set(node, host);
    }
    return host;
  };
  return Object.assign(get, { close: () => Promise.all([...hosts.values()].map((h) => h.close())).then(() => {}) });
}

function inActivity(): boolean {
  try {
    Context.current();
    return true;
  } catch {
    return false;
  }
}

/** The end of a run (every node's, from the workflow): its target in the node's tracer is given back (untracked, its spool removed), and its counts in the metrics. */
export function releaseActivity(tracers: (node: string) => TracerHost) {
  return async function releaseTracer(input: { run: string; node: string }): Promise<boolean> {
    const key = runKey(input.run, input.node);
    forgetTarget(key);
    try {
      return await tracers(input.node).free(key);
    } catch (err) {
      if (err instanceof TracerError) throw ApplicationFailure.create({ message: err.message, type: 'ReleaseFailed' });
      throw err;
    }
  };
}

/** Launches or attaches to the target; returns the launched command's pid. */
async function startTarget(tracer: TracerSession, target: NodeTarget, hostTargets: boolean): Promise<number | undefined> {
  switch (target.kind) {
    case 'command': {
      const reply = await tracer.request('launch', target.argv.map(hexArg).join(' '), (r) => r.t === 'launched' || r.t === 'launch-failed');
      if (reply.t === 'launch-failed') {
        throw ApplicationFailure.create({ message: `cannot start ${target.argv[0]}: ${reply.error}`, type: 'TargetStartFailed', nonRetryable: true });
      }
      return reply.pid;
    }
    case 'pid': {
      if (!hostTargets && !(await inPod(target.pid))) throw notInPod(`pid ${target.pid}`);
      const reply = await tracer.request('track', `pid ${target.pid}`, isKind('tracked'));
      if (reply.error !== undefined) throw ApplicationFailure.create({ message: `cannot trace pid ${target.pid}: ${reply.error}`, type: 'TargetStartFailed', nonRetryable: true });
      return undefined;
    }
    case 'containers': {
      const replies = await track(tracer, target.ids.map((id) => `container ${id}`));
      if (!hostTargets) await containersInPods(tracer, replies);
      return undefined;
    }
    case 'pods':
      // A whole pod by UID: the tracer follows the containers it starts later. Filtered: the IDs.
      await track(tracer, target.pods.flatMap((p) => (p.containers ? p.containers.map((id) => `container ${id}`) : [`pod ${p.uid}`])));
      return undefined;
  }
}

/** Tracks each of `objects` ("container ID", "pod UID") under the one target; the replies. */
async function track(tracer: TracerSession, objects: string[]): Promise<TrackedRecord[]> {
  const replies: TrackedRecord[] = [];
  for (const o of objects) {
    const reply = await tracer.request('track', o, isKind('tracked'));
    if (reply.error !== undefined) throw ApplicationFailure.create({ message: `cannot trace ${o}: ${reply.error}`, type: 'TargetStartFailed', nonRetryable: true });
    replies.push(reply);
  }
  return replies;
}

/**
 * A container is a pod's when its init runs in a kubelet's pod cgroup. Checked on the tracer's
 * answer (it found the container): anything else is untracked before a record is kept.
 */
async function containersInPods(tracer: TracerSession, tracked: TrackedRecord[]): Promise<void> {
  for (const reply of tracked) {
    if (await inPod(reply.init ?? 0)) continue;
    await tracer.request('untrack', '', isKind('untracked'));
    throw notInPod(`container ${reply.container ?? '?'}`);
  }
}

/**
 * Whether the process runs in a pod's cgroup: a path component the kubelet names for a pod UID,
 * `pod<uid>` (cgroupfs driver) or `kubepods-<qos>-pod<uid>.slice` (systemd). Matched by component,
 * not by a `kubepods` prefix: in the agent's own cgroup namespace other pods' paths are relative.
 */
async function inPod(pid: number): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).split('/').some((c) => POD_CGROUP.test(c)));
}

const POD_CGROUP = /^(pod|kubepods-(besteffort-|burstable-)?pod)[0-9a-f][0-9a-f_-]{7,63}(\.slice)?$/;

function notInPod(what: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `${what} is not in a pod's cgroup, and this node agent traces only pods' processes (started without --allow-host-targets; chart value policy.hostTargets)`,
    type: 'TargetNotAllowed',
    nonRetryable: true,
  });
}
