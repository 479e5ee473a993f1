import { ApplicationFailure } from '@temporalio/common';
import { resolveLocal } from '../core/local-target.js';
import type { NodeTarget, Target } from '../core/target.js';
import type { Kube } from '../k8s/client.js';

export interface Resolution {
  /** What each node's collector traces, by node name. */
  nodes: Record<string, NodeTarget>;
  /** The controller's object store, used when the workflow input names none. */
  store: string;
}

/**
 * Where the target runs. Local targets name their node (core/local-target.ts); Kubernetes targets
 * resolve through the API (k8s/resolve.ts, loaded for them only).
 */
export function resolveActivity(config: { store: string; kube?: Kube }) {
  return async function resolveTarget(target: Target): Promise<Resolution> {
    if (target.kind !== 'k8s') return { nodes: resolveLocal(target), store: config.store };
    if (!config.kube) throw ApplicationFailure.create({ message: 'this controller has no Kubernetes access (no in-cluster account, KUBECONFIG or ~/.kube/config)', type: 'KubernetesUnavailable', nonRetryable: true });
    const [{ kubernetesResolver }, { isTransient, K8sError }] = await Promise.all([import('../k8s/resolve.js'), import('../k8s/errors.js')]);
    try {
      return { nodes: await kubernetesResolver(config.kube)(target.spec), store: config.store };
    } catch (err) {
      // Transient errors were already retried by the client; what is left is for a person to fix.
      if (err instanceof K8sError && !isTransient(err)) throw ApplicationFailure.create({ message: err.message, type: `Kubernetes${err.reason}`, nonRetryable: true });
      throw err;
    }
  };
}
