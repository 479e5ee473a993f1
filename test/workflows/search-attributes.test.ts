import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { listCommand, startModel } from '../../cli/model.js';
import { ensureSearchAttributes, SEARCH_ATTRIBUTES } from '../../lib/search-attributes.js';
import type { ModelingResult } from '../../workflows/index.js';
import { Script, startDevServer, withWorkers } from './env.js';

// A bare `temporal server start-dev`: none of our search attributes registered.
let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

const registered = async () => Object.keys((await env.connection.operatorService.listSearchAttributes({ namespace: 'default' })).customAttributes ?? {});

test('on a bare dev server, model start registers the search attributes, and the run (which sets them) completes', { timeout: 60_000 }, async () => {
  const before = await registered();
  assert.ok(!before.includes('VarmorPhase'), 'the bare server already knows VarmorPhase: this test proves nothing');
  const script = new Script([{ 'node-a': { kind: 'pid', pid: 1 } }]);
  const result = await withWorkers(env, script, ['node-a'], async () => {
    const h = await startModel(env.client, { target: { kind: 'pid', node: 'node-a', pid: 1 }, name: 'attrs', duration: '1h' }, {});
    const r = (await h.result()) as ModelingResult;
    // what the Web UI shows at a glance: summary, details, the memo's target, the current details
    const d = await h.describe();
    assert.equal(d.memo?.target, 'pid:1');
    assert.equal(await d.staticSummary(), 'Modeling pid:1 for 1h');
    assert.match((await d.staticDetails()) ?? '', /\*\*model\*\* default\/attrs/);
    const meta = (await h.query('__temporal_workflow_metadata')) as { currentDetails?: string };
    assert.match(meta.currentDetails ?? '', /^\*\*completed\*\* · pid:1/);
    assert.match(meta.currentDetails ?? '', /\| node-a \| completed \|/);
    return r;
  });
  assert.equal(result.nodes[0]?.state, 'completed', 'every workflow task that set the attributes succeeded');
  const after = await registered();
  for (const a of SEARCH_ATTRIBUTES) assert.ok(after.includes(a), `${a} registered`);
  assert.deepEqual(await ensureSearchAttributes(env.connection, 'default'), [], 'a second time there is nothing to register');
  const listed = await env.client.workflow.list({ query: `VarmorWorkload = 'attrs'` });
  const ids: string[] = [];
  for await (const w of listed) ids.push(w.workflowId);
  assert.deepEqual(ids, ['varmor-modeler/default/attrs'], 'the run is found by its search attribute');
  const rows = JSON.parse(await listCommand(env.client, true)) as { id: string; phase: string }[];
  assert.equal(rows.find((r) => r.id === 'varmor-modeler/default/attrs')?.phase, 'completed', 'model list shows the phase the workflow set last');
});

test('where the attributes cannot be registered, one line names the fix', async () => {
  // A production namespace: listing works, registering is refused (the dev server has no authorization to refuse with).
  const refusing = {
    operatorService: {
      listSearchAttributes: async () => ({ customAttributes: { VarmorPhase: 2 } }),
      addSearchAttributes: async () => {
        throw new Error('7 PERMISSION_DENIED: Request unauthorized.\nmore detail');
      },
    },
  } as unknown as Parameters<typeof ensureSearchAttributes>[0];
  await assert.rejects(ensureSearchAttributes(refusing, 'prod'), {
    message:
      'Temporal namespace "prod" has no search attributes VarmorTargetNamespace, VarmorWorkload, VarmorConvergence and they cannot be registered from here (7 PERMISSION_DENIED: Request unauthorized.): run `temporal operator search-attribute create --namespace prod --name VarmorTargetNamespace --type Keyword --name VarmorWorkload --type Keyword --name VarmorConvergence --type Keyword` as an administrator, or start runs with "searchAttributes": false',
  });
});
