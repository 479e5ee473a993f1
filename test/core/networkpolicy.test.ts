import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BehaviorSet, Item } from '../../core/behavior.js';
import { networkPolicy, type NetworkInput } from '../../core/networkpolicy.js';
import { networkAddresses } from '../../k8s/peers.js';

const it = (sets?: Record<string, string[]>): Item => ({ first: 0, last: 0, n: { r: 1 }, ...(sets ? { sets } : {}) });
const META = { name: 'varmor-shop-web', namespace: 'shop' };
const ns = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });

// A web front end: it asks the cluster DNS, calls a Service and a pod directly, an outside API,
// listens on 8080 (and on loopback for metrics), and was called by the ingress controller.
const behaviors: BehaviorSet = {
  egresses: {
    'inet|10.96.0.10|53': it({ protocols: ['udp'] }),
    'inet|10.96.4.2|80': it({ protocols: ['tcp'] }),
    'inet|10.244.1.7|5432': it({ protocols: ['tcp'] }),
    'inet|203.0.113.9|443': it({ protocols: ['tcp'] }),
    'inet6|2001:db8::1|443': it({ protocols: ['tcp'] }),
    'inet|127.0.0.1|9000': it({ protocols: ['tcp'] }),
    'unix|/run/x.sock|0': it(),
  },
  binds: {
    'inet6|::|8080': it({ ops: ['bind', 'listen'], protocols: ['tcp'] }),
    'inet|127.0.0.1|9090': it({ ops: ['bind', 'listen'], protocols: ['tcp'] }),
    'inet|0.0.0.0|5353': it({ ops: ['bind'], protocols: ['udp'] }),
  },
  ingresses: { 'inet|10.244.2.3|8080': it({ protocols: ['tcp'] }), 'inet|198.51.100.4|8080': it({ protocols: ['tcp'] }) },
};

const input: NetworkInput = {
  podSelector: { matchLabels: { app: 'web' } },
  peers: {
    // CoreDNS carries many labels; only k8s-app selects it (Inspektor Gadget's advisor copied them all and broke DNS)
    '10.96.0.10': { kind: 'dns', namespace: 'kube-system', name: 'kube-dns', labels: { 'k8s-app': 'kube-dns' }, ports: [{ port: 53, protocol: 'UDP', targetPort: 53 }, { port: 53, protocol: 'TCP', targetPort: 53 }, { port: 9153, protocol: 'TCP', targetPort: 9153 }] },
    '10.96.4.2': { kind: 'service', namespace: 'shop', name: 'cart', selector: { app: 'cart' }, ports: [{ port: 80, protocol: 'TCP', targetPort: 'http' }] },
    '10.244.1.7': { kind: 'pod', namespace: 'db', name: 'pg-0', labels: { app: 'pg' } },
    '10.244.2.3': { kind: 'pod', namespace: 'ingress', name: 'ingress-nginx-abc', labels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
  },
};

test('NetworkPolicy: egress to the DNS by k8s-app only, a Service on its target port, a pod, outside addresses as ipBlocks', () => {
  const { policy } = networkPolicy(behaviors, input, META);
  assert.deepEqual(policy.metadata, META);
  assert.deepEqual(policy.spec.podSelector, { matchLabels: { app: 'web' } });
  assert.deepEqual(policy.spec.policyTypes, ['Ingress', 'Egress']);
  const egress = policy.spec.egress;
  const find = (peer: object) => egress.find((r) => r.to?.some((t) => JSON.stringify(t) === JSON.stringify(peer)));
  assert.deepEqual(find({ namespaceSelector: ns('kube-system'), podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } })?.ports, [{ protocol: 'TCP', port: 53 }, { protocol: 'UDP', port: 53 }], 'DNS over UDP and TCP, the metrics port left out');
  assert.deepEqual(find({ namespaceSelector: ns('shop'), podSelector: { matchLabels: { app: 'cart' } } })?.ports, [{ protocol: 'TCP', port: 'http' }], 'the Service\'s target port: NetworkPolicy sees traffic after the Service');
  assert.deepEqual(find({ namespaceSelector: ns('db'), podSelector: { matchLabels: { app: 'pg' } } })?.ports, [{ protocol: 'TCP', port: 5432 }]);
  // Both outside addresses on 443: one rule with both blocks
  const outside = egress.find((r) => r.to?.some((t) => 'ipBlock' in t));
  assert.deepEqual(outside, { to: [{ ipBlock: { cidr: '2001:db8::1/128' } }, { ipBlock: { cidr: '203.0.113.9/32' } }], ports: [{ protocol: 'TCP', port: 443 }] });
  assert.equal(egress.length, 4);
  assert.ok(!JSON.stringify(egress).includes('127.0.0.1') && !JSON.stringify(egress).includes('9000'), 'loopback is not in the policy');
});

test('NetworkPolicy: ingress on the ports listened on, from the peers accepted; a port with none recorded is open; loopback listeners left out', () => {
  const { policy, explain } = networkPolicy(behaviors, input, META);
  assert.deepEqual(policy.spec.ingress, [
    { ports: [{ protocol: 'UDP', port: 5353 }] },
    { from: [{ ipBlock: { cidr: '198.51.100.4/32' } }, { namespaceSelector: ns('ingress'), podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } }], ports: [{ protocol: 'TCP', port: 8080 }] },
  ]);
  assert.deepEqual(explain.skipped.map((s) => s.key), ['inet|127.0.0.1|9000', 'inet|127.0.0.1|9090']);
  assert.ok(explain.egress.some((e) => e.to === 'pods k8s-app=kube-dns in kube-system' && e.seen[0] === '10.96.0.10:53 (Service kube-system/kube-dns)'));
});

test('NetworkPolicy: a Service port the Service does not define is reported, not guessed; an unrecorded protocol stays open to TCP and UDP', () => {
  const { policy, explain } = networkPolicy({ egresses: { 'inet|10.96.4.2|8443': it({ protocols: ['tcp'] }), 'inet|192.0.2.1|7000': it() } }, input, META);
  assert.match(explain.skipped[0]!.why, /Service shop\/cart has no port 8443/);
  assert.deepEqual(policy.spec.egress, [{ to: [{ ipBlock: { cidr: '192.0.2.1/32' } }], ports: [{ protocol: 'TCP', port: 7000 }, { protocol: 'UDP', port: 7000 }] }]);
});

test('NetworkPolicy: nothing seen is nothing allowed', () => {
  const { policy } = networkPolicy({}, { podSelector: { matchLabels: { app: 'x' } }, peers: {} }, META);
  assert.deepEqual(policy.spec.ingress, []);
  assert.deepEqual(policy.spec.egress, []);
});

test('NetworkPolicy: a server listening since before the window is seen only accepting: its port comes from the connections accepted', () => {
  const { policy } = networkPolicy({ ingresses: { 'inet|10.244.2.3|8080': it({ protocols: ['tcp'] }) } }, input, META);
  assert.deepEqual(policy.spec.ingress, [{ from: [{ namespaceSelector: ns('ingress'), podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }]);
});

test('NetworkPolicy: an address from the store that is not an IP literal is left out, said in the report, never made a CIDR', () => {
  const forged = 'inet|10.0.0.1,metadata.name=x|80';
  const { policy, explain } = networkPolicy({ egresses: { [forged]: it({ protocols: ['tcp'] }) }, ingresses: { 'inet6|zz::1|8080': it({ protocols: ['tcp'] }) } }, input, META);
  assert.deepEqual(policy.spec.egress, []);
  assert.deepEqual(policy.spec.ingress, []);
  assert.deepEqual(explain.skipped, [{ key: forged, why: 'not an IP address' }, { key: 'inet6|zz::1|8080', why: 'not an IP address' }]);
  assert.deepEqual(networkAddresses({ egresses: { [forged]: it(), 'inet|10.0.0.2|80': it(), 'inet6|2001:db8::1|80': it(), 'inet6|::ffff:10.0.0.3|80': it() } }), ['10.0.0.2', '2001:db8::1', '::ffff:10.0.0.3']);
});
