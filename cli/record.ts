import { resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Context } from '../core/context.js';
import { runningDev } from './dev-presence.js';
import { nodeName } from '../lib/node-settings.js';
import type { ModelingInput } from '../workflows/input.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../workflows/queues.js';
import { openSession, type Session } from './session.js';

export interface RecordOptions {
  duration: string;
  out: string;
  name?: string;
  checkpointInterval: string;
  /** End once nothing new was seen for this long (the duration stays the upper bound). */
  convergeAfter?: string;
  minDuration?: string;
  home: string;
  context: Context;
  /** Paths the pod makes writable (volumes, emptyDir), for the readOnlyRootFilesystem advice. */
  writable?: string[];
}

/**
 * `record -- CMD`: models a command launched on this node, through the real workflow. With a
 * `varmor-modeler dev` serving this node from the same home and working directory, the run goes
 * through the dev's server and workers (warm); otherwise record starts both itself (cold).
 */
export async function record(argv: string[], opts: RecordOptions, log: Logger): Promise<number> {
  const session = (await throughDev(opts.home, log)) ?? (await openSession({ home: opts.home, log, workers: 'all', commandOutput: 2, warmTracer: true }));
  try {
    const input: ModelingInput = {
      // A relative program path is made absolute here: the collector's cwd may differ, and a
      // script's own path is recorded as an execution only when it is absolute.
      target: { kind: 'command', node: session.node, argv: argv[0]!.includes('/') ? [resolve(argv[0]!), ...argv.slice(1)] : argv },
      duration: opts.duration,
      checkpointInterval: opts.checkpointInterval,
      context: opts.context,
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.convergeAfter ? { convergeAfter: opts.convergeAfter } : {}),
      ...(opts.minDuration ? { minDuration: opts.minDuration } : {}),
      ...(opts.writable?.length ? { writablePaths: opts.writable.map((p) => resolve(p)) } : {}),
    };
    // Loaded only now: the session spawns the server first, then loads the Temporal client they share (session.ts).
    const [{ startModel, summary, waitForResult }, { fetchOutputs }] = await Promise.all([import('./model.js'), import('./outputs.js')]);
    const handle = await startModel(session.client, input, {});
    log.info({ workflowId: handle.workflowId }, 'modeling started');
    const result = await waitForResult(handle, log);
    log.debug('modeling done');
    const files = await fetchOutputs(result.store, result.outputs, resolve(opts.out));
    log.debug('outputs written');
    process.stdout.write(await summary(result, files));
    return 0;
  } finally {
    // The run is over and committed: a server started for it is not drained (TemporalEndpoint.stop).
    await session.close({ graceful: false });
    log.debug('closed');
  }
}

/**
 * A session on the dev announced in this home when its workers serve this node's queue; undefined
 * when none runs. A dev in another working directory is refused: it would launch the command there.
 */
async function throughDev(home: string, log: Logger): Promise<Session | undefined> {
  const dev = await runningDev(home);
  if (!dev || dev.node !== nodeName()) return undefined;
  if (dev.cwd !== process.cwd()) {
    throw new Error(`varmor-modeler dev (pid ${dev.pid}) serves node ${dev.node} from ${dev.cwd} and would launch the command there: run record in that directory, or stop the dev`);
  }
  const session = await openSession({ home, log, start: false });
  if (await polled(session.client, [CONTROLLER_QUEUE, nodeQueue(dev.node)])) {
    process.stderr.write(`recording through varmor-modeler dev (pid ${dev.pid}); the command's output goes to its terminal\n`);
    return session;
  }
  log.debug({ pid: dev.pid }, 'the announced dev has no workers polling; recording without it');
  await session.close();
  return undefined;
}

/** Workers poll every one of these queues (workflow tasks on the controller's, activity tasks on a node's). */
async function polled(client: Client, queues: string[]): Promise<boolean> {
  const WORKFLOW = 1; // temporal.api.enums.v1.TaskQueueType
  const ACTIVITY = 2;
  for (const name of queues) {
    const r = await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name }, taskQueueType: name === CONTROLLER_QUEUE ? WORKFLOW : ACTIVITY });
    if (!r.pollers?.length) return false;
  }
  return true;
}
