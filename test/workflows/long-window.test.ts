import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import type { NodeTarget } from '../../core/target.js';
import type { ModelingInput } from '../../workflows/input.js';
import { statusQuery, type ModelingResult } from '../../workflows/index.js';
import { CONTROLLER_QUEUE } from '../../workflows/queues.js';
import { Script, TEST_SERVER, withWorkers } from './env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: TEST_SERVER } } });
});
after(async () => {
  await env?.teardown();
});

const k8s = (duration: string, extra: Partial<ModelingInput> = {}): ModelingInput => ({
  target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' },
  duration,
  resolveInterval: '1h',
  searchAttributes: false,
  ...extra,
});

test('a 7-day window follows the workload across nodes, re-resolving every 3h and continuing as new', { timeout: 180_000 }, async () => {
  // Day 1 on node-a, days 2-3 on both, then only node-b.
  const on = (ids: string[]): NodeTarget => ({ kind: 'containers', ids });
  const script = new Script([...Array<Record<string, NodeTarget>>(8).fill({ 'node-a': on(['a1']) }), ...Array<Record<string, NodeTarget>>(16).fill({ 'node-a': on(['a1']), 'node-b': on(['b1']) }), { 'node-b': on(['b2']) }]);
  const handle = await withWorkers(env, script, ['node-a', 'node-b'], async () => {
    const h = await env.client.workflow.start('behaviorModeling', { taskQueue: CONTROLLER_QUEUE, workflowId: 'long-window', args: [k8s('7d', { historyLimit: 200, resolveInterval: '3h' })] });
    await h.result();
    return h;
  });
  const result = (await handle.result()) as ModelingResult;
  // One resolution every 3 hours for 7 days, give or take the first and last.
  assert.ok(script.resolveCalls >= 55 && script.resolveCalls <= 57, `resolutions: ${script.resolveCalls}`);
  assert.deepEqual(result.nodes.map((n) => `${n.node}:${n.state}`).sort(), ['node-a:completed', 'node-b:completed']);
  assert.ok(script.collects.some((c) => c.node === 'node-b' && c.trace.kind === 'containers' && c.trace.ids[0] === 'b2'), 'node-b never got the new container');
  assert.ok(!script.collects.some((c) => c.node === 'node-a' && c.until > Date.now() + 4 * 86400_000), 'collectors kept starting on node-a after it left');
  // History stayed bounded: the first run continued as new, and the run id (store prefix) carried over.
  const first = await env.client.workflow.getHandle('long-window', handle.firstExecutionRunId).describe();
  assert.equal(first.status.name, 'CONTINUED_AS_NEW');
  const last = await handle.describe();
  assert.ok((last.historyLength ?? 0) < 400, `history of the last run: ${last.historyLength}`);
  assert.equal(script.merged?.run, `shop/web/${handle.firstExecutionRunId}`);
  assert.ok(new Set(script.collects.map((c) => c.run)).size === 1, 'collectors of continued runs wrote under another run prefix');
});

test('invalid input fails at once, naming the field, without retries', { timeout: 60_000 }, async () => {
  const script = new Script([{}]);
  await withWorkers(env, script, [], async () => {
    const h = await env.client.workflow.start('behaviorModeling', { taskQueue: CONTROLLER_QUEUE, workflowId: 'bad-input', args: [{ target: { kind: 'pid', node: 'n', pid: 'x' }, duration: '1h' } as unknown as ModelingInput] });
    await assert.rejects(h.result(), (err: unknown) => err instanceof WorkflowFailedError && /invalid input: target\.pid/.test(String((err.cause as Error)?.message)));
  });
  assert.equal(script.resolveCalls, 0);
});

test('the status query reports phase, window and nodes', { timeout: 60_000 }, async () => {
  const script = new Script([{ 'node-a': { kind: 'pid', pid: 1 } }]);
  await withWorkers(env, script, ['node-a'], async () => {
    const h = await env.client.workflow.start('behaviorModeling', { taskQueue: CONTROLLER_QUEUE, workflowId: 'status', args: [{ target: { kind: 'pid', node: 'node-a', pid: 1 }, duration: '1h', searchAttributes: false }] });
    await h.result();
    const s = await h.query(statusQuery);
    assert.equal(s.phase, 'completed');
    assert.equal(s.window.end - s.window.start, 3600_000);
    assert.equal(s.nodes['node-a']?.state, 'completed');
    assert.equal(s.target, 'pid:1');
  });
});
