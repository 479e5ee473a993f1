/**
 * What we emit for other APIs, created on a real kube-apiserver with server-side dry-run and strict
 * field validation: the Security Profiles Operator's v1 SeccompProfile and AppArmorProfile under
 * SPO's published CRDs (fixtures/spo, version named there), and the NetworkPolicy, its addresses
 * resolved through that API server (k8s/peers.ts) and rendered by kubectl.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildOutputs } from '../../core/outputs.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { connect, type Kube } from '../../k8s/client.js';
import { resolveNetwork } from '../../k8s/peers.js';
import { parseK8sSpec } from '../../core/target-spec.js';
import { ControlPlane, controlPlaneMissing } from './control-plane.js';

const skip = controlPlaneMissing();
const SPO = join(PACKAGE_ROOT, 'test', 'k8s', 'fixtures', 'spo');
const T0 = Date.UTC(2026, 0, 1);
const it = (sets?: Record<string, string[]>): Item => ({ first: T0, last: T0, n: { 'n1/c/0': 1 }, ...(sets ? { sets } : {}) });

/** A model with something in every category SPO's resources express. */
const behaviors: BehaviorSet = {
  executions: { '/usr/sbin/nginx': it() },
  files: { '/etc/nginx/nginx.conf': it({ perms: ['read'] }), '/var/log/nginx/access.log': it({ perms: ['write', 'append'] }), '/odd path/x': it({ perms: ['read'] }) },
  capabilities: { net_bind_service: it({ verdict: ['granted'] }), setuid: it({ verdict: ['granted'] }) },
  sockets: { 'inet/stream/tcp': it(), 'inet6/dgram/udp': it(), 'unix/stream/0': it() },
  syscalls: { read: it(), accept4: it(), epoll_wait: it(), socket: it() },
};

describe('outputs for other APIs on a real kube-apiserver', { skip }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  before(async () => {
    cp = await ControlPlane.start({ controllers: false });
    kube = connect({ kubeconfig: cp.kubeconfig });
    for (const crd of ['seccompprofile.yaml', 'apparmorprofile.yaml']) await cp.apply(readFileSync(join(SPO, crd), 'utf8'));
    for (const crd of ['seccompprofiles', 'apparmorprofiles']) {
      const est = await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd}.security-profiles-operator.x-k8s.io`]);
      assert.equal(est.code, 0, est.stderr);
    }
  });
  after(() => cp?.stop());

  /** `kubectl create --dry-run=server --validate=strict` of one emitted file; its stdout. */
  async function dryRun(name: string, content: string, output = 'name'): Promise<string> {
    const file = join(cp.dir, name);
    writeFileSync(file, content);
    const r = await cp.kubectl(['create', '--dry-run=server', '--validate=strict', '-f', file, '-o', output]);
    assert.equal(r.code, 0, `${name} refused: ${r.stderr}`);
    return r.stdout;
  }

  test('SPO v1: SeccompProfile and AppArmorProfile are accepted cluster-scoped, nothing pruned', async () => {
    for (const mode of ['enforce', 'complain'] as const) {
      const out = buildOutputs({ namespace: 'shop', name: 'web', target: 'shop/deployment/web', behaviors, counters: {}, arches: ['x86_64'], window: { start: T0, end: T0 + 60_000 }, nodes: [], batches: 1, timings: {}, mode });
      for (const file of ['spo-seccompprofile.yaml', 'spo-apparmorprofile.yaml']) {
        const sent = parseYaml(out.files.find((f) => f.name === file)!.content);
        assert.equal(sent.apiVersion, 'security-profiles-operator.x-k8s.io/v1');
        const back = JSON.parse(await dryRun(`${mode}-${file}`, JSON.stringify(sent), 'json'));
        assert.equal(back.metadata.name, 'varmor-shop-web');
        assert.equal(back.metadata.namespace, undefined, 'cluster-scoped');
        // The API server prunes what the schema does not declare: what comes back is what was sent.
        assert.deepEqual({ ...back.spec, state: undefined }, { ...sent.spec, state: undefined }, file);
        if (file === 'spo-apparmorprofile.yaml') assert.equal(back.spec.mode, mode === 'enforce' ? 'Enforce' : 'Complain');
      }
    }
  });

  test('NetworkPolicy: addresses resolved through the API (the DNS by k8s-app, a Service to its pods and target port, a pod by IP, the rest ipBlocks), accepted strictly, rendered by kubectl', async () => {
    // no controller manager here: the service accounts a pod needs are made by hand
    for (const ns of ['shop', 'db']) await cp.kubectl(['create', 'namespace', ns]);
    await cp.kubectl(['create', 'serviceaccount', 'default', '-n', 'db']);
    const dns = await kube.core.createNamespacedService({ namespace: 'kube-system', body: { metadata: { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } }, spec: { selector: { 'k8s-app': 'kube-dns' }, ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 }, { name: 'metrics', port: 9153, protocol: 'TCP' }] } } });
    const cart = await kube.core.createNamespacedService({ namespace: 'shop', body: { metadata: { name: 'cart' }, spec: { selector: { app: 'cart' }, ports: [{ port: 80, protocol: 'TCP', targetPort: 'http' }] } } });
    await kube.apps.createNamespacedDeployment({ namespace: 'shop', body: { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web' }] } } } } });
    // a StatefulSet's pod as a kubelet reports it: its per-pod labels must not end up in a selector
    const pg = await kube.core.createNamespacedPod({ namespace: 'db', body: { metadata: { name: 'pg-0', labels: { app: 'pg', 'controller-revision-hash': 'pg-5d8', 'statefulset.kubernetes.io/pod-name': 'pg-0' } }, spec: { containers: [{ name: 'pg', image: 'pg' }] } } });
    await kube.core.replaceNamespacedPodStatus({ namespace: 'db', name: 'pg-0', body: { ...pg, status: { phase: 'Running', podIP: '10.244.1.7', podIPs: [{ ip: '10.244.1.7' }] } } });
    const dnsIp = dns.spec!.clusterIP!;
    const cartIp = cart.spec!.clusterIP!;
    const set: BehaviorSet = {
      egresses: { [`inet|${dnsIp}|53`]: it({ protocols: ['udp'] }), [`inet|${cartIp}|80`]: it({ protocols: ['tcp'] }), 'inet|10.244.1.7|5432': it({ protocols: ['tcp'] }), 'inet|203.0.113.9|443': it({ protocols: ['tcp'] }) },
      binds: { 'inet|0.0.0.0|8080': it({ ops: ['bind', 'listen'], protocols: ['tcp'] }) },
      ingresses: { 'inet|10.244.1.7|8080': it({ protocols: ['tcp'] }) },
    };

    const network = await resolveNetwork(kube, parseK8sSpec('k8s:shop/deployment/web'), set);
    assert.deepEqual(network?.podSelector, { matchLabels: { app: 'web' } });
    assert.deepEqual(network!.peers[dnsIp], { kind: 'dns', namespace: 'kube-system', name: 'kube-dns', labels: { 'k8s-app': 'kube-dns' }, ports: [{ port: 53, protocol: 'UDP', targetPort: 53 }, { port: 53, protocol: 'TCP', targetPort: 53 }, { port: 9153, protocol: 'TCP', targetPort: 9153 }] });
    assert.equal(network!.peers[cartIp]?.kind, 'service');
    assert.deepEqual(network!.peers['10.244.1.7'], { kind: 'pod', namespace: 'db', name: 'pg-0', labels: { app: 'pg' } });
    assert.equal(network!.peers['203.0.113.9'], undefined);

    const out = buildOutputs({ namespace: 'shop', name: 'web', target: 'k8s:shop/deployment/web', behaviors: set, counters: {}, arches: ['x86_64'], window: { start: T0, end: T0 + 60_000 }, nodes: [], batches: 1, timings: {}, network });
    const content = out.files.find((f) => f.name === 'networkpolicy.yaml')!.content;
    const back = JSON.parse(await dryRun('networkpolicy.yaml', content, 'json'));
    assert.deepEqual(back.spec, parseYaml(content).spec, 'accepted as sent, nothing pruned or defaulted away');
    // created for real, as kubectl shows it to a person
    writeFileSync(join(cp.dir, 'np.yaml'), content);
    assert.equal((await cp.kubectl(['create', '-f', join(cp.dir, 'np.yaml')])).code, 0);
    const shown = await cp.kubectl(['describe', 'networkpolicy', '-n', 'shop', 'varmor-shop-web']);
    assert.equal(shown.code, 0, shown.stderr);
    for (const line of [/PodSelector:\s+app=web/, /To Port: 53\/UDP/, /To Port: 53\/TCP/, /PodSelector: k8s-app=kube-dns/, /To Port: http\/TCP/, /IPBlock:\s*\n?\s*CIDR: 203\.0\.113\.9\/32/, /Allowing ingress traffic:\s*\n\s*To Port: 8080\/TCP/, /PodSelector: app=pg/]) {
      assert.match(shown.stdout, line, shown.stdout);
    }
    assert.doesNotMatch(shown.stdout, /kubernetes\.io\/name=CoreDNS|controller-revision-hash/);
  });
});
