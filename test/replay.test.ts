import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { PACKAGE_ROOT } from '../lib/package.js';
import { WORKFLOW_BUNDLE } from '../workers/workers.js';

const dir = join(PACKAGE_ROOT, 'test', 'histories');

// Histories recorded with earlier workflow code (test/histories/record.ts): today's code must
// replay every one of them, or running workflows would break on a worker upgrade.
test('committed workflow histories replay deterministically', { timeout: 120_000 }, async () => {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length >= 3, `only ${files.length} histories in test/histories`);
  const histories = await Promise.all(files.map(async (f) => ({ workflowId: f, history: JSON.parse(await readFile(join(dir, f), 'utf8')) })));
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  assert.deepEqual(failures, []);
});
