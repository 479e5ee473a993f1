/**
 * The chart's all-in-one mode against the real kube-apiserver: `helm template` with nothing but
 * allInOne.enabled=true renders, every manifest is accepted by the API server (its validation,
 * the controllers then making Pods of the workloads), and everything the workloads reference
 * (ServiceAccounts, PVCs, Secrets, ConfigMaps, the Services their addresses name, the image) is
 * something the chart itself creates.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { connect, type Kube } from '../../k8s/client.js';
import { chartManifests, ControlPlane, controlPlaneMissing } from './control-plane.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped YAML */
type Manifest = any;
const NS = 'varmor';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the chart\'s all-in-one mode on a real kube-apiserver', { skip: controlPlaneMissing() }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  let yaml: string;
  let ms: Manifest[];
  const named = (kind: string) => new Set(ms.filter((m) => m.kind === kind).map((m) => m.metadata.name as string));

  before(async () => {
    cp = await ControlPlane.start();
    kube = connect({ kubeconfig: cp.kubeconfig, retry: { attempts: 10, baseMs: 200 } });
    yaml = await chartManifests(['--set', 'store.url=', '--set', 'allInOne.enabled=true']);
    ms = parseAllDocuments(yaml)
      .map((d) => d.toJS() as Manifest)
      .filter(Boolean);
  });
  after(() => cp?.stop());

  test('one setting renders a complete install: Temporal and the object store come with it', () => {
    for (const [kind, name] of [['Deployment', 'vm-varmor-modeler-temporal'], ['Deployment', 'vm-varmor-modeler-store'], ['Service', 'vm-varmor-modeler-temporal'], ['Service', 'vm-varmor-modeler-store'], ['PersistentVolumeClaim', 'vm-varmor-modeler-temporal'], ['PersistentVolumeClaim', 'vm-varmor-modeler-store']]) {
      assert.ok(named(kind!).has(name!), `${kind} ${name}`);
    }
  });

  test('every manifest is accepted by the API server, and the controllers make pods of its workloads', async () => {
    await cp.kubectl(['create', 'namespace', NS]);
    await cp.apply(yaml, ['--namespace', NS]);
    const workloads = ms.filter((m) => ['Deployment', 'DaemonSet'].includes(m.kind));
    for (const w of workloads.filter((x) => x.kind === 'Deployment')) {
      let pods = 0;
      for (let i = 0; i < 100 && pods === 0; i++) {
        const sel = Object.entries(w.spec.selector.matchLabels).map(([k, v]) => `${k}=${String(v)}`).join(',');
        pods = (await kube.core.listNamespacedPod({ namespace: NS, labelSelector: sel })).items.length;
        if (pods === 0) await sleep(200);
      }
      assert.ok(pods > 0, `no pod of Deployment ${w.metadata.name}: the API server took it, the controllers did not`);
    }
  });

  test('the workloads reference only what the chart creates', () => {
    const services = new Map(ms.filter((m) => m.kind === 'Service').map((s) => [s.metadata.name as string, s]));
    const workloads = ms.filter((m) => ['Deployment', 'DaemonSet'].includes(m.kind));
    const images = new Set<string>();
    for (const w of workloads) {
      const spec = w.spec.template.spec;
      const where = `${w.kind} ${w.metadata.name}`;
      assert.ok(named('ServiceAccount').has(spec.serviceAccountName), `${where}: ServiceAccount ${spec.serviceAccountName}`);
      for (const v of spec.volumes ?? []) {
        if (v.persistentVolumeClaim) assert.ok(named('PersistentVolumeClaim').has(v.persistentVolumeClaim.claimName), `${where}: PVC ${v.persistentVolumeClaim.claimName}`);
        if (v.secret) assert.ok(named('Secret').has(v.secret.secretName), `${where}: Secret ${v.secret.secretName}`);
        if (v.configMap) assert.ok(named('ConfigMap').has(v.configMap.name), `${where}: ConfigMap ${v.configMap.name}`);
      }
      for (const c of spec.containers) {
        images.add(c.image);
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
          if (ref) assert.ok(named(e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap').has(ref.name), `${where}: ${e.name} from ${ref.name}`);
          // Addresses: host:port for Temporal, the store's endpoint inside its URL.
          const addr = e.name === 'TEMPORAL_ADDRESS' ? String(e.value) : e.name === 'VARMOR_MODELER_STORE' ? new URL(String(e.value)).searchParams.get('endpoint')?.replace(/^http:\/\//, '') : undefined;
          if (addr === undefined) continue;
          const [host, port] = addr.split(':');
          const svc = services.get(host!);
          assert.ok(svc, `${where}: ${e.name} names ${host}, which the chart does not create`);
          assert.ok(svc.spec.ports.some((p: Manifest) => String(p.port) === port), `${where}: ${e.name} port ${port} not on Service ${host}`);
        }
      }
    }
    assert.deepEqual([...images], ['varmor-modeler:0.1.0'], 'one image: the chart\'s');
    // Each Service selects the pods of a workload the chart runs.
    for (const [name, svc] of services) {
      const hit = workloads.some((w) => Object.entries(svc.spec.selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v));
      assert.ok(hit, `Service ${name} selects no pod of the chart's`);
    }
  });
});
