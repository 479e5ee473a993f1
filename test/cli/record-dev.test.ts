import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { bpfUnavailable, CLI, cli, run, tempDir, until } from '../helpers.js';

const skip = bpfUnavailable();
// The embedded server of a dev is the point here, never a cluster of the environment's.
delete process.env.TEMPORAL_ADDRESS;

/** `varmor-modeler dev` in `cwd`, its stderr collected; resolves once it prints its banner. */
async function dev(cwd: string, env: NodeJS.ProcessEnv): Promise<{ stop(): Promise<void>; stderr(): string; pid: number }> {
  const child = spawn(process.execPath, [CLI, 'dev'], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  await until('dev to start', async () => {
    if (child.exitCode !== null) throw new Error(`dev exited ${child.exitCode}: ${err}`);
    return /^workers /m.test(err);
  });
  return {
    pid: child.pid!,
    stderr: () => err,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The record CLI in `cwd` (the helpers' `cli` runs in the test's own). */
const recordIn = (cwd: string, args: string[], env: NodeJS.ProcessEnv) => run(process.execPath, [CLI, 'record', ...args], { cwd, env: { ...process.env, ...env } });

test('record runs through a running dev: its server holds the run, its workers launch and trace the command, the outputs land', { skip, timeout: 180_000 }, async (t) => {
  const home = await tempDir('home');
  const cwd = await tempDir('cwd');
  const out = join(cwd, 'out');
  const pinRoot = `/sys/fs/bpf/varmor-record-dev-${process.pid}`;
  const env = { VARMOR_MODELER_HOME: home, VARMOR_MODELER_PIN_ROOT: pinRoot };
  t.after(() => rm(pinRoot, { recursive: true, force: true }));
  const d = await dev(cwd, env);
  try {
    const dir = await tempDir('other');
    const refused = await recordIn(dir, ['--', 'true'], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`varmor-modeler dev \\(pid ${d.pid}\\) serves node .* from ${cwd}`), 'another directory: refused with the dev\'s');

    // The marker is read from a relative path: the command runs in record's (and the dev's) directory.
    await run('sh', ['-c', `echo marker-$$ > ${join(cwd, 'marker.txt')}`]);
    const r = await recordIn(cwd, ['--duration', '60s', '--name', 'through-dev', '--out', out, '--', 'sh', '-c', 'cat marker.txt; ls / > /dev/null'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`recording through varmor-modeler dev \\(pid ${d.pid}\\)`));
    // The dev's tracer launched it: its output went to the dev's terminal, not record's.
    assert.match(d.stderr(), /marker-\d+/);
    assert.doesNotMatch(r.stdout + r.stderr, /marker-\d+/);
    const model = parse(await readFile(join(out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
    for (const bin of ['/usr/bin/cat', '/usr/bin/ls']) assert.ok(model.data.dynamicResult.appArmor?.executions?.includes(bin), `${bin} recorded`);

    // The run is the dev server's: `model` commands (no server of their own) find it there, completed.
    const status = await cli(['model', 'status', 'through-dev', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { phase: string }).phase, 'completed');
  } finally {
    await d.stop();
  }
  const json = await readFile(join(home, 'dev.json'), 'utf8').catch(() => undefined);
  assert.equal(json, undefined, 'a stopped dev takes its announcement back');

  // Without the dev, record starts its own server and workers again (cold).
  const cold = await recordIn(cwd, ['--duration', '60s', '--name', 'cold', '--out', join(cwd, 'cold'), '--', 'sh', '-c', 'cat marker.txt'], env);
  assert.equal(cold.code, 0, cold.stderr);
  assert.doesNotMatch(cold.stderr, /recording through/);
  assert.match(cold.stderr, /marker-\d+/, 'its own tracer writes the command\'s output to record\'s stderr');
});
