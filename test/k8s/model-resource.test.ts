import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { connect, type Kube } from '../../k8s/client.js';
import { prunedFields } from '../../k8s/crd.js';
import { translate } from '../../k8s/errors.js';
import { STORAGE_ANNOTATION, writeModel } from '../../k8s/model-resource.js';
import { CALLS } from '../../k8s/rbac.js';
import { tempDir } from '../helpers.js';
import { FakeApiServer, type K8sObject } from './fake-apiserver.js';
import { modelCrd } from './objects.js';
import { varmorSchema } from './varmor-schema.js';

const STORAGE = { url: 's3://models/prod', key: 'runs/shop/web/r1/outputs/armorprofilemodel.yaml' };

function model(files = 3): ArmorProfileModel {
  return {
    apiVersion: 'crd.varmor.org/v1beta1',
    kind: 'ArmorProfileModel',
    metadata: { name: 'varmor-shop-web', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'varmor-modeler' } },
    storageType: 'CRDInternal',
    data: {
      dynamicResult: {
        appArmor: { executions: ['/usr/sbin/nginx'], files: Array.from({ length: files }, (_, i) => ({ path: `/srv/www/page-${i}.html`, permissions: ['r'] })) },
        seccomp: { syscalls: ['read', 'write'] },
      },
      staticResult: {},
      profile: { name: 'varmor-shop-web', enforcer: 'AppArmorSeccomp', mode: 'enforce', appArmor: 'profile varmor-shop-web {}', seccomp: '{"defaultAction":"SCMP_ACT_ERRNO"}' },
    },
    status: {
      desiredNumber: 2,
      completedNumber: 1,
      ready: true,
      conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2025-01-01T00:00:00.000Z', reason: 'NodeLost', message: 'node-b stopped reporting', nodeName: 'node-b' }],
    },
  };
}

describe('ArmorProfileModel resource writer against a fake API server', () => {
  let server: FakeApiServer;
  let kube: Kube;
  let dir: string;
  const stored = () => server.get('crd.varmor.org', 'v1beta1', 'armorprofilemodels', 'shop', 'varmor-shop-web') as K8sObject & ArmorProfileModel;

  before(async () => {
    dir = await tempDir('k8s-model');
  });
  beforeEach(async () => {
    await server?.close();
    server = await new FakeApiServer().start();
    kube = connect({ kubeconfig: await server.kubeconfig(dir), retry: { attempts: 3, baseMs: 1 } });
  });
  after(() => server?.close());

  test('the CRD not installed is a clear error', async () => {
    await assert.rejects(writeModel(kube, model()), /the ArmorProfileModel CRD \(armorprofilemodels\.crd\.varmor\.org\) is not installed: install vArmor, or the varmor-modeler chart/);
  });

  test('create, then the status subresource gets desired/completed/ready and a condition per failed node', async () => {
    server.add(modelCrd());
    const w = await writeModel(kube, model());
    assert.equal(w.created, true);
    assert.equal(w.storageType, 'CRDInternal');
    assert.deepEqual(w.pruned, []);
    assert.equal(w.crd.ours, true);
    const o = stored();
    assert.deepEqual(o.status, model().status);
    assert.deepEqual(o.data, model().data);
    assert.equal(w.resourceVersion, o.metadata.resourceVersion);
    assert.deepEqual(
      server.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`),
      ['POST /apis/crd.varmor.org/v1beta1/namespaces/shop/armorprofilemodels', 'PUT /apis/crd.varmor.org/v1beta1/namespaces/shop/armorprofilemodels/varmor-shop-web/status'],
    );
  });

  test('an existing model is replaced at its resourceVersion; a conflict in between is retried; others\' labels stay', async () => {
    server.add(modelCrd());
    await writeModel(kube, model(1));
    const before = stored();
    server.add({ ...before, metadata: { ...before.metadata, labels: { ...before.metadata.labels, team: 'shop' } } });
    server.fail({ method: 'PUT', path: /armorprofilemodels\/varmor-shop-web$/, code: 409, reason: 'Conflict', message: 'the object has been modified' });
    server.fail({ method: 'PUT', path: /\/status$/, code: 409, reason: 'Conflict', message: 'the object has been modified' });
    const w = await writeModel(kube, model(5));
    assert.equal(w.created, false);
    const o = stored();
    assert.equal(o.data.dynamicResult.appArmor?.files?.length, 5);
    assert.equal(o.metadata.labels?.team, 'shop');
    assert.equal(o.metadata.uid, before.metadata.uid);
    assert.deepEqual(o.status, model().status);
  });

  test('too large for our limit: written by reference to the object-store copy, data minimised, profile kept', async () => {
    server.add(modelCrd());
    const big = model(5000);
    const w = await writeModel(kube, big, { storage: STORAGE, maxBytes: 100_000 });
    assert.equal(w.storageType, 'LocalDisk');
    const o = stored();
    assert.equal(o.storageType, 'LocalDisk');
    assert.deepEqual(o.storage, STORAGE);
    assert.deepEqual(o.data.dynamicResult, {});
    assert.deepEqual(o.data.profile, big.data.profile);
    assert.deepEqual(o.status, big.status);
    assert.equal(o.metadata.annotations?.[STORAGE_ANNOTATION], undefined, 'our CRD keeps the storage field: no annotation needed');

    // Small again: inline, and the reference is gone.
    await writeModel(kube, model(2), { storage: STORAGE, maxBytes: 100_000 });
    assert.equal(stored().storageType, 'CRDInternal');
    assert.equal(stored().storage, undefined);
  });

  test('too large by the API server\'s answer (413, or etcd\'s "request is too large"): by reference, not retried', async () => {
    server.add(modelCrd());
    server.maxBodyBytes = 50_000;
    const w = await writeModel(kube, model(3000), { storage: STORAGE });
    assert.equal(w.storageType, 'LocalDisk');
    assert.deepEqual(stored().storage, STORAGE);

    server.maxBodyBytes = 3 << 20;
    server.fail({ method: 'PUT', path: /varmor-shop-web$/, code: 500, reason: 'InternalError', message: 'etcdserver: request is too large' });
    const again = await writeModel(kube, model(3000), { storage: STORAGE });
    assert.equal(again.storageType, 'LocalDisk');
    assert.equal(server.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('varmor-shop-web')).length, 2, 'one refused, one by reference');
  });

  test('the connection dropped while sending a body over the API server\'s limit is its refusal: by reference, not retried; a reset on a small body is retried', async () => {
    server.add(modelCrd());
    const big = model(80_000);
    assert.ok(Buffer.byteLength(JSON.stringify(big)) > 3 * 1024 * 1024);
    const posts = () => server.requests.filter((r) => r.method === 'POST').length;
    server.fail({ method: 'POST', path: /armorprofilemodels$/, code: 'reset' });
    const w = await writeModel(kube, big, { storage: STORAGE, maxBytes: Infinity });
    assert.equal(w.storageType, 'LocalDisk');
    assert.deepEqual(stored().storage, STORAGE);
    assert.equal(posts(), 2, 'the inline form once (reset), then by reference');

    await server.close();
    server = await new FakeApiServer().start();
    kube = connect({ kubeconfig: await server.kubeconfig(dir), retry: { attempts: 3, baseMs: 1 } });
    server.add(modelCrd());
    server.fail({ method: 'POST', path: /armorprofilemodels$/, code: 'reset' });
    const small = await writeModel(kube, model(), { storage: STORAGE });
    assert.equal(small.storageType, 'CRDInternal', 'a reset on a small body is a network fault: the same body again');
    assert.equal(posts(), 2);
  });

  test('a reset or broken pipe is too large only for a body over the API server\'s limit (node-fetch\'s errors as they come)', () => {
    const call = (bodyBytes?: number) => ({ perm: CALLS.createModel, namespace: 'shop', name: 'varmor-shop-web', ...(bodyBytes === undefined ? {} : { bodyBytes }) });
    const fetchError = (code: string) => Object.assign(new Error(`request to https://127.0.0.1:6443/apis failed, reason: write ${code}`), { name: 'FetchError', code, errno: code });
    for (const code of ['ECONNRESET', 'EPIPE']) {
      assert.equal(translate(fetchError(code), call(4 << 20), 'https://127.0.0.1:6443').reason, 'TooLarge', code);
      assert.equal(translate(fetchError(code), call(2 << 20), 'https://127.0.0.1:6443').reason, 'Unreachable', code);
      assert.equal(translate(fetchError(code), call(), 'https://127.0.0.1:6443').reason, 'Unreachable', code);
    }
    assert.equal(translate(new Error('socket hang up'), call(4 << 20), 'https://127.0.0.1:6443').reason, 'TooLarge');
    assert.equal(translate(fetchError('ECONNREFUSED'), call(4 << 20), 'https://127.0.0.1:6443').reason, 'Unreachable', 'refused: it never got the body');
  });

  test('too large and no object-store copy: an error that says so', async () => {
    server.add(modelCrd());
    await assert.rejects(writeModel(kube, model(5000), { maxBytes: 10_000 }), /ArmorProfileModel "varmor-shop-web" in namespace "shop" is too large for the API server \(\d+ bytes at its smallest, limit 10000\) and no object-store copy was given/);
  });

  test('vArmor\'s CRD is reused as it is: nothing we write is pruned; the object-store reference goes into an annotation', async () => {
    server.add(modelCrd({ ours: false, schema: varmorSchema }));
    const w = await writeModel(kube, model(), { storage: STORAGE });
    assert.equal(w.crd.ours, false);
    assert.deepEqual(w.pruned, []);
    const big = await writeModel(kube, model(5000), { storage: STORAGE, maxBytes: 100_000 });
    assert.deepEqual(big.pruned, [], 'the `storage` field vArmor\'s schema would prune is not sent');
    assert.equal(stored().storageType, 'LocalDisk');
    assert.equal(stored().storage, undefined);
    assert.equal(stored().metadata.annotations?.[STORAGE_ANNOTATION], `${STORAGE.url}#${STORAGE.key}`);
  });

  test('a CRD without the status subresource gets the status with the object', async () => {
    server.add(modelCrd({ statusSubresource: false }));
    await writeModel(kube, model());
    assert.deepEqual(stored().status, model().status);
    assert.ok(!server.requests.some((r) => r.path.endsWith('/status')));
  });

  test('forbidden writes name the verb and resource, including the status subresource', async () => {
    server.add(modelCrd());
    server.fail({ path: /\/status$/, code: 403, reason: 'Forbidden', message: 'forbidden' });
    await assert.rejects(writeModel(kube, model()), {
      message: 'cannot update armorprofilemodels/status "varmor-shop-web" in namespace "shop": forbidden (needs RBAC verb "update" on "armorprofilemodels/status" in API group "crd.varmor.org")',
    });
  });

  test('prunedFields follows properties, items, maps and preserve-unknown-fields', () => {
    const schema = {
      properties: {
        a: { properties: { b: {} } },
        list: { items: { properties: { x: {} } } },
        map: { additionalProperties: { properties: { v: {} } } },
        free: { 'x-kubernetes-preserve-unknown-fields': true },
      },
    };
    const obj = { a: { b: 1, c: 2 }, list: [{ x: 1, y: 2 }, { z: 3 }], map: { k1: { v: 1, w: 2 } }, free: { anything: 1 }, extra: 1, metadata: { name: 'n' } };
    assert.deepEqual(prunedFields(schema, obj), ['a.c', 'list[].y', 'list[].z', 'map.k1.w', 'extra']);
    assert.deepEqual(prunedFields(undefined, obj), []);
  });
});
