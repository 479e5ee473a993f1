// Build step: bundles the workflow code once (webpack), so workers start in milliseconds and
// replay tests load the exact code the workers run.
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { WORKFLOW_BUNDLE } from './workers.js';

const { code } = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('../workflows/index.js', import.meta.url)),
  logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
});
await writeFile(WORKFLOW_BUNDLE, code);
