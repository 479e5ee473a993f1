import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import { parseTargetSpec } from '../core/target-spec.js';
import { stateHome } from '../lib/home.js';
import { PACKAGE_ROOT } from '../lib/package.js';
import type { ModelingInput } from '../workflows/input.js';
import type { Role } from '../workers/workers.js';
import type { ProfileFormat } from './analyse.js';
import { contextFrom, contextOptions, type ContextFlags } from './context-flags.js';
import { rootMessage } from '../core/errors.js';
import type { Session } from './session.js';

/*
 * The command line. Each command imports its code when it runs: --version, --help and the
 * offline commands load no Temporal, Kubernetes or S3 client (bench/cli/startup.mjs).
 */

let log: Logger | undefined;
/** The commands' logger (pino), made on first use. */
async function logger(): Promise<Logger> {
  return (log ??= (await import('../lib/log.js')).createLogger('varmor-modeler', 'warn'));
}

function home(cmd: Command): string {
  return stateHome(cmd.optsWithGlobals().home as string | undefined);
}

/** Runs a command's action; any error becomes one clear line and a non-zero exit. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<number>) {
  return async (...args: A) => {
    try {
      process.exitCode = await fn(...args);
    } catch (err) {
      (await logger()).debug({ err }, 'command failed');
      process.stderr.write(`varmor-modeler: ${rootMessage(err)}\n`);
      process.exitCode = 1;
    }
  };
}

const program = new Command('varmor-modeler')
  .description('Watch what a workload really does, then generate the tightest AppArmor and seccomp profiles it can run under.')
  .version((JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version)
  .addOption(new Option('--home <dir>', 'state directory (server database, embedded object store)').env('VARMOR_MODELER_HOME'))
  .showHelpAfterError();

contextOptions(program
  .command('record')
  .description('launch a command, model it and every descendant until it exits or the duration passes')
  .option('-d, --duration <duration>', 'longest modeling window, e.g. 30s, 10m', '30s')
  .option('-o, --out <dir>', 'where to write the outputs', 'out')
  .option('-n, --name <name>', 'model name (default: the command name)')
  .option('--checkpoint-interval <duration>', 'how often batches are checkpointed to the object store', '10s')
  .option('--converge-after <duration>', 'end once nothing new was seen for this long (the duration stays the upper bound)')
  .option('--min-duration <duration>', 'with --converge-after: model at least this long')
  .option('--writable <path...>', 'paths the pod makes writable (volumes, emptyDir): writes there keep readOnlyRootFilesystem')
  .argument('<command...>', 'the command to launch, after --'))
  .action(
    action(async (argv: string[], opts, cmd: Command) => {
      const { record } = await import('./record.js');
      return record(argv, { ...opts, context: contextFrom(opts), home: home(cmd) }, await logger());
    }),
  );

const print = (text: string) => {
  process.stdout.write(text);
  return 0;
};

contextOptions(
  program
    .command('advise')
    .description('which vArmor built-in rules the modelled workload can run with, and the tightest securityContext')
    .argument('<model>', 'ArmorProfileModel file (YAML or JSON)')
    .option('--json', 'machine-readable output')
    .option('--writable <path...>', 'paths the pod makes writable (volumes, emptyDir)'),
).action(
  action(async (path: string, opts) => {
    const { adviseCommand } = await import('./analyse.js');
    return print(await adviseCommand(path, opts));
  }),
);

contextOptions(
  program
    .command('diff')
    .description('what changed between two models: behaviors, profile lines, rule verdicts')
    .argument('<old>', 'earlier ArmorProfileModel file')
    .argument('<new>', 'later ArmorProfileModel file')
    .option('--json', 'machine-readable output'),
).action(
  action(async (oldPath: string, newPath: string, opts) => {
    const { diffCommand } = await import('./analyse.js');
    return print(await diffCommand(oldPath, newPath, opts));
  }),
);

program
  .command('profile')
  .description('generate a profile from a model file')
  .argument('<model>', 'ArmorProfileModel file (YAML or JSON)')
  .addOption(new Option('-f, --format <format>', 'profile format').choices(['apparmor', 'seccomp', 'spo']).default('apparmor'))
  .action(
    action(async (path: string, opts: { format: ProfileFormat }) => {
      const { profileCommand } = await import('./analyse.js');
      return print(await profileCommand(path, opts.format));
    }),
  );

/** A client for a cluster or the embedded server `varmor-modeler dev` runs; no workers here. */
async function withClient<T>(cmd: Command, fn: (session: Session) => Promise<T>): Promise<T> {
  const { openSession } = await import('./session.js');
  const session = await openSession({ home: home(cmd), log: await logger(), start: false });
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** `model start --modeling-state`: how to point a k8s workload at its modeling-state profiles (docs/modeling-state.md). */
async function modelingStateHint(target: ModelingInput['target'], workflowId: string): Promise<string> {
  const [{ modelingProfiles, modelingPatch }, { archFromNode }] = await Promise.all([import('../core/modeling-state.js'), import('../core/syscalls.js')]);
  const [ns, kind, name] = target.kind === 'k8s' ? target.spec.replace(/^k8s:/, '').split('/') : [];
  if (!ns || !kind || !name || kind === 'pod') throw new Error('--modeling-state needs a k8s:NS/KIND/NAME target whose pods come from a template (a bare pod cannot change its seccomp profile)');
  const [, modelNs, modelName] = workflowId.split('/');
  const { seccomp, appArmor } = modelingProfiles(modelNs!, modelName!, archFromNode(process.arch));
  const patch = JSON.stringify(modelingPatch(seccomp.localhostProfile));
  const indented = appArmor.text.trimEnd().replace(/^/gm, '    ');
  return [
    `modeling state: once the node agents run the collector (model status), point ${kind}/${name} at ${seccomp.localhostProfile} (its pods restart):`,
    `  kubectl -n ${ns} patch ${kind}/${name} -p '${patch}'`,
    `nodes with AppArmor (the agent does not install this half): write this profile to ${appArmor.path} on every node that may run the pods,`,
    `load it with \`apparmor_parser -r -W ${appArmor.path}\` and set the containers' appArmorProfile to Localhost ${appArmor.name}:`,
    indented,
    '',
  ].join('\n');
}

/** The workflow input from `model start` / `schedule create` options. */
async function inputFrom(opts: ContextFlags & { target: string; duration: string; checkpointInterval?: string; resolveInterval?: string; nodeGiveUp?: string; convergeAfter?: string; minDuration?: string; id?: string; namespace?: string }, node: string): Promise<ModelingInput> {
  return {
    target: parseTargetSpec(opts.target, node),
    duration: opts.duration,
    context: contextFrom(opts),
    ...(opts.checkpointInterval ? { checkpointInterval: opts.checkpointInterval } : {}),
    ...(opts.nodeGiveUp ? { nodeGiveUp: opts.nodeGiveUp } : {}),
    ...(opts.resolveInterval ? { resolveInterval: opts.resolveInterval } : {}),
    ...(opts.convergeAfter ? { convergeAfter: opts.convergeAfter } : {}),
    ...(opts.minDuration ? { minDuration: opts.minDuration } : {}),
    ...(opts.id ? { name: opts.id } : {}),
    // A k8s target names its namespace; other targets' models go in the current one, where a bare name finds them.
    ...(opts.namespace ? { namespace: opts.namespace } : opts.target.startsWith('k8s:') ? {} : { namespace: (await import('../lib/kubeconfig.js')).currentNamespace() }),
  };
}

const model = program.command('model').description('modeling runs on Temporal: start, watch, stop, extend, fetch results');

contextOptions(
  model
    .command('start')
    .description('start modeling a target (container:ID, pid:PID, k8s:NS/KIND/NAME) for a window')
    .requiredOption('-t, --target <spec>', 'what to model')
    .requiredOption('-d, --duration <duration>', 'window length, e.g. 30m, 12h, 7d')
    .option('--checkpoint-interval <duration>', 'how often collectors checkpoint', '10s')
    .option('--id <name>', 'model name (workflow varmor-modeler/NAMESPACE/NAME)')
    .option('--namespace <ns>', "namespace the model belongs to (default: a k8s target's, else the kubeconfig's current one, else default)")
    .option('--node-give-up <duration>', 'how long a lost node is waited for', '10m')
    .option('--resolve-interval <duration>', 'how often a k8s: target is resolved again, to follow its pods (default: 1m)')
    .option('--converge-after <duration>', 'end the window once nothing new was seen on any node for this long (--duration stays the upper bound)')
    .option('--min-duration <duration>', 'with --converge-after: model at least this long')
    .option('--attach', 'follow the run already going for this target instead of refusing')
    .option('--modeling-state', "k8s: print the patch that points the workload at the node agents' logging seccomp profile (chart node.modelingState.enabled)")
    .option('--wait', 'wait for the result and write it to --out')
    .option('-o, --out <dir>', 'with --wait: where to write the outputs', 'out'),
).action(
  action(async (opts, cmd: Command) => {
    const [{ startModel, summary, waitForResult }, { fetchOutputs }] = await Promise.all([import('./model.js'), import('./outputs.js')]);
    return withClient(cmd, async (session) => {
      const input = await inputFrom(opts, session.node);
      const handle = await startModel(session.client, input, { attach: opts.attach });
      process.stderr.write(`modeling ${handle.workflowId}\n`);
      if (opts.modelingState) process.stderr.write(await modelingStateHint(input.target, handle.workflowId));
      if (!opts.wait) return print(`${handle.workflowId}\n`);
      const result = await waitForResult(handle, await logger());
      return print(await summary(result, await fetchOutputs(result.store, result.outputs, opts.out)));
    });
  }),
);

model
  .command('status')
  .description('live progress of a run: phase, window, per-node batches and events')
  .argument('<id>', "workflow ID, NAMESPACE/NAME, or a NAME in the current namespace (kubectl's)")
  .option('--json', 'the status query result as JSON')
  .action(
    action(async (id: string, opts, cmd: Command) => {
      const { statusCommand } = await import('./model.js');
      return withClient(cmd, async (s) => print(await statusCommand(s.client, id, !!opts.json)));
    }),
  );

model
  .command('stop')
  .description('end the window now; collectors checkpoint and the model is merged')
  .argument('<id>', "workflow ID, NAMESPACE/NAME, or a NAME in the current namespace (kubectl's)")
  .action(
    action(async (id: string, _opts, cmd: Command) => {
      const { stopCommand } = await import('./model.js');
      return withClient(cmd, async (s) => print(await stopCommand(s.client, id)));
    }),
  );

model
  .command('snapshot')
  .description('the model of what the store holds now, as an interim version (every output, drift included); the window goes on')
  .argument('<id>', "workflow ID, NAMESPACE/NAME, or a NAME in the current namespace (kubectl's)")
  .option('-o, --out <dir>', 'also write the outputs here')
  .action(
    action(async (id: string, opts: { out?: string }, cmd: Command) => {
      const { snapshotCommand } = await import('./model.js');
      return withClient(cmd, async (s) => print(await snapshotCommand(s.client, id, opts.out)));
    }),
  );

model
  .command('extend')
  .description('make the window longer')
  .argument('<id>', "workflow ID, NAMESPACE/NAME, or a NAME in the current namespace (kubectl's)")
  .argument('<duration>', 'how much longer, e.g. 2h')
  .action(
    action(async (id: string, by: string, _opts, cmd: Command) => {
      const { extendCommand } = await import('./model.js');
      return withClient(cmd, async (s) => print(await extendCommand(s.client, id, by)));
    }),
  );

model
  .command('result')
  .description('wait for a run to finish and write its outputs')
  .argument('<id>', "workflow ID, NAMESPACE/NAME, or a NAME in the current namespace (kubectl's)")
  .option('-o, --out <dir>', 'where to write the outputs', 'out')
  .action(
    action(async (id: string, opts, cmd: Command) => {
      const { resultCommand } = await import('./model.js');
      return withClient(cmd, async (s) => print(await resultCommand(s.client, id, opts.out, await logger())));
    }),
  );

model
  .command('list')
  .description('modeling runs, newest first')
  .option('--json', 'machine-readable output')
  .action(
    action(async (opts, cmd: Command) => {
      const { listCommand } = await import('./model.js');
      return withClient(cmd, async (s) => print(await listCommand(s.client, !!opts.json)));
    }),
  );

const schedule = program.command('schedule').description('periodic re-modeling with Temporal Schedules; each run is a new model version with drift');

contextOptions(
  schedule
    .command('create')
    .description('model a target every interval')
    .requiredOption('-t, --target <spec>', 'what to model')
    .requiredOption('--every <duration>', 'how often, e.g. 1d')
    .requiredOption('-d, --duration <duration>', 'window of each run, e.g. 1h')
    .option('--id <name>', 'model name')
    .option('--namespace <ns>', "namespace the model belongs to (default: a k8s target's, else the kubeconfig's current one, else default)"),
).action(
  action(async (opts, cmd: Command) => {
    const { scheduleCreate } = await import('./schedule.js');
    return withClient(cmd, async (s) => print(await scheduleCreate(s.client, await inputFrom(opts, s.node), opts.every)));
  }),
);

schedule
  .command('list')
  .description('schedules and their next runs')
  .option('--json', 'machine-readable output')
  .action(
    action(async (opts, cmd: Command) => {
      const { scheduleList } = await import('./schedule.js');
      return withClient(cmd, async (s) => print(await scheduleList(s.client, !!opts.json)));
    }),
  );

schedule
  .command('delete')
  .description('delete a schedule (models already made stay)')
  .argument('<id>', 'schedule ID')
  .action(
    action(async (id: string, _opts, cmd: Command) => {
      const { scheduleDelete } = await import('./schedule.js');
      return withClient(cmd, async (s) => print(await scheduleDelete(s.client, id)));
    }),
  );

/** `worker` and `dev`: where the workers serve their metrics and probes (docs/metrics.md); off unless set. */
function metricsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--metrics-port <port>', 'serve /metrics (Prometheus), /healthz and /readyz on this port (PORT or HOST:PORT)').env('VARMOR_MODELER_METRICS_PORT'))
    .addOption(new Option('--sdk-metrics-port <port>', "serve the Temporal SDK's own worker metrics (Prometheus) on this port").env('VARMOR_MODELER_SDK_METRICS_PORT'));
}

type MetricsFlags = { metricsPort?: string; sdkMetricsPort?: string };

metricsOptions(program
  .command('worker')
  .description('run workers: controller (workflows, resolution, merge), node (collectors on this node), or all')
  .addOption(new Option('--role <role>', 'which workers').choices(['controller', 'node', 'all']).default('all'))
  .option('--node <name>', 'node name (default NODE_NAME or the host name)')
  .option('--kubeconfig <file>', 'Kubernetes API for k8s targets and ArmorProfileModel resources (default: in-cluster, KUBECONFIG, ~/.kube/config)')
  .option('--context <name>', 'kubeconfig context')
  .option('--simulate <nodes>', 'serve these nodes\' queues (comma-separated) with the simulated collector: synthetic batches through the real checkpoint path, no tracer (scale tests on fake nodes)', (v: string) => v.split(',').filter(Boolean))
  .option('--allow-launch', 'node: launch command targets (off: a node agent runs no command it is sent)')
  .option('--allow-host-targets', "node: trace pid: and container: targets outside any pod's cgroup (off: pods' processes only)"))
  .action(
    action(async (opts: { role: Role; node?: string; kubeconfig?: string; context?: string; simulate?: string[]; allowLaunch?: boolean; allowHostTargets?: boolean } & MetricsFlags, cmd: Command) => {
      const { serve } = await import('./serve.js');
      return serve({ home: home(cmd), dev: false, ...opts }, await logger());
    }),
  );

metricsOptions(program
  .command('dev')
  .description('embedded Temporal server (with Web UI) and workers (all roles by default) in the foreground')
  .addOption(new Option('--role <role>', 'which workers').choices(['controller', 'node', 'all']).default('all')))
  .action(
    action(async (opts: { role: Role } & MetricsFlags, cmd: Command) => {
      const { serve } = await import('./serve.js');
      return serve({ home: home(cmd), dev: true, ...opts }, await logger());
    }),
  );

program
  .command('targets')
  .description('Kubernetes targets')
  .command('resolve')
  .description('what a k8s:NAMESPACE/KIND/NAME spec resolves to: pods, nodes, containers and their runtime IDs')
  .argument('<spec>', 'k8s:NAMESPACE/KIND/NAME[?containers=a,b] or k8s:NAMESPACE/selector/LABELS')
  .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)')
  .option('--context <name>', 'kubeconfig context')
  .option('--json', 'machine-readable output')
  .action(
    action(async (spec: string, opts: { kubeconfig?: string; context?: string; json?: boolean }) => {
      const { resolveCommand } = await import('./targets.js');
      return print(await resolveCommand(spec, opts));
    }),
  );

const audit = program.command('audit').description('the audit-log collector offline');

contextOptions(
  audit
    .command('ingest')
    .description('turn an audit log (AppArmor complain mode, seccomp SCMP_ACT_LOG) into a model and profiles')
    .requiredOption('-f, --file <file>', 'the log: audit.log, kern.log, a dmesg or journal export')
    .option('-p, --profile <name>', 'only this AppArmor profile (and seccomp records labelled with it)')
    .option('--arch <arch>', 'architecture of the seccomp records (default: this machine)')
    .option('--namespace <ns>', 'namespace for the model', 'default')
    .option('-n, --name <name>', 'model name')
    .option('-o, --out <dir>', 'where to write the outputs', 'out'),
).action(
  action(async (opts) => {
    const { ingestCommand } = await import('./audit.js');
    return print(await ingestCommand({ ...opts, context: contextFrom(opts) }));
  }),
);

audit
  .command('kmsg-relay')
  .description("relay the kernel's log ring (/dev/kmsg) over a unix socket to the node agent (the chart's kmsg container)")
  .requiredOption('--socket <path>', 'where to listen')
  .action(
    action(async (opts: { socket: string }) => {
      const { relayKmsg } = await import('../audit/kmsg-relay.js');
      relayKmsg(opts.socket);
      process.stderr.write(`relaying /dev/kmsg on ${opts.socket}\n`);
      return new Promise<number>(() => {}); // until stopped
    }),
  );

await program.parseAsync(process.argv);
