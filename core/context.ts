/**
 * What behavior cannot show, declared by the user for the rule advice: the one definition of each
 * flag. The advisor reads them (core/advisor.ts), the workflow input checks them
 * (workflows/input.ts), and the CLI makes its options from them (cli/context-flags.ts).
 */
export const CONTEXT_FLAGS = {
  privileged: { option: '--privileged', help: 'the container runs privileged' },
  dind: { option: '--dind', help: 'the workload runs containers itself (docker-in-docker)' },
  hostPID: { option: '--host-pid', help: 'the pod shares the host PID namespace' },
  shareProcessNamespace: { option: '--share-process-namespace', help: "the pod's containers share one PID namespace" },
  needsSaToken: { option: '--needs-sa-token', help: 'the application uses its service-account token' },
  needsApiServer: { option: '--needs-api-server', help: 'the application talks to the Kubernetes API server' },
  ingressNginx: { option: '--ingress-nginx', help: 'the workload is the ingress-nginx controller' },
} as const satisfies Record<string, { option: `--${string}`; help: string }>;

export type ContextFlag = keyof typeof CONTEXT_FLAGS;

/** The declared flags; undefined means not declared. */
export type Context = { [F in ContextFlag]?: boolean };

export const CONTEXT_FLAG_NAMES = Object.keys(CONTEXT_FLAGS) as ContextFlag[];

export function isContextFlag(name: string): name is ContextFlag {
  return Object.hasOwn(CONTEXT_FLAGS, name);
}
