import {
  ActivityCancellationType,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CollectResult, ControllerActivities, MergeInput, MergeResult, NodeActivities, Resolution } from '../activities/index.js';
import { profileName } from '../core/armorprofilemodel.js';
import type { Learning } from '../core/convergence.js';
import { parseDuration } from '../core/duration.js';
import { rootMessage } from '../core/errors.js';
import type { NodeOutcome, WindowEnd } from '../core/outputs.js';
import { describeTarget, type NodeTarget } from '../core/target.js';
import { InputError, planFromInput, type ModelingInput, type ModelingPlan } from './input.js';
import { currentDetails } from './details.js';
import { nodeQueue } from './queues.js';
import { SEARCH_ATTRIBUTE, searchAttributes, type ConvergenceState } from './search-attributes.js';

export type Phase = 'resolving' | 'modeling' | 'merging' | 'completed' | 'failed';

export interface NodeStatus {
  /** left: the target no longer runs there; its collector finished and checkpointed. */
  state: 'running' | 'completed' | 'failed' | 'left';
  batches: number;
  events: number;
  reason?: string;
  /** Set while the node's checkpoints fail (object store unavailable); they are retried. */
  storeError?: string;
  /** The collector's activity attempt (live, from heartbeats): above 1 after it was lost and retried. */
  attempt?: number;
}


export interface ModelingStatus {
  phase: Phase;
  target: string;
  run: string;
  window: { start: number; end: number };
  /** Set once the window is over. */
  ended?: WindowEnd;
  /** With convergeAfter: the learning curve as of the last look (counts and first-seen times per category). */
  learning?: Learning & { at: number };
  nodes: Record<string, NodeStatus>;
  /** How many times the workflow continued as new to keep its history bounded. */
  generation: number;
  error?: string;
}

export interface ModelingResult {
  run: string;
  store: string;
  outputs: Record<string, string>;
  batches: number;
  counts: Record<string, number>;
  nodes: NodeOutcome[];
  drift?: MergeResult['drift'];
  exitCode?: number;
  ended?: WindowEnd;
}

/** What a run hands to its continuation (continue-as-new) so the window goes on seamlessly. */
export interface Carried {
  run: string;
  store: string;
  window: { start: number; end: number };
  nodes: Record<string, NodeStatus>;
  outcomes: Record<string, NodeOutcome>;
  stopRequested: boolean;
  generation: number;
  /** The last resolution and when it was made, so the continuation does not resolve again at once. */
  resolved: Resolution['nodes'];
  grants?: Resolution['grants'];
  lastResolve: number;
  exitCode?: number;
}

export const statusQuery = defineQuery<ModelingStatus>('status');
export const stopSignal = defineSignal('stop');
export const extendUpdate = defineUpdate<number, [string]>('extend');

/** What `model snapshot` gets back: the interim model version and where its outputs are. */
export interface SnapshotResult {
  version: string;
  /** The object store the outputs are in. */
  store: string;
  outputs: Record<string, string>;
  batches: number;
  counts: Record<string, number>;
}

/** Merges what the store holds now into an interim model version; the window goes on. Refused unless the run is modeling. */
export const snapshotUpdate = defineUpdate<SnapshotResult, []>('snapshot');

const controller = proxyActivities<ControllerActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumInterval: '1 minute', nonRetryableErrorTypes: ['KubernetesUnavailable', 'TargetNotFound', 'InvalidTarget'] },
});

/** The merge's activities: no end a legitimately large merge can reach; a lost worker is found by the heartbeat. */
const merger = proxyActivities<ControllerActivities>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '2 minutes',
  retry: { maximumInterval: '1 minute' },
});

/** How often a run reads its learning curve at most (for model status, and convergeAfter's check). */
const LEARN_EVERY_MS = 300_000;
/** Before continuing as new, how long results that came in with the deciding task get to arrive. */
const SETTLE_MS = 1_000;

/** Above this many nodes the merge is a tree: groups of this many nodes merged by their own activities first. */
const MERGE_GROUP = 32;

/**
 * Models one target: find where it runs, keep a collector on every node for the window (following
 * the target as it moves), then merge the checkpointed batches into the ArmorProfileModel and profiles.
 */
export async function behaviorModeling(input: ModelingInput, carried?: Carried): Promise<ModelingResult> {
  const plan = validate(input);
  const info = workflowInfo();
  const start = carried?.window.start ?? Date.now();
  const status: ModelingStatus = {
    phase: carried ? 'modeling' : 'resolving',
    target: describeTarget(plan.target),
    run: carried?.run ?? `${plan.namespace}/${plan.name}/${info.firstExecutionRunId}`,
    window: carried?.window ?? { start, end: start + plan.durationMs },
    nodes: carried?.nodes ?? {},
    generation: carried?.generation ?? 0,
  };
  const outcomes: Record<string, NodeOutcome> = carried?.outcomes ?? {};
  let stopRequested = carried?.stopRequested ?? false;
  let exitCode = carried?.exitCode;
  let store = carried?.store ?? plan.store;
  let wake = false; // set by handlers and collector endings to re-run the loop at once

  setHandler(statusQuery, () => status);
  setHandler(stopSignal, () => void (stopRequested = wake = true));
  setHandler(
    extendUpdate,
    (by) => {
      status.window.end += parseDuration(by);
      wake = true;
      return status.window.end;
    },
    { validator: (by) => void parseDuration(by) },
  );
  // What a merge needs besides the window and the nodes: the same for a snapshot and the final merge.
  const mergeBase = () => ({
    run: status.run,
    store: store!,
    target: status.target,
    namespace: plan.namespace,
    name: plan.name,
    context: plan.context,
    writablePaths: plan.writablePaths,
    writeResource: plan.target.kind === 'k8s',
  });
  setHandler(
    snapshotUpdate,
    async () => {
      const at = Date.now();
      // nodes still collecting count as they stand; the resource says not ready until the final merge
      const nodes = Object.keys(status.nodes).map((node) => outcomes[node] ?? { node, state: 'completed' as const, reason: 'collecting', at });
      const r = await merger.mergeRun({ ...mergeBase(), window: { start: status.window.start, end: at }, nodes, interim: true });
      return { version: r.version, store: store!, outputs: r.outputs, batches: r.batches, counts: r.counts };
    },
    {
      validator: () => {
        if (status.phase !== 'modeling' || !store) throw new Error(`the run is ${status.phase}: a snapshot is taken while it is modeling${status.phase === 'merging' ? ' (the final model is being merged now)' : ''}`);
      },
    },
  );
  const setPhase = (phase: Phase) => {
    status.phase = phase;
    // the Web UI's current details: no command, so replay is unaffected
    setCurrentDetails(currentDetails(status));
    if (plan.searchAttributes) upsertSearchAttributes(searchAttributes({ namespace: plan.namespace, workload: plan.name, phase }));
  };
  setPhase(status.phase);

  // One collector per node; `ended` tells the loop why it stopped so it can start the next lease.
  const collectors = new Map<string, { scope: CancellationScope; done: Promise<void>; trace: NodeTarget; ended?: CollectResult['reason'] | 'failed' }>();
  const startCollector = (node: string, trace: NodeTarget) => {
    const now = Date.now();
    // Collectors run in leases so no activity outlives a bounded timeout; the next lease starts at once.
    const until = Math.min(status.window.end, now + plan.leaseMs);
    const { collect } = proxyActivities<NodeActivities>({
      taskQueue: nodeQueue(node),
      // A node whose collector is gone (worker down, node lost) is given up after this long.
      scheduleToStartTimeout: plan.giveUpMs,
      startToCloseTimeout: until - now + 10 * 60_000,
      heartbeatTimeout: '30 seconds',
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: ['BpfUnavailable', 'TargetStartFailed'] },
    });
    const previous = status.nodes[node];
    status.nodes[node] = { state: 'running', batches: previous?.batches ?? 0, events: previous?.events ?? 0 };
    const scope = new CancellationScope();
    const entry: { scope: CancellationScope; done: Promise<void>; trace: NodeTarget; ended?: CollectResult['reason'] | 'failed' } = { scope, trace, done: Promise.resolve() };
    entry.done = scope
      .run(() => collect({ run: status.run, node, target: status.target, profile: profileName(plan.namespace, plan.name), trace, store: store!, checkpointMs: plan.checkpointMs, until, ...(grants[node] ? { grant: grants[node] } : {}) }))
      .then(
        (r) => {
          // A lease that ended while the workflow was stopping it because the target left the node.
          const reason = status.nodes[node]!.state === 'left' ? 'left' : r.reason;
          status.nodes[node] = { state: reason === 'left' ? 'left' : 'completed', batches: status.nodes[node]!.batches + r.batches, events: r.events, reason };
          outcomes[node] = { node, state: 'completed', reason, at: Date.now() };
          if (r.exitCode !== undefined) exitCode = r.exitCode;
          entry.ended = r.reason;
        },
        (err: unknown) => {
          if (isCancellation(err)) {
            entry.ended = 'cancelled';
            const ran = cancelledResult(err);
            const state = status.nodes[node]!.state === 'left' ? 'left' : 'completed';
            if (!ran && patched('unstarted-collector-not-completed')) {
              // Cancelled before it started: the node keeps what its earlier collectors had (a node that failed and
              // never came back stays failed); a node where no collector ever started within the window recorded nothing.
              const previous = (outcomes[node] ??= { node, state: 'failed', reason: 'CollectorNotStarted', message: 'no collector started on this node within the window', at: Date.now() });
              status.nodes[node] = { ...status.nodes[node]!, state: previous.state === 'failed' ? 'failed' : state, ...(previous.message ? { reason: previous.message } : {}) };
              return;
            }
            status.nodes[node] = { ...status.nodes[node]!, state, batches: status.nodes[node]!.batches + (ran?.batches ?? 0), events: ran?.events ?? status.nodes[node]!.events };
            outcomes[node] = { node, state: 'completed', reason: state === 'left' ? 'left' : 'window-ended', at: Date.now() };
          } else {
            entry.ended = 'failed';
            const message = rootMessage(err);
            status.nodes[node] = { ...status.nodes[node]!, state: 'failed', reason: message };
            outcomes[node] = { node, state: 'failed', reason: failureReason(err), message, at: Date.now() };
            log.warn('collector failed', { node, message });
          }
        },
      )
      .finally(() => void (wake = true));
    collectors.set(node, entry);
  };
  const stopCollectors = async (nodes: string[]) => {
    for (const n of nodes) collectors.get(n)?.scope.cancel();
    await Promise.all(nodes.map((n) => collectors.get(n)?.done));
    for (const n of nodes) collectors.delete(n);
  };

  const follows = plan.target.kind === 'k8s'; // local targets stay where they are
  let lastResolve = carried?.lastResolve ?? Number.NEGATIVE_INFINITY;
  let resolved: Resolution['nodes'] = carried?.resolved ?? {};
  // The controller's grants for what it resolved: node agents trace nothing without one.
  let grants: NonNullable<Resolution['grants']> = carried?.grants ?? {};
  // convergeAfter: the learning curve from the store every so often; the window ends once nothing
  // new came for that long (plus a checkpoint interval, for what a collector has not written yet).
  // Without it the curve is read every 5 minutes, for `model status`.
  const learnEvery = plan.convergeMs === undefined ? LEARN_EVERY_MS : Math.min(Math.max(plan.convergeMs / 4, plan.checkpointMs), LEARN_EVERY_MS);
  let nextLearn = Date.now() + learnEvery;
  let converged = false;
  for (;;) {
    setCurrentDetails(currentDetails(status));
    // Cleared before looking, so a signal or a collector ending during this pass wakes the next wait.
    wake = false;
    const now = Date.now();
    if (stopRequested || now >= status.window.end) break;
    if (now >= nextLearn && store && (plan.convergeMs !== undefined ? patched('converge-window') : patched('learning-curve'))) {
      const l = await controller.learningCurve({ run: status.run, store, start: status.window.start });
      const at = Date.now();
      nextLearn = at + learnEvery;
      status.learning = { ...l, at };
      setCurrentDetails(currentDetails(status));
      converged = plan.convergeMs !== undefined && at - status.window.start >= plan.minMs && at - Math.max(l.newest, status.window.start) >= plan.convergeMs + plan.checkpointMs;
      if (plan.convergeMs !== undefined && plan.searchAttributes && patched('convergence-search-attribute')) {
        const state: ConvergenceState = converged ? 'converged' : 'learning';
        upsertSearchAttributes({ [SEARCH_ATTRIBUTE.convergence]: [state] });
      }
      if (converged) break;
    }
    const fresh = lastResolve === Number.NEGATIVE_INFINITY || (follows && now - lastResolve >= plan.resolveMs);
    if (fresh) {
      let resolution: Resolution;
      try {
        resolution = await controller.resolveTarget(plan.target);
      } catch (err) {
        // The first resolution must work; later, an API hiccup keeps the collectors as they are.
        if (lastResolve === Number.NEGATIVE_INFINITY) throw err;
        log.warn('re-resolution failed; keeping the current collectors', { error: rootMessage(err) });
        lastResolve = Date.now();
        continue;
      }
      lastResolve = Date.now();
      resolved = resolution.nodes;
      grants = resolution.grants ?? {};
      store ??= resolution.store;
      if (status.phase === 'resolving') setPhase('modeling');
      const gone = [...collectors.keys()].filter((n) => !(n in resolved));
      for (const n of gone) {
        status.nodes[n]!.state = 'left';
        // Its last lease had already ended: the node's outcome is that the target left it.
        if (outcomes[n]?.state === 'completed') outcomes[n] = { ...outcomes[n]!, reason: 'left' };
      }
      // A node whose containers changed gets a fresh collector for the new set.
      const changed = [...collectors.entries()].filter(([n, c]) => n in resolved && c.ended === undefined && JSON.stringify(c.trace) !== JSON.stringify(resolved[n]));
      await stopCollectors([...gone, ...changed.map(([n]) => n)]);
    }
    for (const [node, trace] of Object.entries(resolved)) {
      const ended = collectors.get(node)?.ended;
      // Start where none runs, renew ended leases, and retry a Kubernetes node each time it resolves again.
      if (!collectors.has(node) || ended === 'lease-ended' || (fresh && follows && ended !== undefined)) startCollector(node, trace);
    }
    // Local targets: once every collector is done (the command exited), the window is over.
    if (!follows && [...collectors.values()].every((c) => c.ended !== undefined && c.ended !== 'lease-ended')) break;
    if (info.continueAsNewSuggested || workflowInfo().historyLength > plan.historyLimit) {
      // Let results that came in with this task arrive first: a collector that has just finished
      // keeps its outcome instead of being cancelled after the fact (a cancel the server may refuse
      // for an activity it already closed, failing the task).
      if (patched('settle-before-continue')) await sleep(SETTLE_MS);
      await stopCollectors([...collectors.keys()]);
      // Nodes are running again in the continuation; only failures stay final.
      for (const s of Object.values(status.nodes)) if (s.state === 'completed') s.state = 'running';
      const next: Carried = { run: status.run, store: store!, window: status.window, nodes: status.nodes, outcomes, stopRequested, generation: status.generation + 1, resolved, grants, lastResolve };
      if (exitCode !== undefined) next.exitCode = exitCode;
      if (patched('snapshot-update')) await condition(allHandlersFinished);
      await continueAsNew<typeof behaviorModeling>(input, next);
    }
    const nextResolve = follows ? lastResolve + plan.resolveMs : Number.POSITIVE_INFINITY;
    await condition(() => wake, Math.max(Math.min(status.window.end, nextResolve, nextLearn) - Date.now(), 1));
  }
  status.ended = converged ? 'converged' : stopRequested ? 'stopped' : Date.now() >= status.window.end ? 'duration' : 'target-gone';
  await stopCollectors([...collectors.keys()]);
  // Giving the run's target back in each node's tracer is cleanup: it runs beside the merge. Since
  // one tracer serves every run of a node, a node whose collector failed is asked too (best effort:
  // a lost agent does not answer): a target left claimed there would hold one of its slots.
  let releasing = Promise.resolve();
  if (patched('release-tracer-state')) {
    const everyNode = patched('release-every-node');
    if (patched('release-beside-merge')) releasing = releaseTracers(status.run, Object.keys(status.nodes).filter((n) => everyNode || outcomes[n]?.state !== 'failed'));
    else await releaseTracers(status.run, Object.keys(status.nodes));
  }

  const finals = Object.values(outcomes);
  // Collectors that ran checkpointed what they saw, even if they were lost later: merge it. Fail
  // only when no collector could start anywhere.
  if (finals.length === 0 || finals.every((o) => o.state === 'failed' && START_FAILURES.includes(o.reason ?? ''))) {
    setPhase('failed');
    status.error = finals[0]?.message ?? 'no collector ran: the target was not found on any node';
    throw ApplicationFailure.create({ message: status.error, type: 'CollectorsFailed', nonRetryable: true });
  }

  setPhase('merging');
  const mergeInput: MergeInput = { ...mergeBase(), window: { start: status.window.start, end: Math.min(Date.now(), status.window.end), ended: status.ended }, nodes: finals };
  let merged: MergeResult;
  if (patched('merge-tree')) {
    // Many nodes: branches merge groups of them into partial sets, in parallel and each retried on
    // its own; the final merge combines those. Event data stays in the store.
    const nodes = Object.keys(status.nodes).sort();
    if (nodes.length > MERGE_GROUP) {
      const groups = Array.from({ length: Math.ceil(nodes.length / MERGE_GROUP) }, (_, g) => nodes.slice(g * MERGE_GROUP, (g + 1) * MERGE_GROUP));
      await Promise.all(groups.map((group, g) => merger.mergePartial({ run: status.run, store: store!, group: g, nodes: group })));
      mergeInput.partials = groups.length;
    }
    merged = await merger.mergeRun(mergeInput);
  } else merged = await controller.mergeRun(mergeInput);
  await releasing;
  // a snapshot that began while modeling finishes before the run does
  if (patched('snapshot-update')) await condition(allHandlersFinished);
  setPhase('completed');
  const result: ModelingResult = { run: status.run, store: store!, outputs: merged.outputs, batches: merged.batches, counts: merged.counts, nodes: finals };
  if (merged.drift) result.drift = merged.drift;
  if (exitCode !== undefined) result.exitCode = exitCode;
  result.ended = status.ended;
  return result;
}

/** The window is over: each node's pinned tracer state is released (best effort: a gone node keeps nothing running of ours). */
async function releaseTracers(run: string, nodes: string[]): Promise<void> {
  await Promise.all(
    nodes.map((node) =>
      proxyActivities<NodeActivities>({ taskQueue: nodeQueue(node), scheduleToStartTimeout: '20 seconds', startToCloseTimeout: '1 minute', retry: { maximumAttempts: 3 } })
        .releaseTracer({ run, node })
        .catch((err: unknown) => log.warn('tracer state not released', { node, error: rootMessage(err) })),
    ),
  );
}

function validate(input: ModelingInput): ModelingPlan {
  try {
    return planFromInput(input);
  } catch (err) {
    if (err instanceof InputError) throw ApplicationFailure.create({ message: `invalid input: ${err.message}`, type: 'InvalidInput', nonRetryable: true });
    throw err;
  }
}

/** Failures that mean a collector recorded nothing (the last four: the node agent refused the target). */
const START_FAILURES = ['BpfUnavailable', 'TracerFull', 'TargetStartFailed', 'CollectorNotStarted', 'LaunchNotAllowed', 'TargetNotGranted', 'TargetNotAllowed', 'StoreNotAllowed'];

/** For status conditions: the activity's own failure type, or CollectorLost when it timed out (worker or node gone). */
function failureReason(err: unknown): string {
  let e = err as { type?: string; timeoutType?: unknown; cause?: unknown } | undefined;
  let reason = 'CollectorFailed';
  while (e) {
    if (e.timeoutType !== undefined) reason = 'CollectorLost';
    else if (typeof e.type === 'string' && e.type) reason = e.type;
    e = e.cause as typeof e;
  }
  return reason;
}

/** What a collector stopped by cancellation had done (it reports it in the cancellation's details); absent: it never ran. */
function cancelledResult(err: unknown): CollectResult | undefined {
  for (let e = err as { details?: unknown[]; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    const d = e.details?.[0] as CollectResult | undefined;
    if (d && typeof d.batches === 'number') return d;
  }
  return undefined;
}

/** The innermost cause's message: an ActivityFailure wraps the activity's own error. */
