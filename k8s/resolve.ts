import type { V1LabelSelector, V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import type { Kube } from './client.js';
import { K8sError } from './errors.js';
import { CALLS } from './rbac.js';
import type { NodeTarget, PodTarget } from '../core/target.js';
import { formatK8sSpec, parseK8sSpec, type K8sTarget, type WorkloadKind } from '../core/target-spec.js';

export interface ResolvedContainer {
  name: string;
  /** The runtime's container ID without its scheme, e.g. 64 hex digits. */
  id: string;
  /** The scheme the kubelet reported: containerd, cri-o, docker, ... */
  runtime: string;
  ready: boolean;
}

export interface ResolvedPod {
  name: string;
  uid: string;
  node: string;
  phase: string;
  containers: ResolvedContainer[];
}

export interface Resolved {
  /** The canonical target spec. */
  target: string;
  namespace: string;
  /** The workload the pods belong to; absent for a label selector. */
  workload?: { kind: string; name: string; uid: string };
  pods: ResolvedPod[];
  /** Nodes the resolved containers run on, sorted: one collector each. */
  nodes: string[];
}

/** What a workload is: its identity and how to find its pods. */
interface Workload {
  kind: string;
  meta: V1ObjectMeta;
  selector?: V1LabelSelector;
}

const KIND_NAMES: Record<WorkloadKind, string> = {
  deployment: 'Deployment',
  statefulset: 'StatefulSet',
  daemonset: 'DaemonSet',
  replicaset: 'ReplicaSet',
  job: 'Job',
  cronjob: 'CronJob',
  pod: 'Pod',
};

/**
 * The running containers a target names, and their nodes. Pods are found through the workload's
 * selector and kept only when controlled by the workload (ownerReferences with controller=true and
 * the workload's uid, through ReplicaSets for Deployments and Jobs for CronJobs). Finished pods
 * (Succeeded, Failed, e.g. evicted), terminating pods, unscheduled pods and containers that are
 * not running are left out: there is nothing to trace in them.
 */
export async function resolveTarget(kube: Kube, target: K8sTarget): Promise<Resolved> {
  const ns = target.namespace;
  let workload: Resolved['workload'];
  let pods: V1Pod[];
  if (target.kind === 'selector') {
    pods = await listPods(kube, ns, target.selector);
  } else if (target.kind === 'pod') {
    const pod = await kube.call({ perm: CALLS.getPod, namespace: ns, name: target.name }, () => kube.core.readNamespacedPod({ namespace: ns, name: target.name }));
    workload = identity('Pod', pod.metadata);
    pods = [pod];
  } else {
    const w = await readWorkload(kube, target.kind, ns, target.name);
    workload = identity(w.kind, w.meta);
    pods = await podsOf(kube, ns, w);
  }
  const resolved = pods.filter(live).map(toResolvedPod);
  const filtered = filterContainers(resolved, target, pods);
  const kept = filtered.filter((p) => p.containers.length > 0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    target: formatK8sSpec(target),
    namespace: ns,
    ...(workload ? { workload } : {}),
    pods: kept,
    nodes: [...new Set(kept.map((p) => p.node))].sort(),
  };
}

/** Labels the controllers set per pod or per revision: a selector with them would miss the next pod. */
export const VOLATILE_LABELS: ReadonlySet<string> = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'controller-uid',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-completion-index',
]);

/** A pod's labels that select its workload's pods, not only itself. */
export function stableLabels(labels: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => !VOLATILE_LABELS.has(k)));
}

/**
 * The selector of the target's pods, for its NetworkPolicy: the workload's own (a CronJob's, its
 * job template's pod labels), a pod's stable labels, or a `selector` target's labels when they are
 * plain `key=value` pairs; undefined when none can be written as a LabelSelector.
 */
export async function podSelectorOf(kube: Kube, target: K8sTarget): Promise<V1LabelSelector | undefined> {
  if (target.kind === 'selector') {
    const pairs = target.selector.split(',').map((p) => /^\s*([\w./-]+)\s*==?\s*([\w.-]*)\s*$/.exec(p));
    return pairs.every((m) => m) ? { matchLabels: Object.fromEntries(pairs.map((m) => [m![1]!, m![2]!])) } : undefined;
  }
  if (target.kind === 'pod') {
    const pod = await kube.call({ perm: CALLS.getPod, namespace: target.namespace, name: target.name }, () => kube.core.readNamespacedPod({ namespace: target.namespace, name: target.name }));
    const labels = stableLabels(pod.metadata?.labels);
    return Object.keys(labels).length ? { matchLabels: labels } : undefined;
  }
  if (target.kind === 'cronjob') {
    const req = { namespace: target.namespace, name: target.name };
    const cj = await kube.call({ perm: CALLS.getCronJob, ...req }, () => kube.batch.readNamespacedCronJob(req));
    const labels = stableLabels(cj.spec?.jobTemplate.spec?.template.metadata?.labels);
    return Object.keys(labels).length ? { matchLabels: labels } : undefined;
  }
  const s = (await readWorkload(kube, target.kind, target.namespace, target.name)).selector;
  if (!s) return undefined;
  // plain data, as it goes into the NetworkPolicy
  return {
    ...(s.matchLabels ? { matchLabels: { ...s.matchLabels } } : {}),
    ...(s.matchExpressions ? { matchExpressions: s.matchExpressions.map((e) => ({ key: e.key, operator: e.operator, ...(e.values ? { values: [...e.values] } : {}) })) } : {}),
  };
}

async function readWorkload(kube: Kube, kind: Exclude<WorkloadKind, 'pod'>, namespace: string, name: string): Promise<Workload> {
  const req = { namespace, name };
  switch (kind) {
    case 'deployment':
      return from(kind, await kube.call({ perm: CALLS.getDeployment, ...req }, () => kube.apps.readNamespacedDeployment(req)));
    case 'statefulset':
      return from(kind, await kube.call({ perm: CALLS.getStatefulSet, ...req }, () => kube.apps.readNamespacedStatefulSet(req)));
    case 'daemonset':
      return from(kind, await kube.call({ perm: CALLS.getDaemonSet, ...req }, () => kube.apps.readNamespacedDaemonSet(req)));
    case 'replicaset':
      return from(kind, await kube.call({ perm: CALLS.getReplicaSet, ...req }, () => kube.apps.readNamespacedReplicaSet(req)));
    case 'job':
      return from(kind, await kube.call({ perm: CALLS.getJob, ...req }, () => kube.batch.readNamespacedJob(req)));
    case 'cronjob':
      return from(kind, await kube.call({ perm: CALLS.getCronJob, ...req }, () => kube.batch.readNamespacedCronJob(req)));
  }
}

function from(kind: WorkloadKind, o: { metadata?: V1ObjectMeta; spec?: object }): Workload {
  // CronJobs have no selector: their pods are found through their Jobs.
  return { kind: KIND_NAMES[kind], meta: o.metadata ?? {}, selector: (o.spec as { selector?: V1LabelSelector } | undefined)?.selector };
}

function identity(kind: string, meta: V1ObjectMeta | undefined): { kind: string; name: string; uid: string } {
  return { kind, name: meta?.name ?? '', uid: meta?.uid ?? '' };
}

/** The pods a workload controls: directly, or through the ReplicaSets / Jobs it controls. */
async function podsOf(kube: Kube, namespace: string, w: Workload): Promise<V1Pod[]> {
  const uid = w.meta.uid ?? '';
  if (w.kind === 'CronJob') {
    const jobs = await kube.call({ perm: CALLS.listJobs, namespace }, () => kube.batch.listNamespacedJob({ namespace }));
    const owned = jobs.items.filter((j) => controlledBy(j.metadata, new Set([uid]))).map((j) => from('job', j));
    return (await Promise.all(owned.map((job) => podsOf(kube, namespace, job)))).flat();
  }
  const pods = await listPods(kube, namespace, selectorString(w));
  let owners = new Set([uid]);
  if (w.kind === 'Deployment') {
    const sets = await kube.call({ perm: CALLS.listReplicaSets, namespace }, () =>
      kube.apps.listNamespacedReplicaSet({ namespace, labelSelector: selectorString(w) }),
    );
    owners = new Set(sets.items.filter((rs) => controlledBy(rs.metadata, new Set([uid]))).map((rs) => rs.metadata?.uid ?? ''));
  }
  return pods.filter((p) => controlledBy(p.metadata, owners));
}

async function listPods(kube: Kube, namespace: string, labelSelector: string): Promise<V1Pod[]> {
  const list = await kube.call({ perm: CALLS.listPods, namespace }, () => kube.core.listNamespacedPod({ namespace, labelSelector }));
  return list.items;
}

/** kubectl's `-l` syntax for a LabelSelector. An empty selector would match every pod: refuse it. */
function selectorString(w: Workload): string {
  const s = w.selector ?? {};
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  if (parts.length === 0) throw new K8sError(`${w.kind} "${w.meta.name}" has no pod selector`, 'Invalid');
  return parts.join(',');
}

/** Whether the object's controller (the owner reference with controller=true) is one of owners. */
function controlledBy(meta: V1ObjectMeta | undefined, owners: Set<string>): boolean {
  return (meta?.ownerReferences ?? []).some((o) => o.controller === true && owners.has(o.uid));
}

/** A pod with something to trace: scheduled, not finished, not being deleted. */
function live(p: V1Pod): boolean {
  const phase = p.status?.phase;
  return !!p.spec?.nodeName && phase !== 'Succeeded' && phase !== 'Failed' && !p.metadata?.deletionTimestamp;
}

function toResolvedPod(p: V1Pod): ResolvedPod {
  const containers: ResolvedContainer[] = [];
  for (const c of p.status?.containerStatuses ?? []) {
    if (!c.state?.running || !c.containerID) continue;
    const sep = c.containerID.indexOf('://');
    containers.push({
      name: c.name,
      id: sep < 0 ? c.containerID : c.containerID.slice(sep + 3),
      runtime: sep < 0 ? 'unknown' : c.containerID.slice(0, sep),
      ready: c.ready,
    });
  }
  return { name: p.metadata?.name ?? '', uid: p.metadata?.uid ?? '', node: p.spec!.nodeName!, phase: p.status?.phase ?? 'Unknown', containers };
}

/** Keeps only the named containers; a name no pod declares is a typo, not an empty result. */
function filterContainers(pods: ResolvedPod[], target: K8sTarget, all: V1Pod[]): ResolvedPod[] {
  if (!target.containers) return pods;
  const declared = new Set(all.flatMap((p) => (p.spec?.containers ?? []).map((c) => c.name)));
  const unknown = target.containers.filter((c) => !declared.has(c));
  if (all.length > 0 && unknown.length > 0) {
    throw new K8sError(
      `container${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `"${c}"`).join(', ')} not in the pods of ${formatK8sSpec({ ...target, containers: undefined })} (containers: ${[...declared].sort().join(', ')})`,
      'NotFound',
    );
  }
  const wanted = new Set(target.containers);
  return pods.map((p) => ({ ...p, containers: p.containers.filter((c) => wanted.has(c.name)) }));
}

/**
 * The controller's resolver for the workflow (activities/resolve.ts's KubernetesResolver): per
 * node, the target's pods there by UID, so that the node's collector follows the containers they
 * start later; with a `?containers=` filter, each pod's IDs of the named running containers.
 * Without a filter, a restarted container leaves the result unchanged (the collector keeps
 * running and the tracer follows the new container).
 */
export function kubernetesResolver(kube: Kube): (spec: string) => Promise<Record<string, NodeTarget>> {
  return async (spec) => {
    const target = parseK8sSpec(spec);
    const pods = new Map<string, PodTarget[]>();
    for (const p of (await resolveTarget(kube, target)).pods) {
      const pod: PodTarget = target.containers ? { uid: p.uid, containers: p.containers.map((c) => c.id) } : { uid: p.uid };
      pods.set(p.node, [...(pods.get(p.node) ?? []), pod]);
    }
    return Object.fromEntries([...pods].map(([node, list]) => [node, { kind: 'pods', pods: list } satisfies NodeTarget]));
  };
}

/** A namespace's labels, for the modeling policy's namespaceSelector. */
export async function namespaceLabels(kube: Kube, name: string): Promise<Record<string, string>> {
  const ns = await kube.call({ perm: CALLS.getNamespace, name }, () => kube.core.readNamespace({ name }));
  return ns.metadata?.labels ?? {};
}
