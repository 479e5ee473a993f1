import { ApplicationFailure } from '@temporalio/common';
import type { NodeTarget, Target } from '../workflows/input.js';

export interface Resolution {
  /** What each node's collector traces, by node name. */
  nodes: Record<string, NodeTarget>;
  /** The controller's object store, used when the workflow input names none. */
  store: string;
}

/** Resolves a Kubernetes target spec to what runs on each node. */
export type KubernetesResolver = (spec: string) => Promise<Record<string, NodeTarget>>;

export interface ResolveConfig {
  store: string;
  kubernetes?: KubernetesResolver;
}

/** Where the target runs. Local targets name their node; Kubernetes targets resolve through the API. */
export function resolveActivity(config: ResolveConfig) {
  return async function resolveTarget(target: Target): Promise<Resolution> {
    return { nodes: await nodesOf(target, config), store: config.store };
  };
}

async function nodesOf(target: Target, config: ResolveConfig): Promise<Record<string, NodeTarget>> {
  switch (target.kind) {
    case 'command':
      return { [target.node]: { kind: 'command', argv: target.argv } };
    case 'pid':
      return { [target.node]: { kind: 'pid', pid: target.pid } };
    case 'container':
      return { [target.node]: { kind: 'containers', ids: [target.id] } };
    case 'k8s':
      if (!config.kubernetes) {
        throw ApplicationFailure.create({ message: 'this controller has no Kubernetes access configured', type: 'KubernetesUnavailable', nonRetryable: true });
      }
      return config.kubernetes(target.spec);
  }
}
