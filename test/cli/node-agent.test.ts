import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bpfUnavailable, daemon, run, tempDir } from '../helpers.js';
import { TEMPORAL_CLI } from '../workflows/env.js';


async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const NODE = 'agent-node';

test('a standalone node agent runs no command and traces no host process it is sent; with the opt-in it does', { skip: bpfUnavailable(), timeout: 240_000 }, async () => {
  const home = await tempDir('home');
  const env = { VARMOR_MODELER_HOME: home, NODE_NAME: NODE };
  const marker = join(await tempDir('marker'), 'launched');
  const dev = await daemon(['dev', '--role', 'controller'], env);
  let node = await daemon(['worker', '--role', 'node'], env);
  const bystander = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    const { port } = JSON.parse(await readFile(join(home, 'temporal-server.json'), 'utf8')) as { port: number };
    // As anyone who reaches the Temporal frontend would: the Temporal CLI and a hand-written input.
    const execute = (id: string, target: object) =>
      run(TEMPORAL_CLI, ['workflow', 'execute', '--address', `127.0.0.1:${port}`, '--task-queue', 'varmor-modeler', '--type', 'behaviorModeling',
        '--workflow-id', `varmor-modeler/default/${id}`, '--input', JSON.stringify({ target, name: id, duration: '20s', checkpointInterval: '1s', searchAttributes: false })], { timeoutMs: 120_000 });
    const command = { kind: 'command', node: NODE, argv: ['/bin/sh', '-c', `touch ${marker}`] };

    const refused = await execute('evil', command);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(refused.stdout + refused.stderr, /node agent-node refuses: this node agent launches no commands/);
    assert.equal(existsSync(marker), false, 'the command ran');
    // The workflow's history records why: the collector's failure, non-retryable, named.
    const shown = await run(TEMPORAL_CLI, ['workflow', 'show', '--address', `127.0.0.1:${port}`, '-w', 'varmor-modeler/default/evil', '--output', 'json']);
    assert.match(shown.stdout, /LaunchNotAllowed/);
    assert.match(shown.stdout, /"nonRetryable": true/);

    // A host process (not in any pod's cgroup) is not traced either.
    const host = await execute('peek', { kind: 'pid', node: NODE, pid: bystander.pid });
    assert.notEqual(host.code, 0, host.stdout);
    assert.match(host.stdout + host.stderr, new RegExp(`pid ${bystander.pid} is not in a pod's cgroup, and this node agent traces only pods' processes`));

    // The operator's opt-in, at the agent's start.
    await stop(node);
    node = await daemon(['worker', '--role', 'node', '--allow-launch'], env);
    const allowed = await execute('allowed', command);
    assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
    assert.equal(existsSync(marker), true, 'the command did not run with --allow-launch');
  } finally {
    bystander.kill('SIGKILL');
    await stop(node);
    await stop(dev);
  }
});
