import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the Kubernetes configuration comes from, found without loading the Kubernetes client:
 * the file `--kubeconfig` names, KUBECONFIG or ~/.kube/config, else the pod's service account in a
 * cluster; undefined when there is none (k8s/client.ts loads it from there).
 */
export function kubeconfigSource(file?: string): 'file' | 'default' | 'in-cluster' | undefined {
  if (file) return 'file';
  if (process.env.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config'))) return 'default';
  if (process.env.KUBERNETES_SERVICE_HOST) return 'in-cluster';
  return undefined;
}
