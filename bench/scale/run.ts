// One modeling run over N KWOK nodes (test/k8s/fleet.ts), measured: a Markdown row per size.
// Needs make setup (the control plane, KWOK, varmor-s3). Progress on stderr.
// Run: npm run -s build && node dist/bench/scale/run.js [NODES...] [--processes P] [--duration 60s]
//   [--checkpoint 10s] [--resolve 30s] [--lease 6h] [--give-up 10m] [--churn JOIN,LEAVE,FAIL,LOSE] [--logs DIR]
// A compressed week (BENCHMARKS.md): --duration 600s --lease 21s --checkpoint 4s --resolve 10s.
import { ControlPlane } from '../../test/k8s/control-plane.js';
import { modelFleet } from '../../test/k8s/fleet.js';
import { startDevServer } from '../../test/workflows/env.js';

const args = process.argv.slice(2);
const flag = (name: string, def?: string) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? def : args.splice(i, 2)[1]!;
};
const processes = Number(flag('processes', '4'));
const duration = flag('duration', '60s')!;
const checkpointInterval = flag('checkpoint', '10s')!;
const resolveInterval = flag('resolve', '30s')!;
const leaseInterval = flag('lease');
const nodeGiveUp = flag('give-up');
const logDir = flag('logs');
const churnFlag = flag('churn');
const [join, leave, fail, lose] = (churnFlag ?? '0,0,0,0').split(',').map(Number);
const churn = churnFlag ? { join: join!, leave: leave!, fail: fail!, lose: lose! } : undefined;
const sizes = args.length ? args.map(Number) : [50, 200, 500, 1000];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const say = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

// The Temporal dev server writes its banner to stdout: the table is printed whole at the end.
const rows = [
  `window ${duration}, checkpoint ${checkpointInterval}, resolve ${resolveInterval}, lease ${leaseInterval ?? '6h'}${churn ? `, churn join ${join} leave ${leave} fail ${fail} lose ${lose}` : ''}`,
  '',
  '| nodes | worker processes | pods running | start → every collector running | window end → merge | merge | controller peak RSS | runs (history events each) | node activities (peak / s) | status query p50 / p99 | model | outcomes |',
  '|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|',
];
for (const nodes of sizes) {
  say(`${nodes} nodes ...`);
  const cp = await ControlPlane.start({ fakeNodes: true });
  const env = await startDevServer();
  try {
    const r = await modelFleet(cp, env, { nodes, processes, duration, checkpointInterval, resolveInterval, ...(leaseInterval ? { leaseInterval } : {}), ...(nodeGiveUp ? { nodeGiveUp } : {}), ...(churn ? { churn } : {}), ...(logDir ? { logDir } : {}), progress: say });
    const states = new Map<string, number>();
    for (const n of r.result.nodes) {
      const key = n.reason === 'left' || n.state === 'failed' ? `${n.state} (${n.reason})` : n.state;
      states.set(key, (states.get(key) ?? 0) + 1);
    }
    const row = `| ${nodes} | ${processes} | ${sec(r.podsRunningMs)} | ${r.collectorsRunningMs === undefined ? `${r.collectorsSeen}/${nodes} seen running` : sec(r.collectorsRunningMs)} | ${sec(r.stopMs)} | ${sec(r.mergeMs)} | ${mib(r.controllerPeakRssBytes)} MiB | ${r.historyLengths.length} (${r.historyLengths.join(', ')}) | ${r.activities.total} (${r.activities.peakPerSecond.toFixed(0)}) | ${pct(r.statusQueryMs, 0.5).toFixed(0)} / ${pct(r.statusQueryMs, 0.99).toFixed(0)} ms | ${(r.modelBytes / 1024).toFixed(0)} KiB, ${r.model.storageType} | ${[...states].map(([k, v]) => `${v} ${k}`).join(', ')} |`;
    say(row);
    rows.push(row);
  } catch (err) {
    say(`failed: ${(err as Error).stack}`);
    rows.push(`| ${nodes} | ${processes} | failed: ${(err as Error).message.split('\n')[0]} |`);
  } finally {
    await env.teardown();
    await cp.stop();
  }
}
process.stdout.write(`\n${rows.join('\n')}\n`);
// Worker processes and servers are stopped; nothing else should keep the process alive, but do not hang on it.
process.exit(0);
