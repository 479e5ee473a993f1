import { ApiextensionsV1Api, AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { kubeconfigSource } from '../lib/kubeconfig.js';
import { K8sError, translate, type Call } from './errors.js';
import { withRetry, type RetryOptions } from './retry.js';

export interface ConnectOptions {
  /** A kubeconfig file; default KUBECONFIG, then ~/.kube/config, then the in-cluster service account. */
  kubeconfig?: string;
  /** A context of the kubeconfig; default its current context. */
  context?: string;
  retry?: RetryOptions;
}

/** The API clients the modeler uses, and `call`, which every request goes through. */
export interface Kube {
  /** The API server URL, for messages. */
  server: string;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  custom: CustomObjectsApi;
  ext: ApiextensionsV1Api;
  /** Runs one request: errors become K8sErrors naming the call; transient ones are retried. */
  call<T>(call: Call, fn: () => Promise<T>): Promise<T>;
}

function loadConfig(opts: Pick<ConnectOptions, 'kubeconfig' | 'context'> = {}): KubeConfig {
  const kc = new KubeConfig();
  try {
    const source = kubeconfigSource(opts.kubeconfig);
    if (source === 'file') kc.loadFromFile(opts.kubeconfig!);
    else if (source === 'default') kc.loadFromDefault();
    else if (source === 'in-cluster') kc.loadFromCluster();
    else throw new Error('no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a cluster');
  } catch (err) {
    throw new K8sError(`cannot load the Kubernetes configuration: ${(err as Error).message}`, 'Other');
  }
  if (opts.context) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(opts.context)) {
      throw new K8sError(`context "${opts.context}" is not in the kubeconfig (contexts: ${names.join(', ') || 'none'})`, 'Other');
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new K8sError(`the kubeconfig's current context "${kc.getCurrentContext()}" names no cluster`, 'Other');
  return kc;
}

export function connect(opts: ConnectOptions = {}): Kube {
  const kc = loadConfig(opts);
  const server = kc.getCurrentCluster()!.server;
  return {
    server,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    ext: kc.makeApiClient(ApiextensionsV1Api),
    call: (c, fn) =>
      withRetry(async () => {
        try {
          return await fn();
        } catch (err) {
          throw translate(err, c, server);
        }
      }, opts.retry),
  };
}
