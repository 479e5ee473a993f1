/**
 * One modeling run over a fleet of KWOK nodes, for the scale test and the scale benchmark: the
 * real control plane with fake nodes, a Deployment with one replica on each, varmor-s3 as the
 * object store, the real controller worker in this process, and the node queues served by the
 * simulated collector in several worker processes. Returns what it measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { controllerActivities } from '../../activities/index.js';
import { startModel } from '../../cli/model.js';
import { liveStatus } from '../../cli/status.js';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { parseK8sSpec } from '../../core/target-spec.js';
import { connect } from '../../k8s/client.js';
import { MODEL_GROUP, MODEL_PLURAL, MODEL_VERSION } from '../../k8s/crd.js';
import { resolveTarget } from '../../k8s/resolve.js';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { WORKFLOW_BUNDLE } from '../../workers/workers.js';
import { statusQuery, type ModelingResult } from '../../workflows/index.js';
import { CONTROLLER_QUEUE } from '../../workflows/queues.js';
import { CLI, freePort, tempDir, testKeyring } from '../helpers.js';
import { OPEN_POLICY } from '../../core/policy.js';
import { chartManifests, type ControlPlane, FAKE_NODE } from './control-plane.js';

export const VARMOR_S3 = join(PACKAGE_ROOT, '.tools', 'bin', 'varmor-s3');
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'varmor-modeler', AWS_SECRET_ACCESS_KEY: 'varmor-modeler' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FleetOptions {
  nodes: number;
  /** Worker processes the node queues are divided among. */
  processes: number;
  duration: string;
  checkpointInterval: string;
  resolveInterval: string;
  leaseInterval?: string;
  nodeGiveUp?: string;
  historyLimit?: number;
  churn?: Churn;
  /** Where the worker processes' logs go; default: discarded. */
  logDir?: string;
  progress?: (line: string) => void;
}

/**
 * Nodes joining, leaving and failing during the window, at fixed points of it: at 25 % `join` new
 * KWOK nodes join and the Deployment grows onto them (their node agent starts then); at 30 % the
 * worker processes of `fail` and of `lose` nodes are killed (SIGKILL: node agents lost); at 40 %
 * `leave` replicas go (pod-deletion-cost picks them) and their nodes are deleted; at 60 % the
 * `fail` nodes' worker comes back. `lose` nodes never come back.
 */
export interface Churn {
  join: number;
  leave: number;
  fail: number;
  lose: number;
}

export interface FleetRun {
  nodes: string[];
  joined: string[];
  left: string[];
  failed: string[];
  lost: string[];
  /** Each failed node's batches (the workflow's count) when its agent came back, and at the end. */
  failedBatches: Record<string, { atReturn: number; final: number }>;
  /** Pods placed and reported running, from the Deployment's creation. */
  podsRunningMs: number;
  /** From the workflow's start to every collector running (its first heartbeat); undefined: not all within the window. */
  collectorsRunningMs: number | undefined;
  /** Nodes whose collector was seen running (heartbeating) during the window. */
  collectorsSeen: number;
  /** From the window's end to the merge starting (collectors stopped, tracer state released). */
  stopMs: number;
  /** From the merge starting to the result. */
  mergeMs: number;
  /** This process's peak RSS while the controller (and so the merge) ran in it. */
  controllerPeakRssBytes: number;
  statusQueryMs: number[];
  /** One entry per run of the chain (continue-as-new). */
  historyLengths: number[];
  /** Node activities (collect, releaseTracer) closed: total and the highest count in any 5 s. */
  activities: { total: number; peakPerSecond: number };
  result: ModelingResult;
  model: ArmorProfileModel;
  modelBytes: number;
}

/** Polls `probe` until it gives a value. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(250);
  }
}

export async function modelFleet(cp: ControlPlane, env: TestWorkflowEnvironment, opts: FleetOptions): Promise<FleetRun> {
  const say = opts.progress ?? (() => {});
  const name = (i: number) => `sim-${String(i).padStart(4, '0')}`;
  const nodes = Array.from({ length: opts.nodes }, (_, i) => name(i));
  const churn = opts.churn ?? { join: 0, leave: 0, fail: 0, lose: 0 };
  const joined = Array.from({ length: churn.join }, (_, i) => name(opts.nodes + i));
  // Disjoint slices: failing nodes first, then lost ones, leaving ones from the end.
  const failed = nodes.slice(0, churn.fail);
  const lost = nodes.slice(churn.fail, churn.fail + churn.lose);
  const left = nodes.slice(nodes.length - churn.leave);
  const kube = connect({ kubeconfig: cp.kubeconfig, retry: { attempts: 10, baseMs: 200 } });
  await cp.apply(await chartManifests(['--show-only', 'templates/crd.yaml']));
  await cp.kubectl(['create', 'namespace', 'shop']);
  await cp.addFakeNodes(nodes);
  await until('the default ServiceAccount', async () => ((await cp.kubectl(['get', 'serviceaccount', 'default', '-n', 'shop'])).code === 0 ? true : undefined));
  const created = Date.now();
  await cp.apply(
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        replicas: nodes.length,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { type: 'kwok' },
            tolerations: [{ key: FAKE_NODE, operator: 'Exists', effect: 'NoSchedule' }],
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }],
            containers: [{ name: 'web', image: 'registry.example/web:1' }],
          },
        },
      },
    }),
  );
  const resolved = () => resolveTarget(kube, parseK8sSpec('k8s:shop/deployment/web'));
  const placed = (want: readonly string[]) => async () => {
    const r = await resolved();
    const on = new Set(r.nodes);
    return on.size === want.length && want.every((n) => on.has(n)) && r.pods.every((p) => p.containers.length === 1) ? r : undefined;
  };
  await until(`${nodes.length} running pods on ${nodes.length} nodes`, placed(nodes), 600_000);
  const podsRunningMs = Date.now() - created;
  say(`${nodes.length} pods running in ${podsRunningMs} ms`);

  const children = new Map<string, ChildProcess>();
  const port = await freePort();
  const s3 = spawn(VARMOR_S3, ['--listen', `127.0.0.1:${port}`, '--db', join(await tempDir('s3'), 's3.db'), '--bucket', 'varmor-modeler'], { stdio: 'ignore' });
  Object.assign(process.env, CREDENTIALS);
  const store = `s3://varmor-modeler/fleet?endpoint=${encodeURIComponent(`http://127.0.0.1:${port}`)}&region=us-east-1&pathStyle=true`;
  const controller = await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: controllerActivities({ store, kube, keyring: await testKeyring(), policy: OPEN_POLICY }) });
  const running = controller.run();
  let peak = 0;
  const rss = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  // A node agent: one worker process serving some nodes' queues with the simulated collector.
  const startAgent = async (label: string, served: readonly string[]) => {
    const home = await tempDir('sim-home');
    const log = opts.logDir ? openSync(join(opts.logDir, `worker-${label}.log`), 'a') : 'ignore';
    const env2 = { ...process.env, ...CREDENTIALS, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', VARMOR_MODELER_HOME: home };
    children.set(label, spawn(process.execPath, [CLI, 'worker', '--role', 'node', '--simulate', served.join(',')], { env: env2, stdio: ['ignore', log, log] }));
  };
  const stopAgent = (label: string) => children.get(label)?.kill('SIGKILL');
  try {
    const steady = nodes.filter((n) => !failed.includes(n) && !lost.includes(n));
    const per = Math.ceil(steady.length / opts.processes);
    for (let i = 0; i < steady.length; i += per) await startAgent(`p${i / per}`, steady.slice(i, i + per));
    if (failed.length) await startAgent('failing', failed);
    if (lost.length) await startAgent('lost', lost);
    const started = Date.now();
    const input = {
      target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' },
      duration: opts.duration,
      checkpointInterval: opts.checkpointInterval,
      resolveInterval: opts.resolveInterval,
      store,
      searchAttributes: false,
      ...(opts.leaseInterval ? { leaseInterval: opts.leaseInterval } : {}),
      ...(opts.nodeGiveUp ? { nodeGiveUp: opts.nodeGiveUp } : {}),
      ...(opts.historyLimit ? { historyLimit: opts.historyLimit } : {}),
    } as const;
    const h = await startModel(env.client, input, {});
    const { window } = await h.query(statusQuery);
    const length = window.end - window.start;
    const steps: { at: number; what: string; run: () => Promise<void> }[] = [];
    if (joined.length)
      steps.push({
        at: 0.25,
        what: `${joined.length} nodes join`,
        run: async () => {
          await cp.addFakeNodes(joined);
          await startAgent('joined', joined);
          await cp.kubectl(['scale', 'deployment/web', '-n', 'shop', `--replicas=${nodes.length + joined.length}`]);
        },
      });
    if (failed.length || lost.length) steps.push({ at: 0.3, what: `the node agents of ${failed.length + lost.length} nodes are killed`, run: async () => void (stopAgent('failing'), stopAgent('lost')) });
    if (left.length)
      steps.push({
        at: 0.4,
        what: `${left.length} nodes leave`,
        run: async () => {
          // The replicas on the leaving nodes are the ones the ReplicaSet removes (pod-deletion-cost).
          for (const p of (await resolved()).pods.filter((p) => left.includes(p.node))) await cp.kubectl(['annotate', 'pod', p.name, '-n', 'shop', 'controller.kubernetes.io/pod-deletion-cost=-1000']);
          await cp.kubectl(['scale', 'deployment/web', '-n', 'shop', `--replicas=${nodes.length + joined.length - left.length}`]);
          await until('the leaving nodes emptied', placed([...nodes, ...joined].filter((n) => !left.includes(n))), 120_000);
          await cp.kubectl(['delete', 'node', ...left]);
        },
      });
    const failedBatches: FleetRun['failedBatches'] = {};
    if (failed.length)
      steps.push({
        at: 0.6,
        what: `the node agent of ${failed.length} nodes comes back`,
        run: async () => {
          const status = await h.query(statusQuery);
          for (const n of failed) failedBatches[n] = { atReturn: status.nodes[n]?.batches ?? 0, final: 0 };
          await startAgent('failing-back', failed);
        },
      });

    // The status query's latency until the result.
    const statusQueryMs: number[] = [];
    const firstSeen = new Map<string, number>();
    let collectorsRunningMs: number | undefined;
    let merging: number | undefined;
    let result: ModelingResult | undefined;
    const outcome = h.result().then((r) => void (result = r as ModelingResult));
    while (result === undefined) {
      const now = Date.now();
      while (steps.length && now >= window.start + steps[0]!.at * length) {
        const step = steps.shift()!;
        say(`${step.what} (${Math.round(step.at * 100)} % of the window)`);
        await step.run();
      }
      const t0 = performance.now();
      const status = await liveStatus(h).catch(() => undefined);
      if (status) {
        statusQueryMs.push(performance.now() - t0);
        if (status.phase === 'merging' && merging === undefined) merging = Date.now();
        for (const [n, st] of Object.entries(status.nodes)) if (st.state === 'running' && st.attempt !== undefined) firstSeen.set(n, Math.min(firstSeen.get(n) ?? Infinity, Date.now()));
        if (collectorsRunningMs === undefined && nodes.every((n) => firstSeen.has(n))) {
          collectorsRunningMs = Math.max(...nodes.map((n) => firstSeen.get(n)!)) - started;
          say(`every collector running ${collectorsRunningMs} ms after the start`);
        }
      }
      await Promise.race([outcome, sleep(500)]);
    }
    const done = Date.now();
    await outcome;
    const windowEnd = Math.min(window.end, merging ?? done);
    say(`completed: stop ${(merging ?? done) - windowEnd} ms, merge ${done - (merging ?? done)} ms`);
    const final = await h.query(statusQuery);
    for (const n of failed) failedBatches[n]!.final = final.nodes[n]?.batches ?? 0;
    const { historyLengths, activities } = await histories(env, h.workflowId);
    const model = (await kube.custom.getNamespacedCustomObject({ group: MODEL_GROUP, version: MODEL_VERSION, plural: MODEL_PLURAL, namespace: 'shop', name: 'varmor-shop-web' })) as ArmorProfileModel;
    return {
      nodes,
      joined,
      left,
      failed,
      lost,
      failedBatches,
      podsRunningMs,
      collectorsRunningMs,
      collectorsSeen: nodes.filter((n) => firstSeen.has(n)).length,
      stopMs: (merging ?? done) - windowEnd,
      mergeMs: done - (merging ?? done),
      controllerPeakRssBytes: peak,
      statusQueryMs,
      historyLengths,
      activities,
      result: result!,
      model,
      modelBytes: Buffer.byteLength(JSON.stringify(model)),
    };
  } finally {
    clearInterval(rss);
    for (const c of children.values()) c.kill('SIGTERM');
    s3.kill('SIGTERM');
    controller.shutdown();
    await running;
  }
}

const { EventType } = proto.temporal.api.enums.v1;
const CLOSED = new Set([EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT]);

/** Every run of the chain: its history length, and the node activities closed per second. */
async function histories(env: TestWorkflowEnvironment, workflowId: string) {
  const historyLengths: number[] = [];
  const perSecond = new Map<number, number>();
  const runs = [];
  for await (const r of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(r);
  runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  for (const r of runs) {
    const history = await env.client.workflow.getHandle(workflowId, r.runId).fetchHistory();
    historyLengths.push(history.events?.length ?? 0);
    for (const e of history.events ?? []) {
      if (!CLOSED.has(e.eventType!)) continue;
      const second = Number(e.eventTime?.seconds ?? 0);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
  }
  let total = 0;
  let peak = 0;
  const seconds = [...perSecond.keys()].sort((a, b) => a - b);
  for (const s of seconds) {
    total += perSecond.get(s)!;
    let inFive = 0;
    for (let t = s; t < s + 5; t++) inFive += perSecond.get(t) ?? 0;
    peak = Math.max(peak, inFive / 5);
  }
  return { historyLengths, activities: { total, peakPerSecond: peak } };
}
