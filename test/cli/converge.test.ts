import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { bpfUnavailable, cli, tempDir } from '../helpers.js';

const skip = bpfUnavailable();

interface Report {
  window: { seconds: number; ended?: string };
  counts: Record<string, number>;
}

async function recordReport(argv: string[], flags: string[]): Promise<{ report: Report; markdown: string }> {
  const home = await tempDir('home');
  const out = await tempDir('out');
  const r = await cli(['record', ...flags, '--checkpoint-interval', '1s', '--out', out, '--', ...argv], { VARMOR_MODELER_HOME: home, TEMPORAL_ADDRESS: undefined });
  assert.equal(r.code, 0, `record failed: ${r.stderr}`);
  return { report: JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report, markdown: await readFile(join(out, 'report.md'), 'utf8') };
}

test('a workload that stops doing new things ends its window as converged, long before the duration', { skip, timeout: 180_000 }, async () => {
  // starts, reads a file, then only sleeps: nothing new after the first second
  const { report, markdown } = await recordReport(['sh', '-c', 'cat /etc/hostname > /dev/null; sleep 120'], ['--duration', '120s', '--converge-after', '2s']);
  assert.equal(report.window.ended, 'converged');
  assert.ok(report.window.seconds < 60, `the window lasted ${report.window.seconds} s of 120`);
  assert.ok((report.counts.executions ?? 0) >= 2, 'what it did before it went quiet is in the model');
  assert.match(markdown, /ended: converged/);
});

test('a workload that keeps discovering runs to the duration', { skip, timeout: 180_000 }, async () => {
  const dir = await tempDir('discover');
  try {
    // a new file every half second: something new in every quiet period
    const { report } = await recordReport(['sh', '-c', `i=0; while [ $i -lt 200 ]; do i=$((i+1)); : > ${dir}/f$i; sleep 0.5; done`], ['--duration', '8s', '--converge-after', '2s']);
    assert.equal(report.window.ended, 'duration');
    assert.ok(report.window.seconds >= 7, `the window lasted only ${report.window.seconds} s`);
    assert.ok((report.counts.files ?? 0) >= 10, `files: ${report.counts.files}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('minDuration holds a converged window open; without convergeAfter it is refused', { skip, timeout: 180_000 }, async () => {
  const { report } = await recordReport(['sh', '-c', 'cat /etc/hostname > /dev/null; sleep 120'], ['--duration', '120s', '--converge-after', '1s', '--min-duration', '8s']);
  assert.equal(report.window.ended, 'converged');
  assert.ok(report.window.seconds >= 8 && report.window.seconds < 60, `the window lasted ${report.window.seconds} s`);
  const home = await tempDir('home');
  const refused = await cli(['record', '--duration', '10s', '--min-duration', '5s', '--', 'true'], { VARMOR_MODELER_HOME: home, TEMPORAL_ADDRESS: undefined });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /minDuration: only with convergeAfter/);
});
