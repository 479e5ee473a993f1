import type { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { archFromNode } from '../core/syscalls.js';
import { connectOrStart, type TemporalEndpoint } from '../embedded/temporal-server.js';
import { auditSources } from '../audit/sources.js';
import { OPEN_POLICY } from '../core/policy.js';
import { defaultStoreUrl } from '../lib/home.js';
import { kubeletSeccompDir, nodeName, pinRoot, podCgroup, tracerPath, tracerTargets } from '../lib/node-settings.js';
import { Keyring } from '../lib/keyring.js';
import { modelingPolicyFromEnv } from '../lib/policy-env.js';
import { tlsFromEnv } from '../lib/temporal-tls.js';
import type { Kube } from '../k8s/client.js';
import { kubeconfigSource } from '../lib/kubeconfig.js';
import type { Role, RunningWorkers } from '../workers/workers.js';
import { ensureSearchAttributes } from '../lib/search-attributes.js';

/** A connection to Temporal (embedded or TEMPORAL_ADDRESS), a client, and optionally in-process workers. */
export interface Session {
  endpoint: TemporalEndpoint;
  client: Client;
  store: string;
  node: string;
  /** Resolves when the in-process workers stop (on close, or when one fails). */
  workersDone?: Promise<void>;
  /** `graceful: false`: an embedded server this session started is killed, not drained (TemporalEndpoint.stop). */
  close(opts?: { graceful?: boolean }): Promise<void>;
}

export interface SessionOptions {
  home: string;
  log: Logger;
  /** Run these workers in this process. */
  workers?: Role;
  /** The node these workers collect on (default NODE_NAME or the host name). */
  node?: string;
  /** Start the embedded server when none runs (default true); false: fail with a hint instead. */
  start?: boolean;
  /** Serve the Web UI from the embedded server. */
  ui?: boolean;
  commandOutput?: number | 'ignore';
  kubeconfig?: string;
  kubeContext?: string;
  /** Serve these nodes' queues with the simulated collector instead of this node's real one. */
  simulate?: string[];
  /**
   * Who decides what the workers may do. `local` (record, dev): the user on one machine, so every
   * target kind, launching included. Otherwise the operator: the modeling policy from the
   * environment, launching and host processes only as opted in, batches only to this store.
   */
  authority?: { local: true } | { local: false; launch: boolean; hostTargets: boolean };
  /** Serve the workers' metrics and probes, and the Temporal SDK's metrics (`PORT` or `HOST:PORT` each). */
  metrics?: { listen?: string; sdk?: string };
  /** Load the node's tracer while the workers start, not at the first run. */
  warmTracer?: boolean;
  /** With nothing left to trace, keep the node's tracer loaded this long for the next run. */
  tracerLingerMs?: number;
}

/**
 * The Kubernetes API when there is one to talk to (in-cluster, KUBECONFIG, ~/.kube/config,
 * --kubeconfig). The Kubernetes client is loaded only then: `record` on a host without Kubernetes
 * never loads it; with one, its in-process controller serves k8s targets of other runs too.
 */
async function kubeIfAny(opts: SessionOptions): Promise<{ kube?: Kube }> {
  if (!kubeconfigSource(opts.kubeconfig) && !opts.kubeContext) {
    opts.log.debug('no Kubernetes configuration: k8s targets are unavailable');
    return {};
  }
  const { connect } = await import('../k8s/client.js');
  try {
    return { kube: connect({ ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}), ...(opts.kubeContext ? { context: opts.kubeContext } : {}) }) };
  } catch (err) {
    if (opts.kubeconfig || opts.kubeContext) throw err;
    opts.log.debug({ err }, 'no Kubernetes API: k8s targets are unavailable');
    return {};
  }
}

export async function openSession(opts: SessionOptions): Promise<Session> {
  // The client's and the workers' code (the SDK's worker, the activities) load while the embedded
  // server starts: after its process is spawned, since loading holds the event loop for a while.
  let code: Promise<[typeof import('@temporalio/client'), typeof import('../workers/workers.js') | undefined]> | undefined;
  const load = () => (code ??= Promise.all([import('@temporalio/client'), opts.workers ? import('../workers/workers.js') : undefined]));
  const endpoint = await connectOrStart(opts.home, opts.log, { start: opts.start ?? true, ui: opts.ui ?? false, whileStarting: () => void load().catch(() => {}) });
  const [clientCode, workerCode] = await load();
  opts.log.debug({ address: endpoint.address }, 'Temporal answers');
  const store = defaultStoreUrl(opts.home);
  const node = opts.node ?? nodeName();
  let workers: RunningWorkers | undefined;
  let connection: Connection | undefined;
  try {
    connection = await clientCode.Connection.connect({ address: endpoint.address, tls: tlsFromEnv() });
    // The controller's workflows set the search attributes: a namespace without them fails here, not in every workflow task.
    if (opts.workers && opts.workers !== 'node') await ensureSearchAttributes(connection, endpoint.namespace);
    if (opts.workers) {
      const authority = opts.authority ?? { local: true };
      workers = await workerCode!.startWorkers({
        address: endpoint.address,
        namespace: endpoint.namespace,
        role: opts.workers,
        node,
        store,
        ...(opts.workers !== 'node' ? await kubeIfAny(opts) : {}),
        ...(opts.simulate ? { simulate: opts.simulate } : {}),
        keyring: Keyring.fromEnv(opts.home),
        policy: authority.local ? OPEN_POLICY : modelingPolicyFromEnv(),
        collector: {
          tracerPath: tracerPath(),
          arch: archFromNode(process.arch),
          commandOutput: opts.commandOutput ?? 'ignore',
          auditSources: auditSources(),
          podCgroup: podCgroup(),
          ...(tracerTargets() ? { maxTargets: tracerTargets()! } : {}),
          allow: authority.local ? { launch: true, hostTargets: true } : { launch: authority.launch, hostTargets: authority.hostTargets, stores: [store] },
          ...(pinRoot() ? { pinRoot: pinRoot()! } : {}),
          ...(kubeletSeccompDir() ? { seccompDir: kubeletSeccompDir()! } : {}),
          ...(opts.tracerLingerMs ? { lingerMs: opts.tracerLingerMs } : {}),
        },
        logger: opts.log,
        ...(opts.metrics ? { metrics: opts.metrics } : {}),
        ...(opts.warmTracer ? { warmTracer: true } : {}),
      });
      workers.done.catch((err: Error) => opts.log.error({ err }, 'worker failed'));
      opts.log.debug('workers started');
    }
  } catch (err) {
    await connection?.close();
    await endpoint.stop();
    throw err;
  }
  const client = new clientCode.Client({ connection, namespace: endpoint.namespace });
  return {
    endpoint,
    client,
    store,
    node,
    ...(workers ? { workersDone: workers.done } : {}),
    async close(how) {
      await workers?.shutdown().catch(() => {});
      await connection!.close();
      await endpoint.stop(how);
    },
  };
}
