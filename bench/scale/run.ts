// One modeling run over N KWOK nodes (test/k8s/fleet.ts), measured: a Markdown row per size.
// Needs make setup (the control plane, KWOK, varmor-s3). Progress on stderr.
// Run: npm run -s build && node dist/bench/scale/run.js [NODES...] [--processes P] [--duration 60s]
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ControlPlane } from '../../test/k8s/control-plane.js';
import { modelFleet } from '../../test/k8s/fleet.js';
import { TEMPORAL_CLI } from '../../test/workflows/env.js';

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? def : args.splice(i, 2)[1]!;
};
const processes = Number(flag('processes', '4'));
const duration = flag('duration', '60s');
const sizes = args.length ? args.map(Number) : [50, 200, 500, 1000];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

// The Temporal dev server writes its banner to stdout: the table is printed whole at the end.
const rows = ['| nodes | worker processes | pods running | start → every collector running | merge (window end → result) | controller peak RSS | history events | status query p50 / p99 | model | storage |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|'];
for (const nodes of sizes) {
  process.stderr.write(`${new Date().toISOString()} ${nodes} nodes ...\n`);
  const cp = await ControlPlane.start({ fakeNodes: true });
  const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: TEMPORAL_CLI } } });
  try {
    const r = await modelFleet(cp, env, { nodes, processes, duration, checkpointInterval: '10s', resolveInterval: '30s' });
    const done = r.result.nodes.filter((n) => n.state === 'completed').length;
    rows.push(
      `| ${nodes} | ${processes} | ${(r.podsRunningMs / 1000).toFixed(1)} s | ${(r.collectorsRunningMs / 1000).toFixed(1)} s | ${(r.mergeMs / 1000).toFixed(1)} s | ${mib(r.controllerPeakRssBytes)} MiB | ${r.historyLength} | ${pct(r.statusQueryMs, 0.5).toFixed(0)} / ${pct(r.statusQueryMs, 0.99).toFixed(0)} ms | ${(r.modelBytes / 1024).toFixed(0)} KiB, ${done}/${nodes} nodes | ${r.model.storageType} |`,
    );
  } catch (err) {
    rows.push(`| ${nodes} | ${processes} | failed: ${(err as Error).message.split('\n')[0]} |`);
  } finally {
    await env.teardown();
    await cp.stop();
  }
}
process.stdout.write(`\n${rows.join('\n')}\n`);
