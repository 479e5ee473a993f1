import { KubeConfig } from '@kubernetes/client-node';

/**
 * The namespace a bare model name means, as in kubectl: the current kubeconfig context's
 * (KUBECONFIG or ~/.kube/config), else `default`. A missing or unreadable kubeconfig is no error:
 * most local runs have none.
 */
export function currentNamespace(): string {
  try {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  } catch {
    return 'default';
  }
}

const PREFIX = 'varmor-modeler/';

/** A run's (and its schedule's) ID from what users type: the ID, NAMESPACE/NAME, or a bare NAME in the current namespace. */
export function runId(id: string): string {
  if (id.startsWith(PREFIX)) return id;
  return PREFIX + (id.includes('/') ? id : `${currentNamespace()}/${id}`);
}
