/**
 * A networking.k8s.io/v1 NetworkPolicy for the workload, from the same model as its profiles:
 * egress to what it connected and sent to, ingress on the ports it listened on, from the peers it
 * accepted connections from. Addresses are resolved at merge time (k8s/peers.ts): a pod IP
 * becomes its workload's pods, a Service's cluster IP the pods its selector picks on their target
 * port (NetworkPolicy sees the traffic after the Service's translation), the cluster DNS its pods
 * by the `k8s-app` label alone, anything else an ipBlock. Loopback and unix sockets are not
 * network traffic a NetworkPolicy sees.
 */
import type { BehaviorSet, Item } from './behavior.js';
import { endpoint, isIpAddress, isLoopback } from './net.js';

export interface ServicePort {
  port: number;
  /** TCP, UDP or SCTP, as Kubernetes spells them. */
  protocol: string;
  targetPort: number | string;
}

/** What an address is in the cluster, as the API said at merge time. */
export type Peer =
  | { kind: 'pod'; namespace: string; name: string; labels: Record<string, string> }
  | { kind: 'service'; namespace: string; name: string; selector: Record<string, string>; ports: ServicePort[] }
  | { kind: 'dns'; namespace: string; name: string; labels: Record<string, string>; ports: ServicePort[] };

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface NetworkInput {
  /** The workload's pod selector, as its controller has it. */
  podSelector: LabelSelector;
  /** Addresses the API resolved; any other is outside the cluster, or gone since (an ipBlock). */
  peers: Record<string, Peer>;
}

interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string };
}

interface PolicyPort {
  protocol: string;
  port: number | string;
}

interface PolicyRule {
  peers?: PolicyPeer[];
  ports: PolicyPort[];
}

export interface NetworkExplain {
  /** Each rule as a sentence's parts: who, on which ports, and the addresses seen behind it. */
  egress: { to: string; ports: string[]; seen: string[] }[];
  ingress: { from: string; ports: string[]; seen: string[] }[];
  /** Behaviors left out of the policy, and why. */
  skipped: { key: string; why: string }[];
}

const PROTOCOLS: Record<string, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

/** The item's IP protocols as Kubernetes names them; unknown (not recorded) stays open to TCP and UDP. */
function protocolsOf(item: Item): string[] {
  const recorded = (item.sets?.protocols ?? []).map((p) => PROTOCOLS[p]).filter((p): p is string => p !== undefined);
  return recorded.length ? [...new Set(recorded)].sort() : ['TCP', 'UDP'];
}

function inNamespace(namespace: string, labels: Record<string, string>): PolicyPeer {
  return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } }, podSelector: { matchLabels: labels } };
}

function ipBlock(address: string): PolicyPeer {
  return { ipBlock: { cidr: address.includes(':') ? `${address}/128` : `${address}/32` } };
}

function describePeer(p: PolicyPeer): string {
  if (p.ipBlock) return p.ipBlock.cidr;
  const labels = Object.entries(p.podSelector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  return `pods ${labels || '(all)'} in ${p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] ?? '?'}`;
}

/** Rules keyed by their peer, ports unioned; deterministic order. */
class Rules {
  private readonly byPeer = new Map<string, { peer: PolicyPeer | undefined; ports: Map<string, PolicyPort>; seen: Set<string> }>();

  add(peer: PolicyPeer | undefined, port: PolicyPort, seen: string): void {
    const k = JSON.stringify(peer ?? null);
    const r = this.byPeer.get(k) ?? { peer, ports: new Map(), seen: new Set() };
    this.byPeer.set(k, r);
    r.ports.set(`${port.protocol}/${port.port}`, port);
    r.seen.add(seen);
  }

  list(): { peer: PolicyPeer | undefined; ports: PolicyPort[]; seen: string[] }[] {
    return [...this.byPeer.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, r]) => ({ peer: r.peer, ports: [...r.ports.values()].sort((a, b) => `${a.protocol}/${a.port}`.localeCompare(`${b.protocol}/${b.port}`, 'en', { numeric: true })), seen: [...r.seen].sort() }));
  }
}

const portText = (p: PolicyPort) => `${p.protocol} ${p.port}`;

function egressRules(set: BehaviorSet, input: NetworkInput, skipped: NetworkExplain['skipped']): Rules {
  const rules = new Rules();
  for (const [key, item] of Object.entries(set.egresses ?? {})) {
    const e = endpoint(key);
    if (e.family !== 'inet' && e.family !== 'inet6') continue;
    if (!isIpAddress(e.address)) {
      skipped.push({ key, why: 'not an IP address' });
      continue;
    }
    if (isLoopback(e.address)) {
      skipped.push({ key, why: 'loopback: never leaves the pod' });
      continue;
    }
    if (e.port === 0) {
      skipped.push({ key, why: 'no port' });
      continue;
    }
    const peer = input.peers[e.address];
    const seen = `${e.address}:${e.port}`;
    if (peer?.kind === 'service' || peer?.kind === 'dns') {
      // The cluster DNS answers over both: a truncated UDP answer is asked again over TCP.
      const wanted = peer.kind === 'dns' ? ['UDP', 'TCP'] : protocolsOf(item);
      const ports = peer.ports.filter((p) => p.port === e.port && wanted.includes(p.protocol));
      if (ports.length === 0) skipped.push({ key, why: `Service ${peer.namespace}/${peer.name} has no port ${e.port}` });
      const to = inNamespace(peer.namespace, peer.kind === 'dns' ? peer.labels : peer.selector);
      for (const p of ports) rules.add(to, { protocol: p.protocol, port: p.targetPort }, `${seen} (Service ${peer.namespace}/${peer.name})`);
    } else if (peer?.kind === 'pod') {
      for (const protocol of protocolsOf(item)) rules.add(inNamespace(peer.namespace, peer.labels), { protocol, port: e.port }, `${seen} (Pod ${peer.namespace}/${peer.name})`);
    } else {
      for (const protocol of protocolsOf(item)) rules.add(ipBlock(e.address), { protocol, port: e.port }, seen);
    }
  }
  return rules;
}

function ingressRules(set: BehaviorSet, input: NetworkInput, skipped: NetworkExplain['skipped']): Rules {
  // The ports it listened on (TCP) or bound for datagrams (UDP), on an address others can reach.
  const ports = new Map<string, PolicyPort>();
  for (const [key, item] of Object.entries(set.binds ?? {})) {
    const e = endpoint(key);
    if ((e.family !== 'inet' && e.family !== 'inet6') || e.port === 0) continue;
    if (isLoopback(e.address)) {
      skipped.push({ key, why: 'bound to loopback: unreachable from the network' });
      continue;
    }
    const listens = (item.sets?.ops ?? []).includes('listen');
    for (const protocol of protocolsOf(item)) if (listens ? protocol !== 'UDP' : protocol === 'UDP') ports.set(`${protocol}/${e.port}`, { protocol, port: e.port });
  }
  // The peers seen on each port; a port no accepted connection was recorded on stays open to all.
  // A connection accepted is a port listened on too: a server that was listening before the window
  // began is seen only accepting.
  const peersByPort = new Map<string, { peer: PolicyPeer; seen: string }[]>();
  for (const [key, item] of Object.entries(set.ingresses ?? {})) {
    const e = endpoint(key);
    if (isLoopback(e.address) || e.port === 0) continue;
    if (!isIpAddress(e.address)) {
      skipped.push({ key, why: 'not an IP address' });
      continue;
    }
    const peer = input.peers[e.address];
    const from = peer?.kind === 'pod' ? inNamespace(peer.namespace, peer.labels) : ipBlock(e.address);
    for (const protocol of protocolsOf(item)) {
      const k = `${protocol}/${e.port}`;
      if (!ports.has(k)) ports.set(k, { protocol, port: e.port });
      peersByPort.set(k, [...(peersByPort.get(k) ?? []), { peer: from, seen: peer?.kind === 'pod' ? `${e.address} (Pod ${peer.namespace}/${peer.name})` : e.address }]);
    }
  }
  const rules = new Rules();
  for (const [k, port] of ports) {
    const peers = peersByPort.get(k);
    if (!peers) rules.add(undefined, port, 'no accepted connection recorded');
    else for (const p of peers) rules.add(p.peer, port, p.seen);
  }
  return rules;
}

/** Rules that share their ports become one rule with all their peers, as a person would write them. */
function grouped(rules: ReturnType<Rules['list']>): PolicyRule[] {
  const byPorts = new Map<string, PolicyRule>();
  for (const r of rules) {
    const k = JSON.stringify(r.ports);
    const rule = byPorts.get(k) ?? { ports: r.ports };
    byPorts.set(k, rule);
    if (r.peer) rule.peers = [...(rule.peers ?? []), r.peer];
    else rule.peers = undefined; // open to all on these ports
  }
  return [...byPorts.values()];
}

export function networkPolicy(set: BehaviorSet, input: NetworkInput, meta: { name: string; namespace: string; labels?: Record<string, string> }) {
  const skipped: NetworkExplain['skipped'] = [];
  const egress = egressRules(set, input, skipped).list();
  const ingress = ingressRules(set, input, skipped).list();
  const policy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta,
    spec: {
      podSelector: input.podSelector,
      policyTypes: ['Ingress', 'Egress'],
      ingress: grouped(ingress).map((r) => ({ ...(r.peers ? { from: r.peers } : {}), ports: r.ports })),
      egress: grouped(egress).map((r) => ({ ...(r.peers ? { to: r.peers } : {}), ports: r.ports })),
    },
  };
  const explain: NetworkExplain = {
    egress: egress.map((r) => ({ to: r.peer ? describePeer(r.peer) : 'anywhere', ports: r.ports.map(portText), seen: r.seen })),
    ingress: ingress.map((r) => ({ from: r.peer ? describePeer(r.peer) : 'anywhere', ports: r.ports.map(portText), seen: r.seen })),
    skipped: skipped.sort((a, b) => a.key.localeCompare(b.key)),
  };
  return { policy, explain };
}
