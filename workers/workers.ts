import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { controllerActivities, nodeActivities, tracerHosts, type CollectorConfig, type TracerHosts } from '../activities/index.js';
import { simulatedNodeActivities } from '../activities/simulate.js';
import type { TracerHost } from '../bpf/driver/host.js';
import type { ModelingPolicy } from '../core/policy.js';
import type { Kube } from '../k8s/client.js';
import type { Keyring } from '../lib/keyring.js';
import { serveMetricsOf } from '../lib/metrics.js';
import { tlsFromEnv } from '../lib/temporal-tls.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../workflows/queues.js';
import { every, listenAddress, onceSucceeded, serveProbes, type Check, type Probes } from './probes.js';

/** The workflow code bundled at build time (see bundle.ts). */
export const WORKFLOW_BUNDLE = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

export type Role = 'controller' | 'node' | 'all';

/** Node workers: collectors run for the whole window and heartbeat often. */
export const NODE_WORKER_OPTIONS = {
  // Each collector holds one slot for its lease: room for every target of the node's one tracer
  // (127, bpf/README.md) and the releases beside them. A run beyond the tracer's targets is refused
  // by the tracer (TracerFull), not left waiting for a slot.
  maxConcurrentActivityTaskExecutions: 160,
  // One long poll a node: a node starts a collector a lease, and the server caps concurrent polls
  // per namespace (frontend.namespaceCount, 1,200 by default). The SDK's default of 10 a worker
  // reached that cap at about 120 nodes, after which collectors were not started (bench/scale).
  maxConcurrentActivityTaskPolls: 1,
  // Heartbeats carry live progress and deliver cancellation (stop, target moved): a few seconds, not the default 24.
  maxHeartbeatThrottleInterval: '5 seconds',
  defaultHeartbeatThrottleInterval: '5 seconds',
} as const;

export interface WorkerOptions {
  address: string;
  namespace: string;
  role: Role;
  node: string;
  store: string;
  collector: Omit<CollectorConfig, 'keyring'>;
  /** The Kubernetes API, for k8s targets and ArmorProfileModel resources; absent outside a cluster. */
  kube?: Kube;
  /** Node names whose queues get the simulated collector (activities/simulate.ts) instead of this node's real one. */
  simulate?: readonly string[];
  /** Seals and verifies batches, signs and verifies grants. */
  keyring: Keyring;
  /** The controller's modeling policy. */
  policy: ModelingPolicy;
  logger: Logger;
  /**
   * `PORT` or `HOST:PORT`: serve /metrics, /healthz and /readyz there (workers/probes.ts); `sdk`:
   * the Temporal SDK's own worker metrics (its Prometheus exporter) there. Unset: neither.
   */
  metrics?: { listen?: string; sdk?: string };
  /** Load the node's tracer at start rather than at the first run (record, dev: that run starts traced at once). */
  warmTracer?: boolean;
}

export interface RunningWorkers {
  /** Resolves when the workers stop; rejects when one fails. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

/** Sends the SDK's own logs through pino; with `sdkMetrics`, serves the SDK's metrics for Prometheus there. */
function installRuntime(logger: Logger, sdkMetrics?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.VARMOR_MODELER_SDK_LOG ?? 'ERROR') as LogLevel;
  const sdk = sdkMetrics ? listenAddress(sdkMetrics, 'SDK metrics address') : undefined;
  Runtime.install({
    ...(sdk ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `${sdk.host}:${sdk.port}` } } } } : {}),
    // The commands handle their own signals: `worker`/`dev` shut the workers down on SIGINT/SIGTERM,
    // and `record`'s Ctrl-C ends the window early, which needs the in-process workers to go on
    // (the SDK's default would start shutting them down, and the merge would never run).
    shutdownSignals: [],
    logger: new DefaultLogger(level, ({ level: l, message, meta }) => {
      const method = ({ TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const)[l];
      logger[method]({ sdk: true, ...meta }, message);
    }),
  });
}

/** Starts the controller and/or node workers of this process. */
export async function startWorkers(opts: WorkerOptions): Promise<RunningWorkers> {
  installRuntime(opts.logger, opts.metrics?.sdk);
  const connection = await NativeConnection.connect({ address: opts.address, tls: tlsFromEnv() });
  // Created side by side: the workflow worker's thread loads the bundle while the activity workers register.
  const creating: Promise<Worker>[] = [];
  let tracers: TracerHosts | undefined;
  if (opts.role === 'controller' || opts.role === 'all') {
    creating.push(
      Worker.create({
        connection,
        namespace: opts.namespace,
        taskQueue: CONTROLLER_QUEUE,
        workflowBundle: { codePath: WORKFLOW_BUNDLE },
        activities: controllerActivities({ store: opts.store, keyring: opts.keyring, policy: opts.policy, ...(opts.kube ? { kube: opts.kube } : {}) }),
      }),
    );
  }
  if ((opts.role === 'node' || opts.role === 'all') && opts.simulate) {
    const activities = simulatedNodeActivities(opts.keyring);
    for (const node of opts.simulate) creating.push(Worker.create({ connection, namespace: opts.namespace, taskQueue: nodeQueue(node), activities, ...NODE_WORKER_OPTIONS }));
  } else if (opts.role === 'node' || opts.role === 'all') {
    const collector = { ...opts.collector, keyring: opts.keyring };
    tracers = tracerHosts(collector, (message, fields) => opts.logger.warn(fields, message));
    // A tracer that cannot load says why to the first collector, as without warming.
    if (opts.warmTracer) tracers(opts.node).warm().catch((err: Error) => opts.logger.debug({ err }, 'the tracer did not load ahead of the first run'));
    creating.push(
      Worker.create({
        connection,
        namespace: opts.namespace,
        taskQueue: nodeQueue(opts.node),
        activities: nodeActivities(collector, tracers),
        ...NODE_WORKER_OPTIONS,
      }),
    );
  }
  let workers: Worker[];
  try {
    workers = await Promise.all(creating);
  } catch (err) {
    await tracers?.close(); // a warmed tracer would outlive the failed start
    await connection.close();
    throw err;
  }
  // The node's tracer outlives its collectors (runs between leases stay traced): it goes with the worker.
  const running = Promise.all(workers.map((w) => w.run()));
  let probes: Probes | undefined;
  try {
    if (opts.metrics?.listen) {
      const node = opts.role !== 'controller' && !opts.simulate;
      serveMetricsOf({ collectors: opts.role !== 'controller', merges: opts.role !== 'node' });
      probes = await serveProbes(listenAddress(opts.metrics.listen, 'metrics address'), {
        live: [temporalAnswers(connection, opts.address), async () => stateOf(workers, (s) => s !== 'FAILED')],
        ready: [async () => stateOf(workers, (s) => s === 'RUNNING'), ...(node ? [tracerLoads(tracers!(opts.node))] : [])],
      });
    }
  } catch (err) {
    for (const w of workers) w.shutdown();
    await running.catch(() => {});
    await tracers?.close();
    await connection.close();
    throw err;
  }
  const done = running
    .then(() => {})
    .finally(async () => {
      await probes?.close();
      await tracers?.close();
      await connection.close();
    });
  return {
    done,
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    },
  };
}

/** The Temporal frontend answers (GetSystemInfo within 5 s), asked at most every 5 s. */
function temporalAnswers(connection: NativeConnection, address: string): Check {
  return every(5000, async () => {
    try {
      await connection.withDeadline(Date.now() + 5000, () => connection.workflowService.getSystemInfo({}));
      return undefined;
    } catch (err) {
      return `Temporal at ${address} does not answer: ${(err as Error).message}`;
    }
  });
}

/** Every worker's state is one `ok` accepts; else which is not. */
function stateOf(workers: Worker[], ok: (state: ReturnType<Worker['getState']>) => boolean): string | undefined {
  const bad = workers.filter((w) => !ok(w.getState())).map((w) => `worker ${w.options.taskQueue} is ${w.getState()}`);
  return bad.length ? bad.join('; ') : undefined;
}

/** The node agent is ready once its tracer can load (checked at start, again every 30 s while it cannot). */
function tracerLoads(host: TracerHost): Check {
  return onceSucceeded('BPF tracer', 30_000, () => host.canLoad());
}
