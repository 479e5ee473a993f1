/**
 * The controller's modeling policy against the real kube-apiserver: namespaces allowed by name or
 * by their labels, excluded ones, host targets; a refused run fails before any collector is
 * scheduled, and an allowed one hands its node agent a grant the agent accepts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { controllerActivities, type CollectInput, type CollectResult } from '../../activities/index.js';
import { grantProblem } from '../../activities/grant.js';
import { startModel } from '../../cli/model.js';
import type { ModelingPolicy } from '../../core/policy.js';
import { connect, type Kube } from '../../k8s/client.js';
import type { Keyring } from '../../lib/keyring.js';
import { NODE_WORKER_OPTIONS, WORKFLOW_BUNDLE } from '../../workers/workers.js';
import type { ModelingInput } from '../../workflows/input.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../../workflows/queues.js';
import { tempDir, testKeyring } from '../helpers.js';
import { startDevServer } from '../workflows/env.js';
import { bindPod, chartManifests, ControlPlane, controlPlaneMissing, reportRunning } from './control-plane.js';

const NODE = 'node-a';
const POLICY: ModelingPolicy = { namespaces: ['shop'], namespaceSelector: 'varmor-modeler.io/model=true', excludeNamespaces: ['kube-system'], hostTargets: false };
const { EventType } = proto.temporal.api.enums.v1;

/** A workflow failure's messages down to the activity's own. */
function causes(err: Error): string {
  const messages: string[] = [];
  for (let e: { message?: string; cause?: unknown } | undefined = err; e; e = e.cause as typeof e) messages.push(e.message ?? '');
  return messages.join(' | ');
}

describe('the modeling policy on a real kube-apiserver', { skip: controlPlaneMissing() }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  let env: TestWorkflowEnvironment;
  let keyring: Keyring;
  let workers: Worker[] = [];
  let running: Promise<void>[] = [];
  const collected: { input: CollectInput; grantProblem: string | undefined }[] = [];

  /** A pod "web" in the namespace, bound to NODE and running, as a kubelet would report it. */
  async function runningPod(namespace: string): Promise<void> {
    // No controller-manager here: the namespace's default ServiceAccount, which pods need, is made by hand.
    await cp.kubectl(['create', 'serviceaccount', 'default', '-n', namespace]);
    await cp.apply(`apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ${namespace}}\nspec: {containers: [{name: main, image: registry.example/web:1}]}\n`);
    await bindPod(kube, namespace, 'web', NODE);
    await reportRunning(kube, await kube.core.readNamespacedPod({ namespace, name: 'web' }), () => 'containerd://' + 'ab'.repeat(32));
  }

  before(async () => {
    cp = await ControlPlane.start({ controllers: false });
    await cp.apply(await chartManifests(['--show-only', 'templates/crd.yaml']));
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/armorprofilemodels.crd.varmor.org']);
    kube = connect({ kubeconfig: cp.kubeconfig, retry: { attempts: 30, baseMs: 200, maxMs: 1000 } });
    await cp.apply(`apiVersion: v1\nkind: Node\nmetadata: {name: ${NODE}}\n`);
    for (const ns of ['shop', 'blog', 'payroll']) await cp.kubectl(['create', 'namespace', ns]);
    await cp.kubectl(['label', 'namespace', 'blog', 'varmor-modeler.io/model=true']);
    await cp.kubectl(['label', 'namespace', 'payroll', 'varmor-modeler.io/model=false']);
    for (const ns of ['shop', 'blog', 'payroll', 'kube-system']) await runningPod(ns);
    env = await startDevServer();
    keyring = await testKeyring();
    const store = pathToFileURL(await tempDir('store')).href;
    // The real controller activities under the policy; a node agent stand-in that checks the grant it gets.
    const collect = async (input: CollectInput): Promise<CollectResult> => {
      collected.push({ input, grantProblem: grantProblem(keyring, input.grant, `varmor-modeler/${input.run.split('/').slice(0, 2).join('/')}`, input.node, input.trace) });
      return { node: input.node, batches: 0, events: 0, reason: 'target-exited' };
    };
    workers = [
      await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: controllerActivities({ store, kube, keyring, policy: POLICY }) }),
      await Worker.create({ connection: env.nativeConnection, taskQueue: nodeQueue(NODE), activities: { collect, releaseTracer: async () => true }, ...NODE_WORKER_OPTIONS }),
    ];
    running = workers.map((w) => w.run());
  });
  after(async () => {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await env?.teardown();
    await cp?.stop();
  });

  const model = (target: ModelingInput['target'], name: string) => startModel(env.client, { target, name, duration: '30s', searchAttributes: false }, {});

  /** The run fails at once with this message, and no collector was ever scheduled. */
  async function refusedBeforeCollectors(target: ModelingInput['target'], name: string, message: RegExp): Promise<void> {
    const started = Date.now();
    const h = await model(target, name);
    await assert.rejects(h.result(), (err: Error) => {
      assert.match(causes(err), message);
      return true;
    });
    assert.ok(Date.now() - started < 20_000, 'refused at once, not after the window');
    const scheduled = ((await h.fetchHistory()).events ?? [])
      .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name!);
    assert.deepEqual(scheduled, ['resolveTarget'], 'only the resolution ran');
  }

  test('a namespace outside the policy, an excluded one and a host target fail at once, naming the setting, before any collector', async () => {
    await refusedBeforeCollectors({ kind: 'k8s', spec: 'k8s:payroll/pod/web' }, 'payroll-web', /namespace payroll may not be modelled: it is not in policy\.namespaces \(VARMOR_MODELER_ALLOW_NAMESPACES\) \[shop\], nor do its labels match policy\.namespaceSelector/);
    await refusedBeforeCollectors({ kind: 'k8s', spec: 'k8s:kube-system/pod/web' }, 'system-web', /namespace kube-system is excluded from modeling by policy\.excludeNamespaces/);
    await refusedBeforeCollectors({ kind: 'pid', node: NODE, pid: 1 }, 'kubelet', /pid targets trace the host's processes, not a pod's, and this controller does not allow them \(policy\.hostTargets/);
    await refusedBeforeCollectors({ kind: 'command', node: NODE, argv: ['/bin/sh'] }, 'shell', /command targets trace the host's processes/);
    assert.deepEqual(collected, []);
  });

  test('namespaces allowed by name and by their labels are modelled, and their node agent gets a grant that covers exactly its target', async () => {
    for (const ns of ['shop', 'blog']) {
      const h = await model({ kind: 'k8s', spec: `k8s:${ns}/pod/web` }, `${ns}-web`);
      await h.result().catch((err: Error) => assert.fail(causes(err)));
    }
    assert.deepEqual(collected.map((c) => [c.input.node, c.input.run.split('/')[0], c.input.trace.kind, c.grantProblem]), [
      [NODE, 'shop', 'pods', undefined],
      [NODE, 'blog', 'pods', undefined],
    ]);
  });
});
