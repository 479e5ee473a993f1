import { ApplicationFailure } from '@temporalio/common';
import { namespaceRefusal, needsLabels, type ModelingPolicy } from '../core/policy.js';
import type { Kube } from '../k8s/client.js';

/** Fails, naming the setting, unless the policy lets workloads of `namespace` be modelled (its labels read when a selector decides). */
export async function requireNamespaceAllowed(config: { policy: ModelingPolicy; kube?: Kube }, namespace: string): Promise<void> {
  let labels: Record<string, string> | undefined;
  if (needsLabels(config.policy, namespace) && config.kube) {
    const { namespaceLabels } = await import('../k8s/resolve.js');
    labels = await namespaceLabels(config.kube, namespace);
  }
  const refusal = namespaceRefusal(config.policy, namespace, labels);
  if (refusal) throw ApplicationFailure.create({ message: refusal, type: 'TargetNotAllowed', nonRetryable: true });
}
