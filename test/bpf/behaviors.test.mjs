// Behaviors that need a peer outside the workload: signals to an outside
// process (external) and ptrace of the workload's own child (self).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Tracer, loadable, which, sleep } from './harness.mjs';

const skipReason = await loadable(test, assert);
const tr = skipReason ? null : new Tracer();
if (tr) await tr.waitFor((r) => r.t === 'ready', { timeout: 30000 });
after(async () => { if (tr) assert.equal((await tr.quit()).code, 0); });

test('signals: to a child are self, to an outside process external; kernel signals are not recorded', { skip: skipReason }, async () => {
  const outsider = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await sleep(50);
    const T = 31;
    const l = await tr.launch(T, ['sh', '-c', `kill -WINCH ${outsider.pid}; sleep 5 & kill -TERM $!; wait; true`]);
    assert.equal(l.t, 'launched');
    await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
    await tr.flush('s');
    const sigs = tr.of(T, 'signal').map((s) => `${s.peer}:${s.name}`);
    assert.ok(sigs.includes('external:winch'), sigs.join());
    assert.ok(sigs.includes('self:term'), sigs.join());
    assert.ok(!sigs.some((s) => s.endsWith(':chld')), 'SIGCHLD from the kernel is not a sent signal');
    assert.equal(tr.of(T, 'signal').find((s) => s.peer === 'external').to, outsider.pid);
  } finally {
    outsider.kill('SIGKILL');
  }
});

test('ptrace of a traced child is recorded as trace of self', { skip: skipReason || (!which('strace') && 'strace not installed') }, async () => {
  const T = 32;
  const l = await tr.launch(T, ['strace', '-f', '-o', '/dev/null', 'true']);
  assert.equal(l.t, 'launched');
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
  await tr.flush('p');
  const pt = tr.of(T, 'ptrace');
  assert.ok(pt.some((p) => p.mode === 'trace' && p.peer === 'self'), JSON.stringify(pt));
  const caps = tr.of(T, 'capability');
  assert.ok(caps.every((c) => typeof c.granted === 'boolean'));
});
