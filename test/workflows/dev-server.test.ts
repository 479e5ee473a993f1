import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startModel } from '../../cli/model.js';
import type { ModelingInput } from '../../workflows/input.js';
import { extendUpdate, statusQuery, stopSignal, type ModelingResult } from '../../workflows/index.js';
import { Script, startDevServer, untilCancelled, withWorkers } from './env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

const pid = (name: string, extra: Partial<ModelingInput> = {}): ModelingInput => ({ target: { kind: 'pid', node: 'node-a', pid: 1 }, name, duration: '1h', searchAttributes: false, ...extra });

test('stop ends the window early and still merges; extend moves the end', { timeout: 60_000 }, async () => {
  const script = new Script([{ 'node-a': { kind: 'pid', pid: 1 } }], untilCancelled);
  const result = await withWorkers(env, script, ['node-a'], async () => {
    const h = await startModel(env.client, pid('stop-extend'), {});
    const before = await h.query(statusQuery);
    const end = await h.executeUpdate(extendUpdate, { args: ['2h'] });
    assert.equal(end, before.window.end + 2 * 3600_000);
    await assert.rejects(h.executeUpdate(extendUpdate, { args: ['soon'] }), (err: Error) => /invalid duration "soon"/.test(String((err.cause as Error | undefined)?.message)));
    await h.signal(stopSignal);
    return (await h.result()) as ModelingResult;
  });
  assert.equal(script.merged?.nodes[0]?.state, 'completed');
  assert.equal(result.nodes[0]?.reason, 'window-ended');
  assert.ok(script.merged!.window.end - script.merged!.window.start < 60_000, 'merged window should end at the stop, not at the planned end');
});

test('a second run for the same target is refused clearly, or attached to', { timeout: 60_000 }, async () => {
  const script = new Script([{ 'node-a': { kind: 'pid', pid: 1 } }], untilCancelled);
  await withWorkers(env, script, ['node-a'], async () => {
    const first = await startModel(env.client, pid('once'), {});
    await assert.rejects(startModel(env.client, pid('once'), {}), /a modeling run for default\/once is already running \(workflow varmor-modeler\/default\/once\); use --attach/);
    const attached = await startModel(env.client, pid('once'), { attach: true });
    assert.equal(attached.workflowId, first.workflowId);
    // Stopped once its collector runs: a run stopped before any collector started recorded nothing, and fails so.
    while (!(await first.describe()).raw.pendingActivities?.some((a) => a.state === proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED)) await new Promise((r) => setTimeout(r, 100));
    await first.signal(stopSignal);
    await first.result();
  });
});

test('a node whose collector never starts is given up: the model completes with that node failed', { timeout: 90_000 }, async () => {
  const script = new Script([{ 'node-a': { kind: 'containers', ids: ['a'] }, 'node-lost': { kind: 'containers', ids: ['b'] } }], untilCancelled);
  const result = await withWorkers(env, script, ['node-a'], async () => {
    const h = await startModel(env.client, { target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' }, duration: '8s', nodeGiveUp: '3s', searchAttributes: false }, {});
    return (await h.result()) as ModelingResult;
  });
  const lost = result.nodes.find((n) => n.node === 'node-lost');
  assert.equal(lost?.state, 'failed');
  assert.match(lost?.message ?? '', /schedule.?to.?start/i);
  assert.equal(result.nodes.find((n) => n.node === 'node-a')?.state, 'completed');
});

test('a run whose window ends before any collector started fails clearly: nothing was recorded', { timeout: 60_000 }, async () => {
  // No node worker: the collector waits in node-a's queue until the stop cancels it unstarted.
  const script = new Script([{ 'node-a': { kind: 'pid', pid: 1 } }], untilCancelled);
  await withWorkers(env, script, [], async () => {
    const h = await startModel(env.client, pid('never-started'), {});
    // Stopped once the collector is scheduled (and so waits in the queue), not before the target is resolved.
    while (!(await h.describe()).raw.pendingActivities?.some((a) => a.activityType?.name === 'collect')) await new Promise((r) => setTimeout(r, 100));
    await h.signal(stopSignal);
    await assert.rejects(h.result(), (err: Error) => /no collector started on this node within the window/.test(String((err.cause as Error | undefined)?.message)));
  });
  assert.equal(script.merged, undefined, 'nothing to merge');
});
