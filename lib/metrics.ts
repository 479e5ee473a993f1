import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/*
 * The process's own Prometheus metrics (docs/metrics.md): every metric is defined here, and the
 * code that moves one calls a small function below. Served on --metrics-port by
 * workers/probes.ts; the Temporal SDK's own worker metrics are on a port of their own (the
 * Runtime's exporter, workers/workers.ts).
 */

export const registry = new Registry();

const PREFIX = 'varmor_modeler_';
const registers = [registry];

/** A counter named varmor_modeler_<name>. */
function counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return new Counter<L>({ name: PREFIX + name, help, labelNames, registers });
}

/** A gauge named varmor_modeler_<name>. */
function gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  return new Gauge<L>({ name: PREFIX + name, help, labelNames, registers });
}

// The node agent's. `collector`: which side of a run's collector, bpf (the tracer's), audit (the audit log's), sim (simulated).
const collectorsRunning = gauge('collectors_running', 'Collector activities running in this node agent (one per run modelled on the node, while its lease lasts)');
const tracerRecords = counter('tracer_records_total', "Records the node's BPF tracer submitted for the runs this process collected (the tracer's `records`)");
const tracerLost = counter('tracer_lost_records_total', "Records lost to the tracer's full ring buffer (the tracer's `ringbuf_dropped`; a lost object record is re-reported on the object's next event)");
/** The tracer's counters that say something was not traced or not de-duplicated, by reason (bpf/README.md, `stats`). */
export const DROP_REASONS = ['tasks_full', 'mntns_full', 'dedup_full', 'path_failed'] as const;
const tracerDrops = counter(
  'tracer_drops_total',
  'What the tracer could not do for lack of room or a readable path: tasks_full (processes not tracked), mntns_full (container namespaces not registered), dedup_full (objects sent without de-dup), path_failed (file paths not read)',
  ['reason'],
);
const checkpointsWritten = counter('checkpoints_written_total', 'Batches checkpointed to the object store, by collector (bpf, audit, sim)', ['collector']);
const checkpointFailures = counter('checkpoint_failures_total', 'Object-store writes of a checkpoint or snapshot that failed (each is retried with backoff while the batch stays in memory)', ['collector']);
const checkpointsFailing = gauge('checkpoints_failing', 'Collectors whose current checkpoint write is failing and being retried', ['collector']);
const compactions = counter('compactions_total', "Snapshots written by compaction: a collector's objects in the store folded into one", ['collector']);
const compactedObjects = counter('compacted_objects_total', 'Objects deleted from the store because a snapshot covers them', ['collector']);

// The controller's.
const mergeDuration = new Histogram<'activity' | 'outcome'>({
  name: `${PREFIX}merge_duration_seconds`,
  help: 'How long a merge activity took (mergeRun: the final merge and outputs; mergePartial: one branch of a large run), by outcome (ok, failed)',
  labelNames: ['activity', 'outcome'],
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
  registers,
});
const mergeRefused = counter('merge_refused_objects_total', 'Objects a merge read that did not verify (unsealed, unknown-key, bad-mac, unreadable) and were left out of the model', ['reason']);

let served = false;

/**
 * For a process that serves its metrics: adds the process metrics (CPU, memory, event loop, GC)
 * and shows the series of what it runs at zero from the start, so that rates and alerts see them
 * before the first event.
 */
export function serveMetricsOf(runs: { collectors: boolean; merges: boolean }): void {
  if (served) return;
  served = true;
  collectDefaultMetrics({ register: registry });
  if (runs.collectors) {
    for (const reason of DROP_REASONS) tracerDrops.inc({ reason }, 0);
    for (const collector of ['bpf', 'audit']) {
      for (const c of [checkpointsWritten, checkpointFailures, compactions, compactedObjects]) c.inc({ collector }, 0);
      checkpointsFailing.set({ collector }, 0);
    }
  }
  if (runs.merges) for (const activity of ['mergeRun', 'mergePartial']) for (const outcome of ['ok', 'failed']) mergeDuration.zero({ activity, outcome });
}

/** A collector activity counted in collectors_running while it runs. */
export function countedCollector<I, R>(collect: (input: I) => Promise<R>): (input: I) => Promise<R> {
  return async (input) => {
    collectorsRunning.inc();
    try {
      return await collect(input);
    } finally {
      collectorsRunning.dec();
    }
  };
}

/** The last tracer counters seen per run key: the tracer's are cumulative per target, the metrics count increments. */
const lastStats = new Map<string, Record<string, number>>();

/**
 * One `stats` record of a run's target. The first seen in this process of an adopted target (a
 * target tracking since an earlier agent) sets the baseline: only what happens from now on is
 * counted here. A value below the last one is a target that counts from zero again.
 */
export function tracerStats(key: string, stats: object, adopted: boolean): void {
  const last = lastStats.get(key);
  const now: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats) as [string, unknown][]) if (typeof v === 'number') now[k] = v;
  lastStats.set(key, now);
  if (!last && adopted) return;
  const grew = (name: string) => {
    const v = now[name];
    if (v === undefined) return 0;
    const before = last?.[name] ?? 0;
    return v >= before ? v - before : v;
  };
  tracerRecords.inc(grew('records'));
  tracerLost.inc(grew('ringbuf_dropped'));
  for (const reason of DROP_REASONS) tracerDrops.inc({ reason }, grew(reason));
}

/** A run's target is given back: its counts start from zero if it comes again. */
export function forgetTarget(key: string): void {
  lastStats.delete(key);
}

export const checkpoints = {
  written: (collector: string) => checkpointsWritten.inc({ collector }),
  failed: (collector: string) => checkpointFailures.inc({ collector }),
  /** Counts the collector as failing until the function it returns is called. */
  failing(collector: string): () => void {
    checkpointsFailing.inc({ collector });
    return () => checkpointsFailing.dec({ collector });
  },
  compacted(collector: string, deleted: number): void {
    compactions.inc({ collector });
    compactedObjects.inc({ collector }, deleted);
  },
};

/** A merge activity timed into merge_duration_seconds. */
export function timedMerge<I, R>(activity: 'mergeRun' | 'mergePartial', merge: (input: I) => Promise<R>): (input: I) => Promise<R> {
  return async (input) => {
    const end = mergeDuration.startTimer({ activity });
    try {
      const result = await merge(input);
      end({ outcome: 'ok' });
      return result;
    } catch (err) {
      end({ outcome: 'failed' });
      throw err;
    }
  };
}

/** An object the merge did not verify, by the reason it gives. */
export function mergeRefusedObject(reason: string): void {
  mergeRefused.inc({ reason });
}
