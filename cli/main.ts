import { Command, Option } from 'commander';
import { createLogger } from '../lib/log.js';
import { stateHome } from '../lib/home.js';
import { adviseCommand, diffCommand, profileCommand, type ProfileFormat } from './analyse.js';
import { record } from './record.js';

const log = createLogger('varmor-modeler', 'warn');

function home(cmd: Command): string {
  return stateHome(cmd.optsWithGlobals().home as string | undefined);
}

/** Runs a command's action; any error becomes one clear line and a non-zero exit. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<number>) {
  return async (...args: A) => {
    try {
      process.exitCode = await fn(...args);
    } catch (err) {
      log.debug({ err }, 'command failed');
      process.stderr.write(`varmor-modeler: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  };
}

const program = new Command('varmor-modeler')
  .description('Watch what a workload really does, then generate the tightest AppArmor and seccomp profiles it can run under.')
  .addOption(new Option('--home <dir>', 'state directory (server database, embedded object store)').env('VARMOR_MODELER_HOME'))
  .showHelpAfterError();

program
  .command('record')
  .description('launch a command, model it and every descendant until it exits or the duration passes')
  .option('-d, --duration <duration>', 'longest modeling window, e.g. 30s, 10m', '30s')
  .option('-o, --out <dir>', 'where to write the outputs', 'out')
  .option('-n, --name <name>', 'model name (default: the command name)')
  .option('--checkpoint-interval <duration>', 'how often batches are checkpointed to the object store', '10s')
  .argument('<command...>', 'the command to launch, after --')
  .action(action(async (argv: string[], opts, cmd: Command) => record(argv, { ...opts, home: home(cmd) }, log)));

/** Context that behavior cannot show, for the rule advice. */
function contextOptions(cmd: Command): Command {
  return cmd
    .option('--privileged', 'the container runs privileged')
    .option('--dind', 'the workload runs containers itself (docker-in-docker)')
    .option('--needs-sa-token', 'the application uses its service-account token')
    .option('--needs-api-server', 'the application talks to the Kubernetes API server')
    .option('--host-pid', 'the pod shares the host PID namespace');
}

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
).action(action(async (path: string, opts) => print(await adviseCommand(path, opts))));

contextOptions(
  program
    .command('diff')
    .description('what changed between two models: behaviors, profile lines, rule verdicts')
    .argument('<old>', 'earlier ArmorProfileModel file')
    .argument('<new>', 'later ArmorProfileModel file')
    .option('--json', 'machine-readable output'),
).action(action(async (oldPath: string, newPath: string, opts) => print(await diffCommand(oldPath, newPath, opts))));

program
  .command('profile')
  .description('generate a profile from a model file')
  .argument('<model>', 'ArmorProfileModel file (YAML or JSON)')
  .addOption(new Option('-f, --format <format>', 'profile format').choices(['apparmor', 'seccomp', 'spo']).default('apparmor'))
  .action(action(async (path: string, opts: { format: ProfileFormat }) => print(await profileCommand(path, opts.format))));

await program.parseAsync(process.argv);
