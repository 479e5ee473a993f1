import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { BATCH_FORMAT, type Batch } from '../core/behavior.js';
import type { Arch } from '../core/syscalls.js';
import { nextSeq, putBatch } from '../store/batches.js';
import { openStore } from '../store/open.js';
import type { ObjectStore } from '../store/store.js';
import { hexArg, TracerError, TracerProcess, type TracerRecord } from '../tracer/loader.js';
import { Recorder } from '../tracer/recorder.js';
import type { NodeTarget } from '../workflows/input.js';

export interface CollectInput {
  run: string;
  node: string;
  /** The target as one line, for batches and the report. */
  target: string;
  /** What this node traces. */
  trace: NodeTarget;
  store: string;
  checkpointMs: number;
  /** Wall-clock end of this collector's lease: it checkpoints and returns then; the workflow starts the next. */
  until: number;
}

export interface CollectResult {
  node: string;
  batches: number;
  events: number;
  /** target-exited: nothing left to trace; lease-ended: `until` passed; cancelled: the workflow stopped it. */
  reason: 'target-exited' | 'lease-ended' | 'cancelled';
  exitCode?: number;
}

/** Heartbeat details: progress for `model status`; never trusted for resumption (the store is). */
export interface Progress {
  node: string;
  /** Batches written so far (the next sequence number). */
  seq: number;
  events: number;
  /** Set while checkpoints fail: the store's error. */
  storeError?: string;
}

export interface CollectorConfig {
  tracerPath: string;
  arch: Arch;
  /** Where launched commands write stdout/stderr: a file descriptor of this process, or nowhere. */
  commandOutput: number | 'ignore';
}

const TARGET_ID = 1;
const HEARTBEAT_MS = 2000;
const KILL_GRACE_MS = 2000;

/**
 * The node activity: runs the BPF tracer on the target until the target is gone, the window
 * ends or the workflow cancels, checkpointing batches to the object store as it goes. The store is
 * the truth; heartbeats only carry progress.
 */
export function collectActivity(config: CollectorConfig) {
  return async function collect(input: CollectInput): Promise<CollectResult> {
    const ctx = Context.current();
    const log = ctx.log;
    const store = await openStore(input.store);
    const collector = 'bpf';
    const replica = `${input.node}/${collector}/a${ctx.info.attempt}`;
    let seq = await nextSeq(store, input.run, input.node, collector);
    const firstSeq = seq;

    let tracer: TracerProcess;
    try {
      tracer = await TracerProcess.start(config.tracerPath, { commandOutput: config.commandOutput });
    } catch (err) {
      throw ApplicationFailure.create({ message: (err as Error).message, type: 'BpfUnavailable', nonRetryable: true });
    }
    const recorder = new Recorder(TARGET_ID, replica, config.arch);
    let exit: TracerRecord | undefined;
    let rootPid: number | undefined;
    const targetGone = new Promise<void>((resolve) => {
      tracer.on('record', (r: TracerRecord) => {
        recorder.accept(r);
        if (r.target !== TARGET_ID) return;
        if (r.t === 'exit' && r.pid === rootPid) exit = r;
        if (r.t === 'target-empty') resolve();
      });
    });
    const tracerDied = new Promise<never>((_, reject) => tracer.on('exit', (err: Error) => reject(err)));
    tracerDied.catch(() => {});

    let from = Date.now();
    const checkpoint = async () => {
      await tracer.flush();
      const to = Date.now();
      const delta = recorder.take(to);
      const batch: Batch = {
        format: BATCH_FORMAT,
        run: input.run,
        node: input.node,
        collector,
        replica,
        seq,
        arch: config.arch,
        target: input.target,
        from,
        to,
        behaviors: delta.behaviors,
        sessions: delta.sessions,
        counters: { [replica]: delta.counters },
      };
      await putWithRetry(store, batch, ctx);
      seq++;
      from = to;
    };

    let reason: CollectResult['reason'] = 'lease-ended';
    try {
      rootPid = await startTarget(tracer, input.trace);
      let nextCheckpoint = Date.now() + input.checkpointMs;
      for (;;) {
        const now = Date.now();
        if (now >= input.until) break;
        const wake = Math.min(nextCheckpoint, input.until, now + HEARTBEAT_MS) - now;
        const event = await Promise.race([
          ctx.sleep(Math.max(wake, 0)).then(() => 'tick' as const),
          targetGone.then(() => 'gone' as const),
          tracerDied,
        ]);
        if (event === 'gone') {
          reason = 'target-exited';
          break;
        }
        if (Date.now() >= nextCheckpoint) {
          await checkpoint();
          nextCheckpoint = Date.now() + input.checkpointMs;
        }
        ctx.heartbeat({ node: input.node, seq, events: recorder.events } satisfies Progress);
      }
    } catch (err) {
      if (err instanceof CancelledFailure) reason = 'cancelled';
      else if (err instanceof TracerError) {
        throw ApplicationFailure.create({ message: err.message, type: 'TracerCrashed' });
      } else {
        tracer.kill();
        throw err;
      }
    }
    // Stop the target's processes (for launched commands), then record everything up to now.
    if (input.trace.kind === 'command' && reason !== 'target-exited') {
      await tracer.request(`kill ${TARGET_ID} ${KILL_GRACE_MS}`, (r) => r.t === 'killed' && r.target === TARGET_ID).catch(() => {});
    }
    await checkpoint();
    await tracer.quit();
    log.info('collector finished', { reason, batches: seq - firstSeq, events: recorder.events });
    const result: CollectResult = { node: input.node, batches: seq - firstSeq, events: recorder.events, reason };
    if (exit && typeof exit.code === 'number') result.exitCode = exit.code;
    if (reason === 'cancelled') throw new CancelledFailure('collector stopped at the end of the window; batches are in the store');
    return result;
  };
}

/** Launches or attaches to the target; returns the launched command's pid. */
async function startTarget(tracer: TracerProcess, target: NodeTarget): Promise<number | undefined> {
  switch (target.kind) {
    case 'command': {
      const argv = target.argv.map(hexArg).join(' ');
      const reply = await tracer.request(`launch ${TARGET_ID} ${argv}`, (r) => (r.t === 'launched' || r.t === 'launch-failed') && r.target === TARGET_ID);
      if (reply.t === 'launch-failed') {
        throw ApplicationFailure.create({ message: `cannot start ${target.argv[0]}: ${String(reply.error)}`, type: 'TargetStartFailed', nonRetryable: true });
      }
      return Number(reply.pid);
    }
    case 'pid':
      await tracer.request(`track ${TARGET_ID} pid ${target.pid}`, (r) => r.t === 'tracked' && r.target === TARGET_ID);
      return undefined;
    case 'containers':
      for (const id of target.ids) {
        const reply = await tracer.request(`track ${TARGET_ID} container ${id}`, (r) => r.t === 'tracked' && r.target === TARGET_ID);
        if (reply.error) throw ApplicationFailure.create({ message: `cannot trace container ${id}: ${String(reply.error)}`, type: 'TargetStartFailed', nonRetryable: true });
      }
      return undefined;
  }
}

/** Checkpoints retry with backoff while the store is unavailable; the batch stays in memory meanwhile. */
async function putWithRetry(store: ObjectStore, batch: Batch, ctx: Context): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await putBatch(store, batch);
      return;
    } catch (err) {
      ctx.log.warn('checkpoint failed, retrying', { seq: batch.seq, error: (err as Error).message });
      ctx.heartbeat({ node: batch.node, seq: batch.seq, events: -1, storeError: (err as Error).message } satisfies Progress);
      await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
    }
  }
}
