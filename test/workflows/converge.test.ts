import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startModel, statusCommand } from '../../cli/model.js';
import { stopSignal, type ModelingResult } from '../../workflows/index.js';
import { until } from '../helpers.js';
import { Script, startDevServer, untilCancelled, withWorkers } from './env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

const base = { searchAttributes: false, target: { kind: 'pid' as const, node: 'n1', pid: 1 }, checkpointInterval: '1s' };

test('convergeAfter: the workflow reads the learning curve (numbers only) and ends the window as converged; status shows the curve and why it ended', { timeout: 60_000 }, async () => {
  const script = new Script([{ n1: { kind: 'pid', pid: 1 } }], untilCancelled);
  await withWorkers(env, script, ['n1'], async () => {
    const h = await startModel(env.client, { ...base, name: 'conv', duration: '1h', convergeAfter: '2s' }, {});
    const r = (await h.result()) as ModelingResult;
    assert.equal(r.ended, 'converged');
    assert.equal(script.merged?.window.ended, 'converged', 'the merge (and so the report) is told why');
    assert.ok(script.merged!.window.end - script.merged!.window.start < 60_000, 'long before the hour');
    assert.ok(script.learned >= 1);
    const shown = await statusCommand(env.client, h.workflowId, false);
    assert.match(shown, /ended: converged/);
    assert.match(shown, /CATEGORY\s+BEHAVIORS\s+CURVE\s+LAST NEW/);
    assert.match(shown, /syscalls\s+1\s+█··\s/);
    // the Web UI's current details show the same curve
    const meta = (await h.query('__temporal_workflow_metadata')) as { currentDetails?: string };
    assert.match(meta.currentDetails ?? '', /\| syscalls \| 1 \| █·· \| \d{4}-/);
  });
});

test('a window stopped by a user says so; one without convergeAfter never reads the curve', { timeout: 60_000 }, async () => {
  const script = new Script([{ n1: { kind: 'pid', pid: 1 } }], untilCancelled);
  await withWorkers(env, script, ['n1'], async () => {
    const h = await startModel(env.client, { ...base, name: 'stopped', duration: '1h' }, {});
    await new Promise((r) => setTimeout(r, 1500));
    await h.signal(stopSignal);
    const r = (await h.result()) as ModelingResult;
    assert.equal(r.ended, 'stopped');
    assert.equal(script.learned, 0);
  });
});

test('the convergence state is a search attribute: temporal workflow list --query finds the converged runs', { timeout: 60_000 }, async () => {
  const script = new Script([{ n1: { kind: 'pid', pid: 1 } }], untilCancelled);
  await withWorkers(env, script, ['n1'], async () => {
    const h = await startModel(env.client, { ...base, searchAttributes: true, name: 'conv-listed', duration: '1h', convergeAfter: '1s' }, {});
    assert.equal(((await h.result()) as ModelingResult).ended, 'converged');
    await until('the run listed as converged', async () => {
      const ids: string[] = [];
      for await (const w of env.client.workflow.list({ query: `VarmorConvergence = 'converged'` })) ids.push(w.workflowId);
      return ids.includes(h.workflowId);
    }, 30_000);
  });
});
