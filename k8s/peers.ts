/**
 * The addresses a model holds (what the workload connected to, what connected to it), resolved
 * through the API at merge time for its NetworkPolicy (core/networkpolicy.ts): Service cluster
 * IPs to the Service, the cluster DNS among them, pod IPs to the pod. Pods and Services change:
 * an address no longer in the cluster stays unresolved and becomes an ipBlock there.
 */
import type { V1Service } from '@kubernetes/client-node';
import type { BehaviorSet } from '../core/behavior.js';
import { endpoint, isIpAddress, isLoopback } from '../core/net.js';
import type { NetworkInput, Peer, ServicePort } from '../core/networkpolicy.js';
import type { K8sTarget } from '../core/target-spec.js';
import type { Kube } from './client.js';
import { CALLS } from './rbac.js';
import { podSelectorOf, stableLabels } from './resolve.js';

/** Addresses looked up per merge at most; the rest stay ipBlocks (a workload talking to thousands of pods is a crawler, not a service). */
export const MAX_LOOKUPS = 256;
const LOOKUP_CONCURRENCY = 8;

/** The namespace and label that mark the cluster DNS's Service (kubeadm's and CoreDNS's own manifests). */
const DNS_NAMESPACE = 'kube-system';
const DNS_LABEL = 'k8s-app';

/** inet addresses of egresses and ingresses, loopback left out; only IP literals (they go into a field selector). */
export function networkAddresses(set: BehaviorSet): string[] {
  const out = new Set<string>();
  for (const category of ['egresses', 'ingresses'] as const) {
    for (const key of Object.keys(set[category] ?? {})) {
      const e = endpoint(key);
      if ((e.family === 'inet' || e.family === 'inet6') && isIpAddress(e.address) && !isLoopback(e.address)) out.add(e.address);
    }
  }
  return [...out].sort();
}

function servicePorts(s: V1Service): ServicePort[] {
  return (s.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP', targetPort: p.targetPort ?? p.port }));
}

/** A Service as a peer: the cluster DNS by its k8s-app label alone, any other by its selector. */
function servicePeer(s: V1Service): Peer | undefined {
  const namespace = s.metadata?.namespace ?? '';
  const name = s.metadata?.name ?? '';
  const selector = s.spec?.selector;
  // Without a selector the Service's endpoints are managed by hand: no pods to select.
  if (!selector || Object.keys(selector).length === 0) return undefined;
  const ports = servicePorts(s);
  if (namespace === DNS_NAMESPACE && selector[DNS_LABEL] && ports.some((p) => p.port === 53)) {
    return { kind: 'dns', namespace, name, labels: { [DNS_LABEL]: selector[DNS_LABEL]! }, ports };
  }
  return { kind: 'service', namespace, name, selector, ports };
}

/** The target's pod selector and what each of the model's addresses is; undefined when the target's pods have no selector to write. */
export async function resolveNetwork(kube: Kube, target: K8sTarget, set: BehaviorSet): Promise<NetworkInput | undefined> {
  const podSelector = await podSelectorOf(kube, target);
  if (!podSelector) return undefined;
  const addresses = networkAddresses(set);
  const peers: Record<string, Peer> = {};
  if (addresses.length === 0) return { podSelector, peers };

  const services = await kube.call({ perm: CALLS.listServices }, () => kube.core.listServiceForAllNamespaces());
  const byIp = new Map<string, V1Service>();
  for (const s of services.items) for (const ip of s.spec?.clusterIPs ?? (s.spec?.clusterIP ? [s.spec.clusterIP] : [])) if (ip !== 'None') byIp.set(ip, s);

  const rest: string[] = [];
  for (const a of addresses) {
    const s = byIp.get(a);
    const peer = s && servicePeer(s);
    if (peer) peers[a] = peer;
    else if (!s) rest.push(a);
  }
  const lookups = rest.slice(0, MAX_LOOKUPS);
  for (let i = 0; i < lookups.length; i += LOOKUP_CONCURRENCY) {
    await Promise.all(
      lookups.slice(i, i + LOOKUP_CONCURRENCY).map(async (ip) => {
        const pods = await kube.call({ perm: CALLS.listPods }, () => kube.core.listPodForAllNamespaces({ fieldSelector: `status.podIP=${ip}` }));
        // A host-network pod shares its node's address: that is the node, not a pod to select.
        const pod = pods.items.find((p) => !p.spec?.hostNetwork && p.status?.phase === 'Running');
        if (pod) peers[ip] = { kind: 'pod', namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '', labels: stableLabels(pod.metadata?.labels) };
      }),
    );
  }
  return { podSelector, peers };
}
