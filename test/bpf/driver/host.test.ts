import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { tracerPath } from '../../../lib/node-settings.js';
import { TracerHost, type TracerSession } from '../../../bpf/driver/host.js';
import { hexArg, TracerProcess, type TracerRecord } from '../../../bpf/driver/loader.js';

const root = `/sys/fs/bpf/varmor-host-test-${process.pid}`;
const skip = process.getuid?.() !== 0 && 'needs root (BPF)';

/** Attaches `key` and collects what reaches its sink. */
async function attach(host: TracerHost, key: string): Promise<{ session: TracerSession; records: TracerRecord[] }> {
  const records: TracerRecord[] = [];
  const session = await host.attach(key, () => (r) => records.push(r));
  return { session, records };
}

test('the host: each session gets its own target\'s records only; a second collector of a run takes over; the last free ends the tracer', { skip }, async () => {
  const host = new TracerHost({ binary: tracerPath(), stateDir: `${root}/node-a`, commandOutput: 'ignore' });
  try {
    const a = await attach(host, 'run-a');
    const b = await attach(host, 'run-b');
    assert.notEqual(a.session.target, b.session.target);
    const pid = host.pid;
    for (const [s, word] of [[a.session, 'alpha'], [b.session, 'beta']] as const) {
      const l = await s.request('launch', ['sh', '-c', `echo ${word} > /dev/null`].map(hexArg).join(' '), (r) => r.t === 'launched');
      assert.equal(l.t, 'launched');
    }
    await Promise.all([a, b].map(({ session, records }) => waitFor(() => records.some((r) => r.t === 'target-empty'), `${session.key} empty`)));
    await Promise.all([a.session.flush(), b.session.flush()]);
    for (const { session, records } of [a, b]) {
      assert.ok(records.length > 3, `${session.key} got its records`);
      assert.ok(records.every((r) => 'target' in r && r.target === session.target), `${session.key} got only its own`);
      assert.ok(records.some((r) => r.t === 'stats'), 'its own stats');
    }
    // A retried collector of run-a attaches while the first still holds it: the first is ended.
    const again = await attach(host, 'run-a');
    assert.equal(again.session.target, a.session.target);
    assert.equal(again.session.adopted, true);
    await assert.rejects(a.session.ended, /a newer collector of the same run attached/);
    assert.equal(host.pid, pid, 'one loader throughout');
    await again.session.free();
    assert.equal(host.pid, pid, 'run-b still has its target');
    await b.session.free();
    assert.equal(host.pid, undefined, 'the last run given back ends the tracer');
    assert.equal(existsSync(`${root}/node-a`), false, 'and its pinned state');
  } finally {
    await cleanUp(host);
  }
});

test('the first start releases the per-run tracer states of an earlier version, not its own', { skip }, async () => {
  const legacy = `${root}/0123456789abcdef01234567`;
  const old = await TracerProcess.start(tracerPath(), { stateDir: legacy });
  await old.quit(); // a handoff: its programs stay attached, with nobody to adopt them
  assert.ok(existsSync(`${legacy}/meta`));
  const host = new TracerHost({ binary: tracerPath(), stateDir: `${root}/node-b`, commandOutput: 'ignore', warn: () => {} });
  try {
    const { session } = await attach(host, 'run-x');
    assert.equal(existsSync(legacy), false, 'the legacy state was released');
    assert.ok(existsSync(`${root}/node-b/meta`), 'the agent\'s own is there');
    await session.free();
  } finally {
    await cleanUp(host);
  }
});

test('warmed, the tracer is loaded before the first attach, which uses it; warmed and never used, close ends its generation', { skip }, async () => {
  const host = new TracerHost({ binary: tracerPath(), stateDir: `${root}/node-w`, commandOutput: 'ignore' });
  try {
    await host.warm();
    const pid = host.pid;
    assert.ok(pid, 'loaded by warm');
    const { session } = await attach(host, 'run-w');
    assert.equal(host.pid, pid, 'the attach used the warmed tracer');
    await session.free();
    assert.equal(host.pid, undefined, 'without lingering the last free ends it as before');
    await host.warm();
    assert.ok(existsSync(`${root}/node-w/meta`));
    await host.close();
    assert.equal(existsSync(`${root}/node-w`), false, 'nothing to hand off: the idle tracer\'s pinned state is released');
  } finally {
    await cleanUp(host);
  }
});

test('lingering, the tracer outlives the last free for the next run, then ends', { skip }, async () => {
  const host = new TracerHost({ binary: tracerPath(), stateDir: `${root}/node-l`, commandOutput: 'ignore', lingerMs: 3000 });
  try {
    const first = await attach(host, 'run-1');
    const pid = host.pid;
    await first.session.free();
    assert.equal(host.pid, pid, 'still loaded after the last free');
    const second = await attach(host, 'run-2');
    assert.equal(host.pid, pid, 'the next run attaches to the same tracer');
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(host.pid, pid, 'a target in use: no lingering deadline');
    await second.session.free();
    await waitFor(() => host.pid === undefined, 'the tracer ends once it lingered');
    assert.equal(existsSync(`${root}/node-l`), false, 'and its pinned state with it');
  } finally {
    await cleanUp(host);
  }
});

/** The host closed, the test's pinned state and spools gone. */
async function cleanUp(host: TracerHost): Promise<void> {
  await host.close();
  await rm(root, { recursive: true, force: true }).catch(() => {});
  await rm(root.replace('/sys/fs/bpf/', '/run/'), { recursive: true, force: true });
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), `timed out: ${what}`);
}
