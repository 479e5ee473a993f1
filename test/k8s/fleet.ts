/**
 * One modeling run over a fleet of KWOK nodes, for the scale test and the scale benchmark: the
 * real control plane with fake nodes, a Deployment with one replica on each, varmor-s3 as the
 * object store, the real controller worker in this process, and the node queues served by the
 * simulated collector in several worker processes. Returns what it measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { controllerActivities } from '../../activities/index.js';
import { startModel } from '../../cli/model.js';
import { liveStatus } from '../../cli/status.js';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { connect } from '../../k8s/client.js';
import { MODEL_GROUP, MODEL_PLURAL, MODEL_VERSION } from '../../k8s/crd.js';
import { resolveTarget } from '../../k8s/resolve.js';
import { parseK8sSpec as parseTargetSpec } from '../../core/target-spec.js';
import { PACKAGE_ROOT } from '../../lib/home.js';
import { WORKFLOW_BUNDLE } from '../../workers/workers.js';
import { statusQuery, type ModelingResult } from '../../workflows/index.js';
import { CONTROLLER_QUEUE } from '../../workflows/queues.js';
import { CLI, freePort, tempDir } from '../helpers.js';
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
}

export interface FleetRun {
  nodes: string[];
  /** Pods placed and reported running, from the Deployment's creation. */
  podsRunningMs: number;
  /** From the workflow's start to every collector running (its first heartbeat). */
  collectorsRunningMs: number;
  /** From the window's end to the result. */
  mergeMs: number;
  /** This process's peak RSS while the controller (and so the merge) ran in it. */
  controllerPeakRssBytes: number;
  statusQueryMs: number[];
  historyLength: number;
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
  const nodes = Array.from({ length: opts.nodes }, (_, i) => `sim-${String(i).padStart(4, '0')}`);
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
  await until(
    `${nodes.length} running pods on ${nodes.length} nodes`,
    async () => {
      const r = await resolveTarget(kube, parseTargetSpec('k8s:shop/deployment/web'));
      return r.nodes.length === nodes.length && r.pods.every((p) => p.containers.length === 1) ? r : undefined;
    },
    600_000,
  );
  const podsRunningMs = Date.now() - created;

  const children: ChildProcess[] = [];
  const port = await freePort();
  children.push(spawn(VARMOR_S3, ['--listen', `127.0.0.1:${port}`, '--db', join(await tempDir('s3'), 's3.db'), '--bucket', 'varmor-modeler'], { stdio: 'ignore' }));
  Object.assign(process.env, CREDENTIALS);
  const store = `s3://varmor-modeler/fleet?endpoint=${encodeURIComponent(`http://127.0.0.1:${port}`)}&region=us-east-1&pathStyle=true`;
  const controller = await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: controllerActivities({ store, kube }) });
  const running = controller.run();
  let peak = 0;
  const rss = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  try {
    const per = Math.ceil(nodes.length / opts.processes);
    for (let i = 0; i < nodes.length; i += per) {
      const home = await tempDir('sim-home');
      children.push(spawn(process.execPath, [CLI, 'worker', '--role', 'node', '--simulate', nodes.slice(i, i + per).join(',')], { env: { ...process.env, ...CREDENTIALS, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', VARMOR_MODELER_HOME: home }, stdio: 'ignore' }));
    }
    const started = Date.now();
    const h = await startModel(env.client, { target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' }, duration: opts.duration, checkpointInterval: opts.checkpointInterval, resolveInterval: opts.resolveInterval, store, searchAttributes: false }, {});
    const collectorsRunningMs = await until(
      'every collector running',
      async () => {
        const all = Object.values((await liveStatus(h)).nodes);
        return all.length === nodes.length && all.every((n) => n.state === 'running' && n.attempt !== undefined) ? Date.now() - started : undefined;
      },
      600_000,
    );
    // The status query's latency while the collectors run.
    const statusQueryMs: number[] = [];
    const windowEnd = (await h.query(statusQuery)).window.end;
    while (Date.now() < windowEnd - 1000) {
      const t0 = performance.now();
      await h.query(statusQuery);
      statusQueryMs.push(performance.now() - t0);
      await sleep(500);
    }
    const result = (await h.result()) as ModelingResult;
    const mergeMs = Date.now() - windowEnd;
    const historyLength = Number((await h.describe()).historyLength);
    const model = (await kube.custom.getNamespacedCustomObject({ group: MODEL_GROUP, version: MODEL_VERSION, plural: MODEL_PLURAL, namespace: 'shop', name: 'varmor-shop-web' })) as ArmorProfileModel;
    return { nodes, podsRunningMs, collectorsRunningMs, mergeMs, controllerPeakRssBytes: peak, statusQueryMs, historyLength, result, model, modelBytes: Buffer.byteLength(JSON.stringify(model)) };
  } finally {
    clearInterval(rss);
    for (const c of children) c.kill('SIGTERM');
    controller.shutdown();
    await running;
  }
}
