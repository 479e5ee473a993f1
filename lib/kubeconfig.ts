import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Where a pod's service account token, CA and namespace are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

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

/**
 * The kubeconfig files the client reads by default (KubeConfig.loadFromDefault): KUBECONFIG's list,
 * else ~/.kube/config when it exists; undefined when neither names one.
 */
export function defaultKubeconfigFiles(): string[] | undefined {
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG.split(delimiter).filter((f) => f);
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : undefined;
}
