import { ApplicationFailure } from '@temporalio/common';
import type { Kube } from '../k8s/client.js';
import { isTransient, K8sError } from '../k8s/errors.js';
import { kubernetesResolver } from '../k8s/resolve.js';
import type { NodeTarget, Target } from '../core/target.js';

export interface Resolution {
  /** What each node's collector traces, by node name. */
  nodes: Record<string, NodeTarget>;
  /** The controller's object store, used when the workflow input names none. */
  store: string;
}

/** Where the target runs. Local targets name their node; Kubernetes targets resolve through the API. */
export function resolveActivity(config: { store: string; kube?: Kube }) {
  const kubernetes = config.kube ? kubernetesResolver(config.kube) : undefined;
  return async function resolveTarget(target: Target): Promise<Resolution> {
    switch (target.kind) {
      case 'command':
        return { nodes: { [target.node]: { kind: 'command', argv: target.argv } }, store: config.store };
      case 'pid':
        return { nodes: { [target.node]: { kind: 'pid', pid: target.pid } }, store: config.store };
      case 'container':
        return { nodes: { [target.node]: { kind: 'containers', ids: [target.id] } }, store: config.store };
      case 'k8s':
        if (!kubernetes) throw ApplicationFailure.create({ message: 'this controller has no Kubernetes access (no in-cluster account, KUBECONFIG or ~/.kube/config)', type: 'KubernetesUnavailable', nonRetryable: true });
        try {
          return { nodes: await kubernetes(target.spec), store: config.store };
        } catch (err) {
          // Transient errors were already retried by the client; what is left is for a person to fix.
          if (err instanceof K8sError && !isTransient(err)) throw ApplicationFailure.create({ message: err.message, type: `Kubernetes${err.reason}`, nonRetryable: true });
          throw err;
        }
    }
  };
}
