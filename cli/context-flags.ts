import type { Command } from 'commander';
import type { Context } from '../core/advisor.js';

/** Context that behavior cannot show, for the rule advice: the commands' flags and the advisor's Context they make. */

export interface ContextFlags {
  privileged?: boolean;
  dind?: boolean;
  needsSaToken?: boolean;
  hostPid?: boolean;
  needsApiServer?: boolean;
}

/** Adds the context flags to a command. */
export function contextOptions(cmd: Command): Command {
  return cmd
    .option('--privileged', 'the container runs privileged')
    .option('--dind', 'the workload runs containers itself (docker-in-docker)')
    .option('--needs-sa-token', 'the application uses its service-account token')
    .option('--needs-api-server', 'the application talks to the Kubernetes API server')
    .option('--host-pid', 'the pod shares the host PID namespace');
}

export function contextFrom(flags: ContextFlags): Context {
  const c: Context = {};
  if (flags.privileged) c.privileged = true;
  if (flags.dind) c.dind = true;
  if (flags.needsSaToken) c.needsSaToken = true;
  if (flags.hostPid) c.hostPID = true;
  if (flags.needsApiServer) c.needsApiServer = true;
  return c;
}
