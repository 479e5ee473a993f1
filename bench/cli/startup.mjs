#!/usr/bin/env node
// CLI start-up (issue 14): wall time from exec to exit of `varmor-modeler` for each command's
// cheapest invocation: --version, --help, every command's --help, and the offline commands on a
// small model and on audit logs of no line and of a million lines; and what the commands that
// need a cluster or a Temporal server load before they run (`import` of their module: `record`
// runs a command through the workflow, too slow and too heavy to time as a whole). Median of
// --runs runs. With
// --before REV, that revision is built too (git archive into a temporary directory, this tree's
// node_modules linked) and both are run in turn, run by run, so that background load hits both
// alike.
//
//   npm run -s build && node bench/cli/startup.mjs [--runs 11] [--before REV]
//
// Prints a Markdown table on stdout (progress on stderr).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBefore, load, log, median, opt, repo } from './common.mjs';

const RUNS = Number(opt('runs', 11));
const BEFORE = opt('before', undefined);

const work = mkdtempSync(join(tmpdir(), 'cli-startup-'));
try {
  const trees = [{ name: 'this tree', root: repo }];
  if (BEFORE) trees.unshift(buildBefore(BEFORE, work));

  // Inputs of the offline commands: an empty log, a log of a million lines (the audit corpus
  // over and over), and a model made from the corpus.
  const empty = join(work, 'empty.log');
  writeFileSync(empty, '');
  const corpus = readFileSync(join(repo, 'test/audit/corpus/apparmor.log'), 'latin1');
  const million = join(work, 'million.log');
  writeFileSync(million, corpus.repeat(Math.ceil(1e6 / (corpus.split('\n').length - 1))), 'latin1');
  const run = (args) => spawnSync(process.execPath, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VARMOR_MODELER_HOME: join(work, 'home') } });
  const cli = (root, args) => run([join(root, 'bin/varmor-modeler.js'), ...args]);
  // `{ load: 'cli/record.js' }`: node loading that module of dist/, and nothing else.
  const invoke = (root, args) => (Array.isArray(args) ? cli(root, args) : run(['--input-type=module', '-e', `await import(${JSON.stringify(join(root, 'dist', args.load))})`]));
  const made = cli(repo, ['audit', 'ingest', '-f', join(repo, 'test/audit/corpus/apparmor.log'), '-o', join(work, 'model')]);
  if (made.status !== 0) throw new Error(`making the model failed: ${made.stderr}`);
  const model = join(work, 'model/armorprofilemodel.yaml');

  const help = (cmd) => [cmd.join(' ') + ' --help', [...cmd, '--help']];
  const invocations = [
    ['--version', ['--version']],
    ['--help', ['--help']],
    ...[['record'], ['advise'], ['diff'], ['profile'], ['model', 'start'], ['model', 'status'], ['model', 'stop'], ['model', 'extend'], ['model', 'result'], ['model', 'list'], ['schedule', 'create'], ['schedule', 'list'], ['schedule', 'delete'], ['worker'], ['dev'], ['targets', 'resolve'], ['audit', 'ingest']].map(help),
    ['profile MODEL', ['profile', model]],
    ['profile -f seccomp MODEL', ['profile', '-f', 'seccomp', model]],
    ['advise MODEL', ['advise', model]],
    ['diff MODEL MODEL', ['diff', model, model]],
    ['audit ingest -f EMPTY', ['audit', 'ingest', '-f', empty, '-o', join(work, 'out')]],
    ['audit ingest -f 1M-LINES', ['audit', 'ingest', '-f', million, '-o', join(work, 'out')]],
    ...['record', 'model', 'schedule'].map((cmd) => [`${cmd}: loading its code`, { load: `cli/${cmd}.js` }]),
  ];

  const ms = new Map(invocations.map(([name]) => [name, trees.map(() => [])]));
  log(`${invocations.length} invocations × ${trees.length} tree(s) × ${RUNS} runs; load ${load()}`);
  for (let run = 0; run < RUNS; run++) {
    for (const [name, args] of invocations) {
      trees.forEach((tree, t) => {
        const t0 = performance.now();
        const r = invoke(tree.root, args);
        const took = performance.now() - t0;
        if (r.status !== 0) throw new Error(`${tree.name}: ${name} exited ${r.status}: ${r.stderr}`);
        ms.get(name)[t].push(took);
      });
    }
    log(`run ${run + 1}/${RUNS}`);
  }

  const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version;
  console.log(`varmor-modeler ${version}, node ${process.version}, median of ${RUNS} runs (ms, exec to exit); load after: ${load()}\n`);
  console.log(`| invocation | ${trees.map((t) => t.name).join(' | ')} |${trees.length > 1 ? ' × before |' : ''}`);
  console.log(`|---|${trees.map(() => '---:').join('|')}|${trees.length > 1 ? '---:|' : ''}`);
  for (const [name] of invocations) {
    const m = ms.get(name).map(median);
    console.log(`| \`${name}\` | ${m.map((x) => x.toFixed(0)).join(' | ')} |${trees.length > 1 ? ` ${(m[1] / m[0]).toFixed(2)} |` : ''}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
