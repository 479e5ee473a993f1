import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from 'yaml';

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

/** The part of a kubeconfig that names the current namespace. */
interface Kubeconfig {
  'current-context'?: string;
  contexts?: { name?: string; context?: { namespace?: string } }[];
}

/**
 * The namespace a bare model name means, as in kubectl: the current kubeconfig context's
 * (KUBECONFIG or ~/.kube/config), else `default`. A missing or unreadable kubeconfig is no error:
 * most local runs have none. Read with a YAML parse, not the Kubernetes client (k8s/client.ts),
 * so that commands for local targets do not load it; the files and the current context are found
 * as the client finds them (KubeConfig.loadFromDefault), so this is the namespace of the context
 * it connects to.
 */
export function currentNamespace(): string {
  try {
    return contextNamespace() || 'default';
  } catch {
    return 'default';
  }
}

function contextNamespace(): string | undefined {
  const files = defaultKubeconfigFiles();
  if (!files) {
    // No kubeconfig: in a pod, the service account's namespace.
    return existsSync(`${SERVICE_ACCOUNT_DIR}/token`) ? readFileSync(`${SERVICE_ACCOUNT_DIR}/namespace`, 'utf8').trim() : undefined;
  }
  let current: string | undefined;
  const contexts: NonNullable<Kubeconfig['contexts']> = [];
  files.forEach((file, i) => {
    const config = parse(readFileSync(file, 'utf8')) as Kubeconfig | null | undefined;
    // The client refuses the whole list for one empty file; so do we.
    if (config === null || config === undefined) throw new Error(`${file}: empty`);
    // The first file's current context, unless a later file names one (the client merges them so).
    if (i === 0 || config['current-context']) current = config['current-context'];
    if (Array.isArray(config.contexts)) contexts.push(...config.contexts);
  });
  if (current === undefined) return undefined;
  return contexts.find((c) => c?.name === current)?.context?.namespace;
}
