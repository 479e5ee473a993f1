/**
 * Target resolution against the real kube-apiserver and kube-controller-manager: the workload
 * controllers make the ReplicaSets, Jobs and Pods with their real owner references and UIDs. No
 * kubelet runs, so the test does the kubelet's two writes itself: it binds each pod to a node
 * (pods/binding) and reports its containers running (pods/status), as a kubelet would.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Kube } from '../../k8s/client.js';
import { kubernetesResolver, resolveTarget } from '../../k8s/resolve.js';
import { parseK8sSpec } from '../../core/target-spec.js';
import { bindPod, ControlPlane, controlPlaneMissing, reportRunning } from './control-plane.js';

const NS = 'shop';
const NODES = ['node-a', 'node-b'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const template = (app: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'main', image: 'registry.example/app:1' }], terminationGracePeriodSeconds: 0 },
});

describe('targets resolve through the owner references the real controllers set', { skip: controlPlaneMissing() }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  let kubelet: ReturnType<typeof setInterval>;
  let placed = 0;

  /** The kubelet's part: every pod gets a node and running containers. */
  async function runPods(): Promise<void> {
    const pods = await kube.core.listNamespacedPod({ namespace: NS });
    for (const pod of pods.items) {
      const name = pod.metadata!.name!;
      if (pod.metadata?.deletionTimestamp) continue;
      if (!pod.spec?.nodeName) {
        await bindPod(kube, NS, name, NODES[placed++ % NODES.length]!).catch(() => {});
        continue;
      }
      if (pod.status?.phase === 'Running') continue;
      await reportRunning(kube, pod, () => `containerd://${randomBytes(32).toString('hex')}`).catch(() => {});
    }
  }

  /** Resolves the spec until `done` holds for it (the controllers and the kubelet take a moment). */
  async function resolveUntil(spec: string, done: (r: Awaited<ReturnType<typeof resolveTarget>>) => boolean, timeoutMs = 60_000) {
    const until = Date.now() + timeoutMs;
    let last;
    while (Date.now() < until) {
      last = await resolveTarget(kube, parseK8sSpec(spec));
      if (done(last)) return last;
      await sleep(300);
    }
    assert.fail(`${spec} never resolved as expected: ${JSON.stringify(last)}`);
  }

  before(async () => {
    cp = await ControlPlane.start();
    kube = connect({ kubeconfig: cp.kubeconfig, retry: { attempts: 30, baseMs: 200, maxMs: 1000 } });
    await cp.kubectl(['create', 'namespace', NS]);
    for (const node of NODES) await cp.apply(`apiVersion: v1\nkind: Node\nmetadata:\n  name: ${node}\n  labels: {kubernetes.io/hostname: ${node}}\n`);
    // The namespace's default ServiceAccount (made by the controller) must exist before pods can be.
    for (let i = 0; i < 100 && (await cp.kubectl(['get', 'serviceaccount', 'default', '-n', NS])).code !== 0; i++) await sleep(200);
    kubelet = setInterval(() => void runPods().catch(() => {}), 300);
  });
  after(async () => {
    clearInterval(kubelet);
    await cp?.stop();
  });

  test('Deployment: its pods through its ReplicaSet; a look-alike pod with the same labels but another owner never joins', async () => {
    await cp.kubectl(['create', 'deployment', 'web', '-n', NS, '--image=registry.example/web:1', '--replicas=2']);
    await cp.apply(`apiVersion: v1\nkind: Pod\nmetadata: {name: impostor, namespace: ${NS}, labels: {app: web}}\nspec: {containers: [{name: web, image: registry.example/web:1}]}\n`);
    const r = await resolveUntil('k8s:shop/deployment/web', (x) => x.pods.length === 2 && x.pods.every((p) => p.containers.length === 1));
    const pods = await kube.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' });
    const impostor = pods.items.find((p) => p.metadata!.name === 'impostor')!;
    assert.ok(impostor.status?.phase === 'Running' || impostor.spec?.nodeName, 'the look-alike runs too');
    assert.ok(!r.pods.some((p) => p.uid === impostor.metadata!.uid), 'the look-alike pod joined');
    const rs = (await kube.apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'app=web' })).items;
    assert.equal(rs.length, 1);
    for (const p of pods.items.filter((x) => x.metadata!.name !== 'impostor')) {
      assert.equal(p.metadata!.ownerReferences![0]!.uid, rs[0]!.metadata!.uid, 'owner reference set by the ReplicaSet controller');
      assert.ok(r.pods.some((x) => x.uid === p.metadata!.uid));
    }
    assert.equal(r.workload?.kind, 'Deployment');
  });

  test('a rollout during the window: the new ReplicaSet\'s pods are followed', async () => {
    const resolve = kubernetesResolver(kube);
    const before = await resolve('k8s:shop/deployment/web');
    const uidsBefore = new Set(Object.values(before).flatMap((t) => (t.kind === 'pods' ? t.pods.map((p) => p.uid) : [])));
    assert.equal(uidsBefore.size, 2);
    const set = await cp.kubectl(['set', 'image', 'deployment/web', '-n', NS, 'web=registry.example/web:2']);
    assert.equal(set.code, 0, set.stderr);
    const r = await resolveUntil('k8s:shop/deployment/web', (x) => x.pods.some((p) => !uidsBefore.has(p.uid)) && x.pods.every((p) => p.containers.length === 1));
    const rs = (await kube.apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'app=web' })).items;
    assert.equal(rs.length, 2, 'the rollout made a second ReplicaSet');
    const newRs = rs.find((x) => x.spec!.template!.spec!.containers[0]!.image === 'registry.example/web:2')!;
    const newPods = (await kube.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })).items.filter((p) => p.metadata!.ownerReferences?.[0]?.uid === newRs.metadata!.uid);
    assert.ok(newPods.length > 0);
    for (const p of newPods.filter((x) => x.status?.phase === 'Running')) assert.ok(r.pods.some((x) => x.uid === p.metadata!.uid), `new pod ${p.metadata!.name} not followed`);
  });

  test('StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and a bare Pod resolve to the pods they control', async () => {
    await cp.apply(
      [
        { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: NS }, spec: { serviceName: 'db', replicas: 2, selector: { matchLabels: { app: 'db' } }, template: template('db') } },
        { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: NS }, spec: { selector: { matchLabels: { app: 'agent' } }, template: template('agent') } },
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'cache', namespace: NS }, spec: { replicas: 1, selector: { matchLabels: { app: 'cache' } }, template: template('cache') } },
        { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: NS }, spec: { template: { ...template('migrate'), spec: { ...template('migrate').spec, restartPolicy: 'Never' } } } },
        { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'report', namespace: NS }, spec: { schedule: '0 0 1 1 *', jobTemplate: { spec: { template: { ...template('report'), spec: { ...template('report').spec, restartPolicy: 'Never' } } } } } },
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', namespace: NS, labels: { app: 'solo' } }, spec: template('solo').spec },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n---\n'),
    );
    // A CronJob's run, made now instead of at its schedule: its Job is owned by the CronJob.
    const run = await cp.kubectl(['create', 'job', 'report-now', '-n', NS, '--from=cronjob/report']);
    assert.equal(run.code, 0, run.stderr);
    const expect: [string, string, number][] = [
      ['k8s:shop/statefulset/db', 'StatefulSet', 2],
      ['k8s:shop/daemonset/agent', 'DaemonSet', NODES.length],
      ['k8s:shop/replicaset/cache', 'ReplicaSet', 1],
      ['k8s:shop/job/migrate', 'Job', 1],
      ['k8s:shop/cronjob/report', 'CronJob', 1],
      ['k8s:shop/pod/solo', 'Pod', 1],
    ];
    for (const [spec, kind, n] of expect) {
      const r = await resolveUntil(spec, (x) => x.pods.length === n && x.pods.every((p) => p.containers.length === 1));
      assert.equal(r.workload?.kind, kind);
      const names = r.pods.map((p) => p.name);
      const app = spec.split('/').at(-1)!;
      assert.ok(names.every((name) => name.startsWith(app)), `${spec}: ${names.join(' ')}`);
    }
    const ds = await resolveTarget(kube, parseK8sSpec('k8s:shop/daemonset/agent'));
    assert.deepEqual(ds.nodes, NODES, 'one DaemonSet pod per node, placed by the DaemonSet controller');
  });

  test('resolution survives the API server restarting during a window', async () => {
    const resolve = kubernetesResolver(kube);
    const before = await resolve('k8s:shop/statefulset/db');
    const restarting = cp.restartApiserver(2000);
    await sleep(300);
    const during = await resolve('k8s:shop/statefulset/db'); // retried until the server is back
    await restarting;
    assert.deepEqual(during, before);
    assert.deepEqual(await resolve('k8s:shop/statefulset/db'), before);
  });
});
