import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { resolveCommand } from '../../cli/targets.js';
import { connect, type Kube } from '../../k8s/client.js';
import { kubernetesResolver, resolveTarget } from '../../k8s/resolve.js';
import { parseK8sSpec } from '../../core/target-spec.js';
import { tempDir } from '../helpers.js';
import { FakeApiServer } from './fake-apiserver.js';
import { containerId, cronJob, deployment, job, pod, replicaSet, statefulSet } from './objects.js';

const FAST = { attempts: 4, baseMs: 1 };

describe('k8s target resolution against a fake API server', () => {
  let server: FakeApiServer;
  let kubeconfig: string;
  let dir: string;
  let kube: Kube;

  before(async () => {
    dir = await tempDir('k8s-resolve');
  });
  beforeEach(async () => {
    await server?.close();
    server = await new FakeApiServer().start();
    kubeconfig = await server.kubeconfig(dir);
    kube = connect({ kubeconfig, retry: FAST });
  });
  after(() => server?.close());

  const resolve = (spec: string) => resolveTarget(kube, parseK8sSpec(spec));

  test('a Deployment scaled to 3 replicas on 2 nodes: 3 pods, both nodes, IDs without the runtime scheme', async () => {
    const web = deployment('shop', 'web', { app: 'web' });
    const rs = replicaSet('shop', 'web-5d9f', { app: 'web' }, web);
    server.add(web, rs, pod('shop', 'web-5d9f-a', { owner: rs, node: 'node-a' }), pod('shop', 'web-5d9f-b', { owner: rs, node: 'node-b' }), pod('shop', 'web-5d9f-c', { owner: rs, node: 'node-a' }));
    const r = await resolve('k8s:shop/deployment/web');
    assert.deepEqual(r.workload, { kind: 'Deployment', name: 'web', uid: web.metadata.uid });
    assert.deepEqual(r.pods.map((p) => [p.name, p.node]), [['web-5d9f-a', 'node-a'], ['web-5d9f-b', 'node-b'], ['web-5d9f-c', 'node-a']]);
    assert.deepEqual(r.nodes, ['node-a', 'node-b']);
    assert.deepEqual(r.pods[0]!.containers, [{ name: 'app', id: containerId('web-5d9f-a', 'app'), runtime: 'containerd', ready: true }]);
    assert.equal(r.target, 'k8s:shop/deployment/web');
    // The pod list is narrowed by the deployment's selector on the server, not fetched whole.
    assert.ok(server.requests.some((q) => q.path === '/api/v1/namespaces/shop/pods' && q.query.get('labelSelector') === 'app=web'));
  });

  test('the workflow\'s resolver: per node, the pods to trace by UID (their later containers are followed)', async () => {
    const web = deployment('shop', 'web', { app: 'web' });
    const rs = replicaSet('shop', 'web-1', { app: 'web' }, web);
    const a = pod('shop', 'a', { owner: rs, node: 'node-a', containers: ['app', 'envoy'] });
    const a2 = pod('shop', 'a2', { owner: rs, node: 'node-a' });
    const b = pod('shop', 'b', { owner: rs, node: 'node-b' });
    server.add(web, rs, a, a2, b);
    assert.deepEqual(await kubernetesResolver(kube)('k8s:shop/deployment/web'), {
      'node-a': { kind: 'pods', pods: [{ uid: a.metadata.uid }, { uid: a2.metadata.uid }] },
      'node-b': { kind: 'pods', pods: [{ uid: b.metadata.uid }] },
    });
  });

  test('the workflow\'s resolver with ?containers=: each pod with the IDs of the named containers only', async () => {
    const web = deployment('shop', 'web', { app: 'web' });
    const rs = replicaSet('shop', 'web-1', { app: 'web' }, web);
    const a = pod('shop', 'a', { owner: rs, node: 'node-a', containers: ['app', 'envoy'] });
    const b = pod('shop', 'b', { owner: rs, node: 'node-b', containers: ['app', 'envoy'] });
    server.add(web, rs, a, b);
    assert.deepEqual(await kubernetesResolver(kube)('k8s:shop/deployment/web?containers=envoy'), {
      'node-a': { kind: 'pods', pods: [{ uid: a.metadata.uid, containers: [containerId('a', 'envoy')] }] },
      'node-b': { kind: 'pods', pods: [{ uid: b.metadata.uid, containers: [containerId('b', 'envoy')] }] },
    });
  });

  test('a rolling update: pods of both ReplicaSets, not terminating ones, not look-alikes owned by someone else', async () => {
    const web = deployment('shop', 'web', { app: 'web' });
    const old = replicaSet('shop', 'web-old', { app: 'web' }, web);
    const cur = replicaSet('shop', 'web-new', { app: 'web' }, web);
    const stranger = replicaSet('shop', 'other', { app: 'web' });
    server.add(
      web,
      old,
      cur,
      stranger,
      pod('shop', 'web-old-1', { owner: old, node: 'node-a' }),
      pod('shop', 'web-old-2', { owner: old, node: 'node-c', terminating: true }),
      pod('shop', 'web-new-1', { owner: cur, node: 'node-b' }),
      pod('shop', 'other-1', { owner: stranger, node: 'node-d' }),
    );
    const r = await resolve('k8s:shop/deployment/web');
    assert.deepEqual(r.pods.map((p) => p.name), ['web-new-1', 'web-old-1']);
    assert.deepEqual(r.nodes, ['node-a', 'node-b']);
  });

  test('evicted and finished pods, pending pods and stopped containers are left out', async () => {
    const db = statefulSet('shop', 'db', { app: 'db' });
    server.add(
      db,
      pod('shop', 'db-0', { owner: db, phase: 'Failed', reason: 'Evicted', node: 'node-a' }),
      pod('shop', 'db-1', { owner: db, phase: 'Succeeded', node: 'node-a' }),
      pod('shop', 'db-2', { owner: db, node: 'node-b', containers: ['db', 'backup'], terminated: ['backup'] }),
    );
    const pending = pod('shop', 'db-3', { owner: db });
    delete (pending.spec as { nodeName?: string }).nodeName;
    server.add(pending);
    const r = await resolve('k8s:shop/statefulset/db');
    assert.deepEqual(r.pods.map((p) => [p.name, p.containers.map((c) => c.name)]), [['db-2', ['db']]]);
    assert.deepEqual(r.nodes, ['node-b']);
  });

  test('the container filter keeps the named containers; an unknown name is an error listing the real ones', async () => {
    const web = deployment('shop', 'web', { app: 'web' });
    const rs = replicaSet('shop', 'web-1', { app: 'web' }, web);
    server.add(web, rs, pod('shop', 'web-1-a', { owner: rs, containers: ['app', 'envoy', 'log'] }));
    const r = await resolve('k8s:shop/deployment/web?containers=envoy,log');
    assert.deepEqual(r.pods[0]!.containers.map((c) => c.name), ['envoy', 'log']);
    await assert.rejects(resolve('k8s:shop/deployment/web?containers=nginx'), /container "nginx" not in the pods of k8s:shop\/deployment\/web \(containers: app, envoy, log\)/);
  });

  test('a CronJob resolves through its Jobs to their running pods', async () => {
    const cj = cronJob('batch', 'report');
    const j1 = job('batch', 'report-1', cj);
    const j2 = job('batch', 'report-2', cj);
    const manual = job('batch', 'manual');
    server.add(
      cj,
      j1,
      j2,
      manual,
      pod('batch', 'report-1-x', { owner: j1, phase: 'Succeeded' }),
      pod('batch', 'report-2-x', { owner: j2, node: 'node-b' }),
      pod('batch', 'manual-x', { owner: manual, node: 'node-c' }),
    );
    const r = await resolve('k8s:batch/cronjob/report');
    assert.deepEqual(r.pods.map((p) => p.name), ['report-2-x']);
    assert.deepEqual(r.nodes, ['node-b']);
    assert.equal(r.workload?.kind, 'CronJob');
  });

  test('a bare pod and a label selector', async () => {
    server.add(pod('shop', 'debug', { labels: { app: 'tools', tier: 'ops' }, node: 'node-z' }), pod('shop', 'other', { labels: { app: 'web' } }));
    assert.deepEqual((await resolve('k8s:shop/pod/debug')).nodes, ['node-z']);
    const r = await resolve('k8s:shop/selector/app in (tools,x),tier=ops');
    assert.deepEqual(r.pods.map((p) => p.name), ['debug']);
    assert.equal(r.workload, undefined);
  });

  test('forbidden: the message names the object and the RBAC verb and resource it needs', async () => {
    server.add(deployment('shop', 'web', { app: 'web' }));
    server.fail({
      path: /\/pods$/,
      code: 403,
      reason: 'Forbidden',
      message: 'pods is forbidden: User "system:serviceaccount:varmor:modeler" cannot list resource "pods" in API group "" in the namespace "shop"',
    });
    await assert.rejects(resolve('k8s:shop/deployment/web'), {
      message: 'cannot list pods in namespace "shop": forbidden for user "system:serviceaccount:varmor:modeler" (needs RBAC verb "list" on "pods")',
    });
    server.fail({ path: /deployments\/web$/, code: 403, reason: 'Forbidden', message: 'forbidden' });
    await assert.rejects(resolve('k8s:shop/deployment/web'), { message: 'cannot get deployments "web" in namespace "shop": forbidden (needs RBAC verb "get" on "deployments" in API group "apps")' });
  });

  test('not found names the object', async () => {
    await assert.rejects(resolve('k8s:shop/deployment/web'), { message: 'deployments "web" in namespace "shop" not found' });
    await assert.rejects(resolve('k8s:shop/cronjob/nightly'), { message: 'cronjobs "nightly" in namespace "shop" not found' });
  });

  test('transient errors (5xx, 429, dropped connections) are retried, a bounded number of times', async () => {
    server.add(pod('shop', 'p', { labels: { app: 'a' } }));
    server.fail({ path: /\/pods$/, code: 503, reason: 'ServiceUnavailable', times: 1 });
    server.fail({ path: /\/pods$/, code: 'reset', times: 1 });
    server.fail({ path: /\/pods$/, code: 429, reason: 'TooManyRequests', times: 1 });
    const r = await resolve('k8s:shop/selector/app=a');
    assert.deepEqual(r.pods.map((p) => p.name), ['p']);
    assert.equal(server.requests.filter((q) => q.path === '/api/v1/namespaces/shop/pods').length, 4);

    server.fail({ path: /\/pods$/, code: 500, reason: 'InternalError', message: 'etcd leader changed', times: 10 });
    await assert.rejects(resolve('k8s:shop/selector/app=a'), { message: 'cannot list pods in namespace "shop": the API server answered 500: etcd leader changed' });
    assert.equal(server.requests.filter((q) => q.path === '/api/v1/namespaces/shop/pods').length, 4 + FAST.attempts);
  });

  test('expired credentials and an unreachable server say so', async () => {
    server.token = 'current';
    const stale = connect({ kubeconfig: await server.kubeconfig(dir, { token: 'expired', context: 'stale' }), retry: FAST });
    await assert.rejects(resolveTarget(stale, parseK8sSpec('k8s:shop/pod/x')), /rejected the credentials \(401 Unauthorized\).*expired/);
    const fresh = connect({ kubeconfig: await server.kubeconfig(dir, { token: 'current', context: 'fresh' }), retry: FAST });
    await assert.rejects(resolveTarget(fresh, parseK8sSpec('k8s:shop/pod/x')), /pods "x" in namespace "shop" not found/);

    const url = server.url;
    await server.close();
    await assert.rejects(resolve('k8s:shop/pod/x'), { message: `cannot get pods "x" in namespace "shop": the API server at ${url} is unreachable (ECONNREFUSED)` });
  });

  test('kubeconfig and context errors are clear', async () => {
    assert.throws(() => connect({ kubeconfig, context: 'prod' }), { message: 'context "prod" is not in the kubeconfig (contexts: fake)' });
    assert.throws(() => connect({ kubeconfig: `${dir}/missing` }), /cannot load the Kubernetes configuration: .*ENOENT/);
  });

  test('resolveCommand prints a table, or JSON', async () => {
    const web = deployment('shop', 'web', { app: 'web' });
    const rs = replicaSet('shop', 'web-1', { app: 'web' }, web);
    server.add(web, rs, pod('shop', 'web-1-a', { owner: rs, node: 'node-a', containers: ['app', 'sidecar'] }));
    const table = await resolveCommand('k8s:shop/deployment/web', { kubeconfig });
    const id = containerId('web-1-a', 'app');
    assert.match(table, /^Deployment shop\/web: 1 pod on 1 node\nPOD +NODE +CONTAINER +READY +RUNTIME ID\n-+ +-+ +-+ +-+ +-+\n/);
    assert.match(table, new RegExp(`web-1-a +node-a +app +yes +containerd://${id}\n`));
    const json = JSON.parse(await resolveCommand('k8s:shop/deployment/web?containers=app', { kubeconfig, json: true })) as { pods: { containers: { id: string }[] }[]; nodes: string[] };
    assert.deepEqual(json.nodes, ['node-a']);
    assert.deepEqual(json.pods[0]!.containers.map((c) => c.id), [id]);
    assert.equal(await resolveCommand('k8s:shop/selector/app=none', { kubeconfig }), 'k8s:shop/selector/app=none: no running containers\n');
  });
});
