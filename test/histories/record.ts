// Records workflow histories for the replay test (test/replay.test.ts). Run by hand after
// `make build`: node dist/test/histories/record.js [TAG]. With a TAG (e.g. a patch the workflow
// gained) the files are <scenario>-<TAG>-<run>.json, beside the older ones, which stay: today's code
// must replay those too. Without one, the untagged files are re-recorded: only for a deliberately
// incompatible workflow change.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startModel } from '../../cli/model.js';
import { PACKAGE_ROOT } from '../../lib/package.js';
import type { ModelingInput } from '../../workflows/input.js';
import { extendUpdate, snapshotUpdate, statusQuery, stopSignal } from '../../workflows/index.js';
import { run } from '../helpers.js';
import { Script, startDevServer, TEMPORAL_CLI, untilCancelled, withWorkers } from '../workflows/env.js';

const dir = join(PACKAGE_ROOT, 'test', 'histories');
const tag = process.argv[2] ? `-${process.argv[2]}` : '';
const env = await startDevServer();

async function save(name: string, workflowId: string): Promise<void> {
  let i = 0;
  for await (const r of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    // The Temporal CLI's JSON is the format replay (and `temporal workflow show`) users know.
    const shown = await run(TEMPORAL_CLI, ['workflow', 'show', '--address', env.address, '-w', workflowId, '-r', r.runId, '--output', 'json']);
    if (shown.code !== 0) throw new Error(shown.stderr);
    await writeFile(join(dir, `${name}${tag}-${i++}.json`), shown.stdout);
  }
}

const base = { searchAttributes: false } satisfies Partial<ModelingInput>;

// A command that exits on its own.
await withWorkers(env, new Script([{ n1: { kind: 'command', argv: ['true'] } }]), ['n1'], async () => {
  const h = await startModel(env.client, { ...base, target: { kind: 'command', node: 'n1', argv: ['true'] }, duration: '1m' }, {});
  await h.result();
  await save('command-exits', h.workflowId);
});

// A running process, extended, then stopped early.
await withWorkers(env, new Script([{ n1: { kind: 'pid', pid: 1 } }], untilCancelled), ['n1'], async () => {
  const h = await startModel(env.client, { ...base, target: { kind: 'pid', node: 'n1', pid: 1 }, duration: '1h' }, {});
  await h.executeUpdate(extendUpdate, { args: ['1h'] });
  await new Promise((r) => setTimeout(r, 1500));
  await h.signal(stopSignal);
  await h.result();
  await save('pid-extend-stop', h.workflowId);
});

// A Kubernetes workload moving between nodes, one node lost, continuing as new.
const on = (id: string) => ({ kind: 'containers' as const, ids: [id] });
await withWorkers(env, new Script([{ a: on('1') }, { a: on('1'), b: on('2') }, { b: on('3'), lost: on('4') }], untilCancelled), ['a', 'b'], async () => {
  const h = await startModel(env.client, { ...base, target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' }, duration: '20s', resolveInterval: '1s', nodeGiveUp: '3s', historyLimit: 100 }, {});
  await h.result();
  await save('k8s-follow', h.workflowId);
});

// A snapshot taken mid-window, then stopped.
await withWorkers(env, new Script([{ n1: { kind: 'pid', pid: 1 } }], untilCancelled), ['n1'], async () => {
  const h = await startModel(env.client, { ...base, target: { kind: 'pid', node: 'n1', pid: 1 }, name: 'snapshot', duration: '1h' }, {});
  for (let i = 0; i < 50 && (await h.query(statusQuery)).phase !== 'modeling'; i++) await new Promise((r) => setTimeout(r, 100));
  await h.executeUpdate(snapshotUpdate);
  await h.signal(stopSignal);
  await h.result();
  await save('pid-snapshot', h.workflowId);
});

// A window that ends once nothing new came for convergeAfter, long before its duration.
await withWorkers(env, new Script([{ n1: { kind: 'pid', pid: 1 } }], untilCancelled), ['n1'], async () => {
  const h = await startModel(env.client, { ...base, searchAttributes: true, target: { kind: 'pid', node: 'n1', pid: 1 }, name: 'converge', duration: '1h', checkpointInterval: '1s', convergeAfter: '2s' }, {});
  await h.result();
  await save('pid-converge', h.workflowId);
});

await env.teardown();
