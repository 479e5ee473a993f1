import type { Logger } from 'pino';
import { announceDev } from './dev-presence.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../workflows/queues.js';
import type { Role } from '../workers/workers.js';
import { openSession } from './session.js';

/**
 * `worker` and `dev`: run workers in the foreground until SIGINT/SIGTERM. `dev` also starts the
 * embedded Temporal server (with its Web UI) and runs every role, for a one-machine setup.
 */
export interface ServeOptions {
  home: string;
  role: Role;
  node?: string;
  dev: boolean;
  kubeconfig?: string;
  context?: string;
  simulate?: string[];
  /** `worker` only: what the operator lets this node agent do beyond tracing pods. */
  allowLaunch?: boolean;
  allowHostTargets?: boolean;
  /** Metrics and probes (`PORT` or `HOST:PORT`), and the Temporal SDK's metrics; unset: not served. */
  metricsPort?: string;
  sdkMetricsPort?: string;
}

/** How long dev keeps the node's tracer loaded after the last run, for a record through it to start traced at once. */
const DEV_TRACER_LINGER_MS = 10 * 60_000;

export async function serve(opts: ServeOptions, log: Logger): Promise<number> {
  const session = await openSession({
    home: opts.home,
    log,
    workers: opts.role,
    start: opts.dev,
    ui: opts.dev,
    // dev: the commands record launches through it write to its terminal
    commandOutput: opts.dev ? 2 : 'ignore',
    ...(opts.dev ? { warmTracer: true, tracerLingerMs: DEV_TRACER_LINGER_MS } : {}),
    ...(opts.node ? { node: opts.node } : {}),
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.context ? { kubeContext: opts.context } : {}),
    ...(opts.simulate ? { simulate: opts.simulate } : {}),
    authority: opts.dev ? { local: true } : { local: false, launch: !!opts.allowLaunch, hostTargets: !!opts.allowHostTargets },
    ...(opts.metricsPort || opts.sdkMetricsPort ? { metrics: { ...(opts.metricsPort ? { listen: opts.metricsPort } : {}), ...(opts.sdkMetricsPort ? { sdk: opts.sdkMetricsPort } : {}) } } : {}),
  });
  const nodes = opts.simulate ?? [session.node];
  const queues = [...(opts.role !== 'node' ? [CONTROLLER_QUEUE] : []), ...(opts.role !== 'controller' ? nodes.map(nodeQueue) : [])];
  const lines = [
    `Temporal ${session.endpoint.address} (namespace ${session.endpoint.namespace})${session.endpoint.started ? ', embedded' : ''}`,
    ...(session.endpoint.ui ? [`Web UI   ${session.endpoint.ui}`] : []),
    `workers  ${queues.join(', ')}`,
    `store    ${session.store}`,
    ...(opts.metricsPort ? [`metrics  ${opts.metricsPort} (/metrics, /healthz, /readyz)`] : []),
    ...(opts.sdkMetricsPort ? [`sdk      ${opts.sdkMetricsPort} (/metrics: the Temporal SDK's worker metrics)`] : []),
  ];
  if (opts.dev) lines.push('', `Start a run:  varmor-modeler model start --target pid:PID --duration 10m`, `or:           temporal workflow start --address ${session.endpoint.address} --task-queue ${CONTROLLER_QUEUE} --type behaviorModeling --input-file input.json`);
  process.stderr.write(lines.join('\n') + '\n');
  // record runs through this dev's workers (cli/record.ts)
  const withdraw = opts.dev && opts.role === 'all' && !opts.simulate ? await announceDev(opts.home, { pid: process.pid, node: session.node, cwd: process.cwd() }) : undefined;
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await Promise.race([stop, session.workersDone]);
  log.info('shutting down');
  await withdraw?.();
  await session.close();
  return 0;
}
