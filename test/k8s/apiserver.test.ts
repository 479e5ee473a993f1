/**
 * The ArmorProfileModel against a real kube-apiserver (built from k8s.io/kubernetes, etcd behind
 * it) with the chart's CRD installed, which is vArmor's published CRD: its schema validation, the
 * status subresource, the printer columns kubectl shows, and the size limit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Kube } from '../../k8s/client.js';
import { MODEL_GROUP, MODEL_PLURAL, MODEL_VERSION } from '../../k8s/crd.js';
import { translate } from '../../k8s/errors.js';
import { STORAGE_ANNOTATION, writeModel } from '../../k8s/model-resource.js';
import { CALLS } from '../../k8s/rbac.js';
import { chartManifests, ControlPlane, controlPlaneMissing } from './control-plane.js';
import { everyFieldModel } from './model-fixture.js';

const skip = controlPlaneMissing();

/** The every-field model under another name, with `files` more file rules (about 80 bytes each). */
function modelWithFiles(name: string, files: number) {
  const m = everyFieldModel();
  m.metadata.name = name;
  for (let i = 0; i < files; i++) m.data.dynamicResult.appArmor!.files!.push({ path: `/srv/www/assets/${'x'.repeat(60)}-${i}.js`, permissions: ['r'] });
  return m;
}

describe('ArmorProfileModel on a real kube-apiserver with the chart\'s CRD (vArmor\'s)', { skip }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  const modelOf = (name: string) => kube.custom.getNamespacedCustomObject({ group: MODEL_GROUP, version: MODEL_VERSION, plural: MODEL_PLURAL, namespace: 'shop', name });

  before(async () => {
    cp = await ControlPlane.start({ controllers: false });
    kube = connect({ kubeconfig: cp.kubeconfig });
    await cp.apply(await chartManifests(['--show-only', 'templates/crd.yaml']));
    const est = await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/armorprofilemodels.crd.varmor.org']);
    assert.equal(est.code, 0, est.stderr);
    await cp.kubectl(['create', 'namespace', 'shop']);
  });
  after(() => cp?.stop());

  test('a model with every field is created, then updated, its status written through the status subresource; nothing is pruned', async () => {
    const model = everyFieldModel();
    const first = await writeModel(kube, model);
    assert.equal(first.created, true);
    assert.equal(first.crd.ours, true);
    assert.equal(first.crd.statusSubresource, true);
    const stored = (await modelOf(model.metadata.name)) as typeof model & { metadata: { generation: number } };
    assert.deepEqual(stored.data, JSON.parse(JSON.stringify(model.data)), 'the API server kept every field of data as sent');
    assert.deepEqual(stored.status, model.status, 'status went through /status');

    const more = everyFieldModel();
    more.data.dynamicResult.seccomp!.syscalls.push('io_uring_setup');
    more.status.completedNumber = 2;
    const second = await writeModel(kube, more);
    assert.equal(second.created, false);
    const updated = (await modelOf(model.metadata.name)) as typeof model & { metadata: { generation: number } };
    assert.ok(updated.data.dynamicResult.seccomp!.syscalls.includes('io_uring_setup'));
    assert.equal(updated.status.completedNumber, 2);
    assert.equal(updated.metadata.generation, 2, 'the status write did not bump the generation: it went through the subresource');
  });

  test('kubectl get armorprofilemodels shows vArmor\'s printer columns', async () => {
    await writeModel(kube, everyFieldModel());
    const r = await cp.kubectl(['get', 'armorprofilemodels', '-n', 'shop']);
    assert.equal(r.code, 0, r.stderr);
    const [header, row] = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    assert.deepEqual(header, ['NAME', 'STORAGE-TYPE', 'DESIRED', 'COMPLETED', 'READY', 'AGE']);
    assert.deepEqual(row!.slice(0, 5), ['varmor-shop-web', 'CRDInternal', '2', '1', 'true']);
  });

  test('the schema is enforced for real: the shapes the demo once had are refused with 422', async () => {
    const bad = everyFieldModel() as unknown as { metadata: { name: string }; data: { dynamicResult: { appArmor: { networks: { egresses: unknown } } }; profile: { bpf?: unknown } } };
    bad.metadata.name = 'varmor-shop-bad';
    bad.data.dynamicResult.appArmor.networks.egresses = ['10.0.0.7'];
    bad.data.profile.bpf = '';
    await assert.rejects(
      kube.custom.createNamespacedCustomObject({ group: MODEL_GROUP, version: MODEL_VERSION, plural: MODEL_PLURAL, namespace: 'shop', body: bad }),
      (err: { code?: number; body?: string }) => {
        assert.equal(err.code, 422, String(err.body));
        const causes = (JSON.parse(String(err.body)) as { details: { causes: { reason: string; field: string }[] } }).details.causes;
        assert.deepEqual(causes.map((c) => `${c.field} ${c.reason}`).sort(), ['data.dynamicResult.appArmor.networks.egresses[0] FieldValueTypeInvalid', 'data.profile.bpf FieldValueTypeInvalid']);
        return true;
      },
    );
  });

  test('a model under the API server\'s 3 MiB but over etcd\'s 1.5 MiB: etcd refuses it, the writer stores it by reference', async () => {
    const mid = modelWithFiles('varmor-shop-mid', 20_000);
    const bytes = Buffer.byteLength(JSON.stringify(mid));
    assert.ok(bytes > 1.5 * 1024 * 1024 && bytes < 3 * 1024 * 1024, `${bytes} bytes`);
    const w = await writeModel(kube, mid, { storage: { url: 's3://models/prod', key: 'runs/shop/web/r2/outputs/armorprofilemodel.yaml' } });
    assert.equal(w.storageType, 'LocalDisk', 'the size check let it through; etcd\'s answer made the writer fall back');
    const stored = (await modelOf('varmor-shop-mid')) as { storageType: string; data: { dynamicResult: object } };
    assert.equal(stored.storageType, 'LocalDisk');
    assert.deepEqual(stored.data.dynamicResult, {});
  });

  test('a model too large for one object: the API server refuses the inline form, the writer stores it by reference', async () => {
    const big = modelWithFiles('varmor-shop-big', 40_000);
    const bytes = Buffer.byteLength(JSON.stringify(big));
    assert.ok(bytes > 3 * 1024 * 1024, `${bytes} bytes`);
    // The API server answers 413 once it has read its limit and closes the connection: a client
    // still sending the body may see the reset (or a broken pipe) before the answer.
    await assert.rejects(
      kube.custom.createNamespacedCustomObject({ group: MODEL_GROUP, version: MODEL_VERSION, plural: MODEL_PLURAL, namespace: 'shop', body: big }),
      (err: { code?: number | string; body?: string; message?: string }) => {
        const refused = err.code === 413 || /too large/i.test(String(err.body));
        const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE' || /socket hang up/i.test(String(err.message));
        assert.ok(refused || reset, `inline form: ${err.code} ${String(err.body ?? err.message).slice(0, 300)}`);
        assert.equal(translate(err, { perm: CALLS.createModel, namespace: 'shop', name: big.metadata.name, bodyBytes: bytes }, kube.server).reason, 'TooLarge', `the writer takes ${err.code} for the refusal`);
        return true;
      },
    );
    const storage = { url: 's3://models/prod', key: 'runs/shop/web/r1/outputs/armorprofilemodel.yaml' };
    const w = await writeModel(kube, big, { storage, maxBytes: Infinity });
    assert.equal(w.storageType, 'LocalDisk');
    const stored = (await modelOf('varmor-shop-big')) as { storageType: string; metadata: { annotations: Record<string, string> }; data: { dynamicResult: object; profile: { name: string } } };
    assert.equal(stored.storageType, 'LocalDisk');
    assert.equal(stored.metadata.annotations[STORAGE_ANNOTATION], `${storage.url}#${storage.key}`);
    assert.deepEqual(stored.data.dynamicResult, {});
    assert.equal(stored.data.profile.name, 'varmor-shop-web');
  });
});
