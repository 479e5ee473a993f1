import { createHash } from 'node:crypto';
import type { K8sObject } from './fake-apiserver.js';

/** Kubernetes objects as the API server stores them, for the fake API server. */

type Labels = Record<string, string>;

let uids = 0;
const uid = (name: string) => `${name}-uid-${++uids}`;

/** A deterministic 64-hex container ID, as containerd reports. */
export function containerId(pod: string, container: string): string {
  return createHash('sha256').update(`${pod}/${container}`).digest('hex');
}

function owned(owner?: K8sObject) {
  return owner ? { ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true }] } : {};
}

function workload(apiVersion: string, kind: string, ns: string, name: string, labels: Labels, owner?: K8sObject): K8sObject {
  return {
    apiVersion,
    kind,
    metadata: { name, namespace: ns, uid: uid(name), labels, ...owned(owner) },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
  };
}

export const deployment = (ns: string, name: string, labels: Labels) => workload('apps/v1', 'Deployment', ns, name, labels);
export const statefulSet = (ns: string, name: string, labels: Labels) => workload('apps/v1', 'StatefulSet', ns, name, labels);
export const daemonSet = (ns: string, name: string, labels: Labels) => workload('apps/v1', 'DaemonSet', ns, name, labels);
export const replicaSet = (ns: string, name: string, labels: Labels, owner?: K8sObject) => workload('apps/v1', 'ReplicaSet', ns, name, labels, owner);

export function job(ns: string, name: string, owner?: K8sObject): K8sObject {
  const o = workload('batch/v1', 'Job', ns, name, {}, owner);
  // Jobs select their pods by their own uid, as the Job controller sets it up.
  const labels = { 'batch.kubernetes.io/controller-uid': o.metadata.uid!, 'job-name': name };
  return { ...o, metadata: { ...o.metadata, labels }, spec: { selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': o.metadata.uid! } } } };
}

export function cronJob(ns: string, name: string): K8sObject {
  return { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name, namespace: ns, uid: uid(name) }, spec: { schedule: '*/5 * * * *', jobTemplate: { spec: {} } } };
}

export interface PodOptions {
  node?: string;
  owner?: K8sObject;
  labels?: Labels;
  phase?: string;
  reason?: string;
  terminating?: boolean;
  containers?: string[];
  /** Containers whose state is terminated instead of running. */
  terminated?: string[];
}

export function pod(ns: string, name: string, o: PodOptions = {}): K8sObject {
  const containers = o.containers ?? ['app'];
  const labels = o.labels ?? (o.owner?.kind === 'Job' ? (o.owner.metadata.labels as Labels) : ((o.owner?.spec as { selector?: { matchLabels?: Labels } })?.selector?.matchLabels ?? {}));
  const running = (o.phase ?? 'Running') === 'Running';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, uid: uid(name), labels, ...owned(o.owner), ...(o.terminating ? { deletionTimestamp: new Date().toISOString() } : {}) },
    spec: { nodeName: o.node ?? 'node-a', containers: containers.map((c) => ({ name: c, image: 'nginx' })) },
    status: {
      phase: o.phase ?? 'Running',
      ...(o.reason ? { reason: o.reason } : {}),
      containerStatuses: containers.map((c) => ({
        name: c,
        containerID: `containerd://${containerId(name, c)}`,
        image: 'nginx',
        imageID: 'docker.io/library/nginx@sha256:0',
        restartCount: 0,
        ready: running && !o.terminated?.includes(c),
        state: running && !o.terminated?.includes(c) ? { running: { startedAt: '2025-01-01T00:00:00Z' } } : { terminated: { exitCode: 0 } },
      })),
    },
  };
}

/** The ArmorProfileModel CRD, ours (permissive schema) unless a schema is given. */
export function modelCrd(opts: { ours?: boolean; statusSubresource?: boolean; schema?: object } = {}): K8sObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'armorprofilemodels.crd.varmor.org', labels: opts.ours === false ? {} : { 'app.kubernetes.io/part-of': 'varmor-modeler' } },
    spec: {
      group: 'crd.varmor.org',
      scope: 'Namespaced',
      names: { kind: 'ArmorProfileModel', plural: 'armorprofilemodels', singular: 'armorprofilemodel', listKind: 'ArmorProfileModelList' },
      versions: [
        {
          name: 'v1beta1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: opts.schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          ...(opts.statusSubresource === false ? {} : { subresources: { status: {} } }),
        },
      ],
    },
  };
}
