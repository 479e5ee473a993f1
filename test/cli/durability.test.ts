import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { bpfUnavailable, cli, daemon, modelStatus as status, tempDir, until } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a node worker killed with SIGKILL mid-window loses nothing: before, during and after the downtime', { skip: bpfUnavailable(), timeout: 240_000 }, async () => {
  const env = { VARMOR_MODELER_HOME: await tempDir('home') };
  const flags = await tempDir('flags');
  // The target does one new thing per phase, each when its flag file appears.
  const phases = ['uname -a', 'id', 'date'].map((cmd, i) => `while [ ! -e ${flags}/${i} ]; do sleep 0.2; done; ${cmd} >/dev/null`).join('; ');
  const target = spawn('sh', ['-c', `${phases}; exec sleep 600`], { stdio: 'ignore' });
  const dev = await daemon(['dev', '--role', 'controller'], env);
  let node = await daemon(['worker', '--role', 'node', '--allow-host-targets'], env);
  try {
    const started = await cli(['model', 'start', '--target', `pid:${target.pid}`, '--duration', '10m', '--checkpoint-interval', '1s', '--id', 'durable'], env);
    assert.equal(started.code, 0, started.stderr);
    await until('the first checkpoint', async () => Object.values((await status(env, 'default/durable')).nodes).some((n) => n.batches > 0));

    await writeFile(join(flags, '0'), ''); // uname: seen, and checkpointed, by the first worker
    await sleep(2500);
    node.kill('SIGKILL');
    await writeFile(join(flags, '1'), ''); // id: while no worker runs
    await sleep(2000);
    node = await daemon(['worker', '--role', 'node', '--allow-host-targets'], env);
    // The collector's heartbeat times out (30 s); the retried activity adopts the pinned state.
    await until('the retried collector', async () => {
      const s = await status(env, 'default/durable');
      return Object.values(s.nodes).some((n) => n.state === 'running' && (n.attempt ?? 1) > 1);
    });
    await writeFile(join(flags, '2'), ''); // date: after the restart
    await sleep(2500);

    assert.equal((await cli(['model', 'stop', 'default/durable'], env)).code, 0);
    const out = await tempDir('out');
    const result = await cli(['model', 'result', 'default/durable', '--out', out], env);
    assert.equal(result.code, 0, result.stderr);
    const model = parse(await readFile(join(out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
    const executions = model.data.dynamicResult.appArmor?.executions ?? [];
    for (const bin of ['/usr/bin/uname', '/usr/bin/id', '/usr/bin/date']) assert.ok(executions.includes(bin), `${bin} lost: ${executions.join(' ')}`);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    assert.equal(report.counters.ringbuf_dropped ?? 0, 0);
  } finally {
    target.kill('SIGKILL');
    node.kill('SIGTERM');
    dev.kill('SIGTERM');
    await Promise.all([node, dev].map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
  }
});

test('the embedded Temporal server killed mid-window comes back on its SQLite file, and the run continues', { skip: bpfUnavailable(), timeout: 240_000 }, async () => {
  const home = await tempDir('home');
  const env = { VARMOR_MODELER_HOME: home };
  const flags = await tempDir('flags');
  const phases = ['uname -a', 'id'].map((cmd, i) => `while [ ! -e ${flags}/${i} ]; do sleep 0.2; done; ${cmd} >/dev/null`).join('; ');
  const target = spawn('sh', ['-c', `${phases}; exec sleep 600`], { stdio: 'ignore' });
  const dev = await daemon(['dev'], env);
  try {
    assert.equal((await cli(['model', 'start', '--target', `pid:${target.pid}`, '--duration', '10m', '--checkpoint-interval', '1s', '--id', 'restart'], env)).code, 0);
    await until('the first checkpoint', async () => Object.values((await status(env, 'default/restart')).nodes).some((n) => n.batches > 0));
    await writeFile(join(flags, '0'), '');
    await sleep(2500);
    const server = JSON.parse(await readFile(join(home, 'temporal-server.json'), 'utf8')) as { pid: number };
    process.kill(server.pid, 'SIGKILL');
    await until('the restarted server', async () => {
      const again = JSON.parse(await readFile(join(home, 'temporal-server.json'), 'utf8')) as { pid: number };
      return again.pid !== server.pid && (await cli(['model', 'status', 'default/restart', '--json'], env)).code === 0;
    });
    await writeFile(join(flags, '1'), '');
    await sleep(3000);
    assert.equal((await cli(['model', 'stop', 'default/restart'], env)).code, 0);
    const out = await tempDir('out');
    const result = await cli(['model', 'result', 'default/restart', '--out', out], env);
    assert.equal(result.code, 0, result.stderr);
    const model = parse(await readFile(join(out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
    const executions = model.data.dynamicResult.appArmor?.executions ?? [];
    for (const bin of ['/usr/bin/uname', '/usr/bin/id']) assert.ok(executions.includes(bin), `${bin} lost: ${executions.join(' ')}`);
  } finally {
    target.kill('SIGKILL');
    dev.kill('SIGTERM');
    await new Promise((r) => (dev.exitCode !== null ? r(null) : dev.once('exit', r)));
  }
});
