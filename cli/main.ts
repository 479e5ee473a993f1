import { Command, Option } from 'commander';
import { createLogger } from '../lib/log.js';
import { stateHome } from '../lib/home.js';
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

await program.parseAsync(process.argv);
