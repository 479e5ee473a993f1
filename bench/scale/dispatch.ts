// Activities per second across many node queues, with nothing else running: N node workers (one
// SDK Worker and one activity poll each, as a node agent: workers/workers.ts) in this process, one
// workflow scheduling one activity on every queue at once, ROUNDS rounds; against the dev server
// with and without our frontend.namespaceCount (embedded/temporal-server.ts).
// Run: npm run -s build && node dist/bench/scale/dispatch.js [N...] [--rounds R] [--default-limits]
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { DEV_SERVER_LIMITS } from '../../embedded/temporal-server.js';
import { startDevServer } from '../../test/workflows/env.js';
import { NODE_WORKER_OPTIONS } from '../../workers/workers.js';

const args = process.argv.slice(2);
const take = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args.splice(i, 2)[1];
};
const rounds = Number(take('rounds') ?? 5);
const defaults = args.includes('--default-limits') ? (args.splice(args.indexOf('--default-limits'), 1), true) : false;
const sizes = args.length ? args.map(Number) : [150, 500, 1000];
// test/workflows/env.ts installs the SDK runtime (errors only).
const say = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

const rows = ['| node queues | server limits | round 1 (all started → all done) | later rounds, median | activities / s (later rounds) |', '|---:|---|---:|---:|---:|'];
const workflowBundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./fan-out-workflow.js', import.meta.url)), logger: new DefaultLogger('ERROR') });
for (const n of sizes) {
  const env = await startDevServer(defaults ? [] : DEV_SERVER_LIMITS);
  const queues = Array.from({ length: n }, (_, i) => `varmor-node-sim-${i}`);
  const workers = [];
  for (const taskQueue of queues) workers.push(await Worker.create({ connection: env.nativeConnection, taskQueue, activities: { ping: async () => Date.now() }, ...NODE_WORKER_OPTIONS }));
  workers.push(await Worker.create({ connection: env.nativeConnection, taskQueue: 'fan-out', workflowBundle }));
  const running = workers.map((w) => w.run());
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = Date.now();
    await env.client.workflow.execute('fanOut', { taskQueue: 'fan-out', workflowId: `fan-out-${r}`, args: [queues, 1], workflowExecutionTimeout: '15 minutes' });
    times.push(Date.now() - t0);
    say(`${n} queues, round ${r + 1}: ${times.at(-1)} ms`);
  }
  const later = times.slice(1).sort((a, b) => a - b);
  const median = later[later.length >> 1] ?? NaN;
  rows.push(`| ${n} | ${defaults ? 'dev server defaults' : DEV_SERVER_LIMITS[1]} | ${(times[0]! / 1000).toFixed(1)} s | ${median} ms | ${((n / median) * 1000).toFixed(0)} |`);
  for (const w of workers) w.shutdown();
  await Promise.all(running);
  await env.teardown();
}
process.stdout.write(`\n${rows.join('\n')}\n`);
