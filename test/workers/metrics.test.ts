import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { openStore } from '../../store/open.js';
import { CONTROLLER_QUEUE } from '../../workflows/queues.js';
import type { ModelingInput } from '../../workflows/input.js';
import type { ModelingResult } from '../../workflows/modeling.js';
import { bpfUnavailable, daemon, freePort, tempDir, until } from '../helpers.js';
import { startDevServer } from '../workflows/env.js';

/**
 * The Prometheus project's own text-format parser (prom2json, on prometheus/common's expfmt; make
 * setup builds it): what a Prometheus server reads, not a pattern of ours.
 */
const PROM2JSON = join(PACKAGE_ROOT, '.tools', 'bin', 'prom2json');

/** prom2json's output: one entry per metric family, values as strings. */
interface PrometheusFamily {
  name: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

function parsePrometheusText(text: string): PrometheusFamily[] {
  return JSON.parse(execFileSync(PROM2JSON, [], { input: text, encoding: 'utf8' })) as PrometheusFamily[];
}

/** GET http://127.0.0.1:PORT/PATH. */
async function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

/** The families a /metrics endpoint serves, in the text format (version 0.0.4) and parsed as Prometheus does. */
async function scrape(port: number): Promise<PrometheusFamily[]> {
  const r = await get(port, '/metrics');
  assert.equal(r.status, 200, r.body);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(r.body);
}

/** The value of the one sample of `name` whose labels include `labels` (a histogram: its count); undefined when there is none. */
function value(families: PrometheusFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((f) => f.name === name);
  const samples = (family?.metrics ?? []).filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  assert.ok(samples.length <= 1, `${name}${JSON.stringify(labels)} matches ${samples.length} samples`);
  const s = samples[0];
  return s === undefined ? undefined : Number(family!.type === 'HISTOGRAM' ? s.count : s.value);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

test('a controller and a node agent serve their metrics, probes and the SDK metrics over HTTP while they model a command', { skip: bpfUnavailable(), timeout: 240_000 }, async (t) => {
  const server = await startDevServer();
  const node = `metrics-${process.pid}`;
  // Both workers share the state home: its keyring (grants, seals) and its file store.
  const env = { VARMOR_MODELER_HOME: await tempDir('home'), TEMPORAL_ADDRESS: server.address, NODE_NAME: node, VARMOR_MODELER_PIN_ROOT: '' };
  const [ctl, ctlSdk, agent, agentSdk] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const workers: ChildProcess[] = [];
  try {
    // The controller as the chart starts it (the ports from its environment), the node agent by flags.
    workers.push(await daemon(['worker', '--role', 'controller'], { ...env, VARMOR_MODELER_METRICS_PORT: `127.0.0.1:${ctl}`, VARMOR_MODELER_SDK_METRICS_PORT: `127.0.0.1:${ctlSdk}` }));
    workers.push(await daemon(['worker', '--role', 'node', '--allow-launch', '--metrics-port', `127.0.0.1:${agent}`, '--sdk-metrics-port', `127.0.0.1:${agentSdk}`], env));

    for (const port of [ctl, agent]) assert.deepEqual(await get(port, '/healthz'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' });
    // The node agent is ready once its tracer has loaded (a check at its start).
    await until('the node agent to be ready', async () => (await get(agent, '/readyz')).status === 200, 60_000);
    assert.equal((await get(ctl, '/readyz')).status, 200);
    assert.equal((await get(agent, '/nothing')).status, 404);

    const before = await scrape(agent);
    assert.equal(value(before, 'varmor_modeler_collectors_running'), 0);
    assert.equal(value(before, 'varmor_modeler_checkpoints_written_total', { collector: 'bpf' }), 0);

    // New executables 2 s apart with a 1 s checkpoint interval: several batches, folded at the end.
    const argv = ['sh', '-c', 'cat /etc/hostname >/dev/null; sleep 2; ls / >/dev/null; sleep 2; date >/dev/null; sleep 1'];
    const input: ModelingInput = { target: { kind: 'command', node, argv }, name: 'metrics', duration: '60s', checkpointInterval: '1s' };
    const handle = await server.client.workflow.start('behaviorModeling', { taskQueue: CONTROLLER_QUEUE, workflowId: 'varmor-modeler/default/metrics', args: [input] });
    await until('the collector to count as running', async () => value(await scrape(agent), 'varmor_modeler_collectors_running') === 1, 60_000);
    const result = (await handle.result()) as ModelingResult;
    const report = JSON.parse(new TextDecoder().decode((await (await openStore(result.store)).get(result.outputs['report.json']!))!)) as { counters: Record<string, number> };

    const n = await scrape(agent);
    const written = value(n, 'varmor_modeler_checkpoints_written_total', { collector: 'bpf' })!;
    t.diagnostic(`node agent: ${written} bpf checkpoints, ${value(n, 'varmor_modeler_tracer_records_total')} tracer records`);
    assert.equal(value(n, 'varmor_modeler_collectors_running'), 0);
    assert.ok(written >= 2, `bpf checkpoints written: ${written}`);
    assert.equal(value(n, 'varmor_modeler_checkpoint_failures_total', { collector: 'bpf' }), 0);
    assert.equal(value(n, 'varmor_modeler_checkpoints_failing', { collector: 'bpf' }), 0);
    assert.equal(value(n, 'varmor_modeler_compactions_total', { collector: 'bpf' }), 1, 'the lease end folds the batches into one snapshot');
    assert.ok(value(n, 'varmor_modeler_compacted_objects_total', { collector: 'bpf' })! >= written, 'the snapshot replaces every batch');
    // The tracer's counters, as the report counts them.
    assert.ok(report.counters.records! > 0);
    assert.equal(value(n, 'varmor_modeler_tracer_records_total'), report.counters.records);
    assert.equal(value(n, 'varmor_modeler_tracer_lost_records_total'), report.counters.ringbuf_dropped);
    for (const reason of ['tasks_full', 'mntns_full', 'dedup_full', 'path_failed']) assert.equal(value(n, 'varmor_modeler_tracer_drops_total', { reason }), report.counters[reason], reason);
    assert.ok(value(n, 'process_resident_memory_bytes')! > 0, 'process metrics');
    // The controller's metrics are its own: merges, no collectors.
    assert.equal(value(n, 'varmor_modeler_merge_duration_seconds', { activity: 'mergeRun', outcome: 'ok' }), undefined);

    const c = await scrape(ctl);
    assert.equal(value(c, 'varmor_modeler_merge_duration_seconds', { activity: 'mergeRun', outcome: 'ok' }), 1);
    assert.equal(value(c, 'varmor_modeler_merge_duration_seconds', { activity: 'mergeRun', outcome: 'failed' }), 0);
    const merge = c.find((f) => f.name === 'varmor_modeler_merge_duration_seconds')!.metrics.find((s) => s.labels?.activity === 'mergeRun' && s.labels.outcome === 'ok')!;
    assert.ok(Number(merge.sum) > 0 && Number(merge.sum) < 60, `merge took ${merge.sum} s`);
    assert.equal(merge.buckets!['+Inf'], '1');
    assert.equal(value(c, 'varmor_modeler_checkpoints_written_total', { collector: 'bpf' }), undefined);

    // The Temporal SDK's own worker metrics, each on its port: the activities and workflows each ran.
    const sdkNode = await scrape(agentSdk);
    const sdkCtl = await scrape(ctlSdk);
    t.diagnostic(`SDK families: node agent ${sdkNode.length}, controller ${sdkCtl.length}`);
    assert.ok(sdkNode.every((f) => f.name.startsWith('temporal_')), sdkNode.map((f) => f.name).join(' '));
    assert.ok(value(sdkNode, 'temporal_activity_execution_latency', { activity_type: 'collect', task_queue: `varmor-modeler-node-${node}` })! >= 1);
    assert.ok(value(sdkCtl, 'temporal_activity_execution_latency', { activity_type: 'mergeRun' })! >= 1);
    assert.ok(value(sdkCtl, 'temporal_workflow_completed', { workflow_type: 'behaviorModeling' })! >= 1);
  } finally {
    for (const w of workers) await stop(w);
    await server.teardown();
  }
});

test('a node agent whose tracer cannot load is alive but not ready, and says why', { timeout: 120_000 }, async () => {
  const server = await startDevServer();
  const port = await freePort();
  const env = { VARMOR_MODELER_HOME: await tempDir('home'), TEMPORAL_ADDRESS: server.address, NODE_NAME: 'no-tracer', VARMOR_MODELER_TRACER: '/nonexistent/varmor-tracer', VARMOR_MODELER_METRICS_PORT: `127.0.0.1:${port}` };
  const agent = await daemon(['worker', '--role', 'node'], env);
  try {
    assert.equal((await get(port, '/healthz')).status, 200);
    let ready = await get(port, '/readyz');
    await until('the load check to finish', async () => !/checking/.test((ready = await get(port, '/readyz')).body), 30_000);
    assert.equal(ready.status, 503);
    assert.match(ready.body, /^BPF tracer: BPF tracer binary \/nonexistent\/varmor-tracer is missing/);
    // Still not ready later (the check is made again, at most every 30 s).
    assert.equal((await get(port, '/readyz')).status, 503);
  } finally {
    await stop(agent);
    await server.teardown();
  }
});
