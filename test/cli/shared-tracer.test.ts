import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { tracerPath } from '../../lib/node-settings.js';
import { bpfUnavailable, cli, daemon, modelStatus, run, tempDir, until } from '../helpers.js';
import { TEMPORAL_CLI } from '../workflows/env.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The varmor-tracer processes a node worker runs (its children). */
function tracersOf(worker: ChildProcess): number[] {
  return readdirSync('/proc')
    .filter((d) => /^[0-9]+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const [, comm, rest] = /^\d+ \((.*)\) (.*)$/s.exec(stat)!;
        return comm === 'varmor-tracer' && Number(rest!.split(' ')[1]) === worker.pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A target that runs each of its commands when its flag file appears, then sleeps. */
function phased(flags: string, name: string, cmds: string[]): { proc: ChildProcess; go: (i: number) => Promise<void> } {
  const script = cmds.map((cmd, i) => `while [ ! -e ${flags}/${name}${i} ]; do sleep 0.2; done; ${cmd} >/dev/null 2>&1`).join('; ');
  return { proc: spawn('sh', ['-c', `${script}; exec sleep 600`], { stdio: 'ignore' }), go: (i) => writeFile(join(flags, `${name}${i}`), '') };
}

async function executions(env: NodeJS.ProcessEnv, id: string): Promise<string[]> {
  const out = await tempDir('out');
  const result = await cli(['model', 'result', id, '--out', out], env);
  assert.equal(result.code, 0, result.stderr);
  const model = parse(await readFile(join(out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
  return model.data.dynamicResult.appArmor?.executions ?? [];
}

const stopped = (p: ChildProcess) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r)));

test('runs on one node share one tracer: each sees only its own, one stopping detaches nothing of the others, a SIGKILL of the worker loses nothing of any', { skip: bpfUnavailable(), timeout: 300_000 }, async () => {
  const pinRoot = `/sys/fs/bpf/varmor-shared-test-${process.pid}`;
  const env = { VARMOR_MODELER_HOME: await tempDir('home'), VARMOR_MODELER_PIN_ROOT: pinRoot };
  const flags = await tempDir('flags');
  const runs = {
    a: phased(flags, 'a', ['uname -a', 'id', 'date']),
    b: phased(flags, 'b', ['nproc', 'whoami', 'tty']),
    c: phased(flags, 'c', ['basename x', 'printenv HOME']),
  };
  const dev = await daemon(['dev', '--role', 'controller'], env);
  let node = await daemon(['worker', '--role', 'node', '--allow-host-targets'], env);
  try {
    for (const [id, r] of Object.entries(runs)) {
      const started = await cli(['model', 'start', '--target', `pid:${r.proc.pid}`, '--duration', '10m', '--checkpoint-interval', '1s', '--id', id], env);
      assert.equal(started.code, 0, started.stderr);
    }
    for (const id of Object.keys(runs)) {
      await until(`${id}'s first checkpoint`, async () => Object.values((await modelStatus(env, `default/${id}`)).nodes).some((n) => n.batches > 0));
    }
    // One tracer process, one set of programs (one state dir with its links), for the three runs.
    const tracers = tracersOf(node);
    assert.equal(tracers.length, 1, `tracer processes: ${tracers.join(' ')}`);
    const stateDirs = readdirSync(pinRoot);
    assert.equal(stateDirs.length, 1, stateDirs.join(' '));
    const links = readdirSync(join(pinRoot, stateDirs[0]!)).filter((f) => f.startsWith('link_'));
    assert.ok(links.length >= 6 && links.length <= 7, links.join(' '));

    await Promise.all(Object.values(runs).map((r) => r.go(0)));
    await sleep(2500);
    // c stops: its target is given back; a's and b's go on in the same tracer
    assert.equal((await cli(['model', 'stop', 'default/c'], env)).code, 0);
    const cExec = await executions(env, 'default/c');
    assert.deepEqual(tracersOf(node), tracers, 'the same tracer after one run ended');
    for (const id of ['a', 'b']) {
      const s = await modelStatus(env, `default/${id}`);
      assert.equal(s.phase, 'modeling', `${id}: ${JSON.stringify(s)}`);
    }

    node.kill('SIGKILL');
    await stopped(node);
    await runs.a.go(1); // while no worker runs
    await runs.b.go(1);
    await sleep(2000);
    node = await daemon(['worker', '--role', 'node', '--allow-host-targets'], env);
    for (const id of ['a', 'b']) {
      await until(`${id}'s retried collector`, async () => Object.values((await modelStatus(env, `default/${id}`)).nodes).some((n) => n.state === 'running' && (n.attempt ?? 1) > 1));
    }
    assert.equal(tracersOf(node).length, 1, 'the restarted worker runs one tracer again, for both runs');
    await runs.a.go(2);
    await runs.b.go(2);
    await sleep(2500);
    for (const id of ['a', 'b']) assert.equal((await cli(['model', 'stop', `default/${id}`], env)).code, 0);

    const got = { a: await executions(env, 'default/a'), b: await executions(env, 'default/b'), c: cExec };
    const own = { a: ['uname', 'id', 'date'], b: ['nproc', 'whoami', 'tty'], c: ['basename'] };
    for (const [id, bins] of Object.entries(own)) {
      for (const bin of bins) assert.ok(got[id as 'a'].includes(`/usr/bin/${bin}`), `${id} lost ${bin}: ${got[id as 'a'].join(' ')}`);
      const others = Object.entries(own).filter(([o]) => o !== id).flatMap(([, b]) => b);
      for (const bin of others) assert.ok(!got[id as 'a'].includes(`/usr/bin/${bin}`), `${id} has another run's ${bin}`);
    }
    assert.ok(!got.c.includes('/usr/bin/printenv'), 'c was stopped before its second phase');
    // The last run given back ends the tracer: no process, no pinned programs on an idle node.
    await until('the tracer to end with the last run', async () => tracersOf(node).length === 0 && (!existsSync(pinRoot) || readdirSync(pinRoot).length === 0), 30_000);
  } finally {
    for (const r of Object.values(runs)) r.proc.kill('SIGKILL');
    node.kill('SIGTERM');
    dev.kill('SIGTERM');
    await Promise.all([node, dev].map(stopped));
    // whatever a failure left: its pinned state, and the spools' directory
    spawnSync('sh', ['-c', `for d in ${pinRoot}/*; do [ -d "$d" ] && ${tracerPath()} --release "$d"; done; rmdir ${pinRoot} ${pinRoot.replace('/sys/fs/bpf/', '/run/')}`], { stdio: 'ignore' });
  }
});

test('a run beyond the tracer\'s targets fails at once with TracerFull and a reason; the run already there goes on', { skip: bpfUnavailable(), timeout: 180_000 }, async () => {
  const env = { VARMOR_MODELER_HOME: await tempDir('home'), VARMOR_MODELER_PIN_ROOT: '' };
  const dev = await daemon(['dev', '--role', 'controller'], env);
  const node = await daemon(['worker', '--role', 'node', '--allow-host-targets'], { ...env, VARMOR_MODELER_TRACER_TARGETS: '1' });
  const first = spawn('sleep', ['600'], { stdio: 'ignore' });
  const second = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    assert.equal((await cli(['model', 'start', '--target', `pid:${first.pid}`, '--duration', '10m', '--checkpoint-interval', '1s', '--id', 'first'], env)).code, 0);
    await until('the first run\'s collector', async () => Object.values((await modelStatus(env, 'default/first')).nodes).some((n) => n.state === 'running'));
    const t0 = Date.now();
    assert.equal((await cli(['model', 'start', '--target', `pid:${second.pid}`, '--duration', '10m', '--id', 'second'], env)).code, 0);
    await until('the second run to fail', async () => (await modelStatus(env, 'default/second')).phase === 'failed', 60_000);
    const s = await modelStatus(env, 'default/second');
    assert.match(s.error ?? '', /the node's tracer refuses the run: all 1 targets of this tracer are in use/);
    assert.ok(Date.now() - t0 < 30_000, `refused at once, not after retries (${Date.now() - t0} ms)`);
    // The history names it: the collector's failure, non-retryable.
    const { port } = JSON.parse(await readFile(join(env.VARMOR_MODELER_HOME, 'temporal-server.json'), 'utf8')) as { port: number };
    const shown = await run(TEMPORAL_CLI, ['workflow', 'show', '--address', `127.0.0.1:${port}`, '-w', 'varmor-modeler/default/second', '--output', 'json']);
    assert.match(shown.stdout, /"type": "TracerFull"/);
    assert.match(shown.stdout, /"nonRetryable": true/);
    const f = await modelStatus(env, 'default/first');
    assert.equal(f.phase, 'modeling');
    assert.equal((await cli(['model', 'stop', 'default/first'], env)).code, 0);
  } finally {
    first.kill('SIGKILL');
    second.kill('SIGKILL');
    node.kill('SIGTERM');
    dev.kill('SIGTERM');
    await Promise.all([node, dev].map(stopped));
  }
});
