import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { resolveLocal } from '../core/local-target.js';
import { hostTargetRefusal, type ModelingPolicy } from '../core/policy.js';
import { parseK8sSpec } from '../core/target-spec.js';
import type { NodeTarget, Target } from '../core/target.js';
import type { Kube } from '../k8s/client.js';
import type { Keyring } from '../lib/keyring.js';
import { issueGrant } from './grant.js';
import { requireNamespaceAllowed } from './policy.js';

export interface Resolution {
  /** What each node's collector traces, by node name. */
  nodes: Record<string, NodeTarget>;
  /** The controller's object store, used when the workflow input names none. */
  store: string;
  /** The controller's grant for each node's target (activities/grant.ts): node agents trace nothing else. */
  grants?: Record<string, string>;
}

export interface ResolveConfig {
  store: string;
  kube?: Kube;
  keyring: Keyring;
  /** What may be modelled: the operator's, not the workflow input's, decision. */
  policy: ModelingPolicy;
}

/**
 * Where the target runs, if the modeling policy allows it. Local targets name their node
 * (core/local-target.ts); Kubernetes targets resolve through the API (k8s/resolve.ts, loaded for
 * them only). Each node's share comes with a grant bound to the calling workflow.
 */
export function resolveActivity(config: ResolveConfig) {
  return async function resolveTarget(target: Target): Promise<Resolution> {
    const nodes = await resolveAllowed(config, target);
    const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
    const grants = Object.fromEntries(Object.entries(nodes).map(([node, trace]) => [node, issueGrant(config.keyring, workflowId, node, trace)]));
    return { nodes, store: config.store, grants };
  };
}

async function resolveAllowed(config: ResolveConfig, target: Target): Promise<Record<string, NodeTarget>> {
  const refuse = (message: string) => ApplicationFailure.create({ message, type: 'TargetNotAllowed', nonRetryable: true });
  if (target.kind !== 'k8s') {
    const refusal = hostTargetRefusal(config.policy, target.kind);
    if (refusal) throw refuse(refusal);
    return resolveLocal(target);
  }
  if (!config.kube) throw ApplicationFailure.create({ message: 'this controller has no Kubernetes access (no in-cluster account, KUBECONFIG or ~/.kube/config)', type: 'KubernetesUnavailable', nonRetryable: true });
  const [{ kubernetesResolver }, { isTransient, K8sError }] = await Promise.all([import('../k8s/resolve.js'), import('../k8s/errors.js')]);
  try {
    let namespace: string;
    try {
      namespace = parseK8sSpec(target.spec).namespace;
    } catch (err) {
      throw ApplicationFailure.create({ message: (err as Error).message, type: 'InvalidTarget', nonRetryable: true });
    }
    await requireNamespaceAllowed(config, namespace);
    return await kubernetesResolver(config.kube)(target.spec);
  } catch (err) {
    // Transient errors were already retried by the client; what is left is for a person to fix.
    if (err instanceof K8sError && !isTransient(err)) throw ApplicationFailure.create({ message: err.message, type: `Kubernetes${err.reason}`, nonRetryable: true });
    throw err;
  }
}
