import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CollectResult, ControllerActivities, MergeResult, NodeActivities } from '../activities/index.js';
import { parseDuration } from '../core/duration.js';
import type { NodeOutcome } from '../core/outputs.js';
import { describeTarget, InputError, planFromInput, type ModelingInput } from './input.js';
import { nodeQueue } from './queues.js';

export type Phase = 'resolving' | 'modeling' | 'merging' | 'completed' | 'failed';

export interface NodeStatus {
  state: 'running' | 'completed' | 'failed';
  batches: number;
  events: number;
  reason?: string;
  /** Set while the node's checkpoints fail (object store unavailable); they are retried. */
  storeError?: string;
}

export interface ModelingStatus {
  phase: Phase;
  target: string;
  window: { start: number; end: number };
  nodes: Record<string, NodeStatus>;
  error?: string;
}

export interface ModelingResult {
  run: string;
  store: string;
  outputs: Record<string, string>;
  batches: number;
  counts: Record<string, number>;
  nodes: NodeOutcome[];
  exitCode?: number;
}

export const statusQuery = defineQuery<ModelingStatus>('status');
export const stopSignal = defineSignal('stop');
export const extendUpdate = defineUpdate<number, [string]>('extend');

const controller = proxyActivities<ControllerActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumInterval: '1 minute' },
});

/**
 * Models one target: find where it runs, collect on every node for the window, then merge the
 * checkpointed batches into the ArmorProfileModel and profiles.
 */
export async function behaviorModeling(input: ModelingInput): Promise<ModelingResult> {
  let plan;
  try {
    plan = planFromInput(input);
  } catch (err) {
    if (err instanceof InputError) throw ApplicationFailure.create({ message: `invalid input: ${err.message}`, type: 'InvalidInput', nonRetryable: true });
    throw err;
  }
  const info = workflowInfo();
  const run = `${plan.namespace}/${plan.name}/${info.firstExecutionRunId}`;
  const start = Date.now();
  const status: ModelingStatus = { phase: 'resolving', target: describeTarget(plan.target), window: { start, end: start + plan.durationMs }, nodes: {} };
  let stopRequested = false;
  setHandler(statusQuery, () => status);
  setHandler(stopSignal, () => void (stopRequested = true));
  setHandler(
    extendUpdate,
    (by) => {
      status.window.end += parseDuration(by);
      return status.window.end;
    },
    { validator: (by) => void parseDuration(by) },
  );

  const resolution = await controller.resolveTarget(plan.target);
  const store = plan.store ?? resolution.store;

  status.phase = 'modeling';
  const outcomes: NodeOutcome[] = [];
  let exitCode: number | undefined;
  const collectors = new CancellationScope();
  const running = resolution.nodes.map((node) => {
    status.nodes[node] = { state: 'running', batches: 0, events: 0 };
    const { collect } = proxyActivities<NodeActivities>({
      taskQueue: nodeQueue(node),
      // A node whose worker never picks the task up is given up, not waited for forever.
      scheduleToStartTimeout: '5 minutes',
      startToCloseTimeout: plan.durationMs + 10 * 60_000,
      heartbeatTimeout: '30 seconds',
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['BpfUnavailable', 'TargetStartFailed', 'UnsupportedTarget'] },
    });
    return collectors
      .run(() => collect({ run, node, target: plan.target, store, checkpointMs: plan.checkpointMs, endAt: status.window.end }))
      .then(
        (r: CollectResult) => {
          status.nodes[node] = { state: 'completed', batches: r.batches, events: r.events, reason: r.reason };
          outcomes.push({ node, state: 'completed', reason: r.reason, at: Date.now() });
          if (r.exitCode !== undefined) exitCode = r.exitCode;
        },
        (err: unknown) => {
          if (isCancellation(err)) {
            status.nodes[node] = { ...status.nodes[node]!, state: 'completed', reason: 'window-ended' };
            outcomes.push({ node, state: 'completed', reason: 'window-ended', at: Date.now() });
          } else {
            const message = rootMessage(err);
            status.nodes[node] = { ...status.nodes[node]!, state: 'failed', reason: message };
            outcomes.push({ node, state: 'failed', reason: 'CollectorFailed', message, at: Date.now() });
          }
        },
      );
  });
  let settled = false;
  const all = Promise.all(running).then(() => void (settled = true));

  // The window: until it ends (extend moves the end), a stop signal, or every collector is done.
  while (!settled && !stopRequested && Date.now() < status.window.end) {
    const end = status.window.end;
    await condition(() => settled || stopRequested || status.window.end !== end, end - Date.now());
  }
  collectors.cancel();
  await all;

  const failed = outcomes.filter((o) => o.state === 'failed');
  if (failed.length === outcomes.length) {
    status.phase = 'failed';
    status.error = failed[0]?.message ?? 'no collector ran';
    throw ApplicationFailure.create({ message: status.error, type: 'CollectorsFailed', nonRetryable: true });
  }

  status.phase = 'merging';
  const merged: MergeResult = await controller.mergeRun({
    run,
    store,
    target: status.target,
    namespace: plan.namespace,
    name: plan.name,
    window: { start: status.window.start, end: Math.min(Date.now(), status.window.end) },
    nodes: outcomes,
  });
  status.phase = 'completed';
  const result: ModelingResult = { run, store, outputs: merged.outputs, batches: merged.batches, counts: merged.counts, nodes: outcomes };
  if (exitCode !== undefined) result.exitCode = exitCode;
  return result;
}

/** The innermost cause's message: an ActivityFailure wraps the activity's own error. */
function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e && e.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
