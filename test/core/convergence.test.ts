import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convergence } from '../../core/convergence.js';
import type { Item } from '../../core/behavior.js';

const at = (first: number): Item => ({ first, last: first, n: { r: 1 } });

test('discovery curve per interval, time since the last new behavior, converged after N quiet intervals', () => {
  const c = convergence(
    { files: { a: at(1000), b: at(1500), c: at(12_000) }, syscalls: { read: at(1000), write: at(55_000) } },
    { start: 0, end: 100_000, interval: 10_000 },
  );
  assert.equal(c.interval, 10_000);
  assert.deepEqual(c.curve, [3, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.equal(c.lastNew, new Date(55_000).toISOString());
  assert.equal(c.quietFor, 45_000);
  assert.equal(c.quietIntervals, 4);
  assert.equal(c.status, 'converged');
  assert.deepEqual(c.categories.files!.curve, [2, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(c.categories.files!.quietIntervals, 8);
  assert.equal(c.categories.syscalls!.status, 'converged');
});

test('still converging while the last intervals bring new behaviors; empty without behaviors', () => {
  const c = convergence({ files: { a: at(1000), b: at(95_000) } }, { start: 0, end: 100_000, quietIntervals: 2 });
  assert.equal(c.curve.length, 20);
  assert.equal(c.status, 'converging');
  assert.equal(c.quietIntervals, 0);
  const empty = convergence({}, { start: 0, end: 10 });
  assert.equal(empty.status, 'empty');
  assert.deepEqual(empty.categories, {});
});

test('behaviors outside the window land in its first or last interval; unknown times are ignored', () => {
  const c = convergence({ files: { early: at(5), late: at(200), unknown: at(0) } }, { start: 10, end: 110, interval: 50 });
  assert.deepEqual(c.curve, [1, 1]);
  assert.equal(c.total, 2);
});

test('learning: counts, first-seen times and curves per category, numbers only', async () => {
  const { learning } = await import('../../core/convergence.js');
  const item = (first: number) => ({ first, last: first, n: { 'n/bpf/a': 1 } });
  const l = learning({ files: { '/a': item(1000), '/b': item(5000) }, syscalls: { read: item(2000) } }, { start: 0, end: 20_000 });
  assert.deepEqual(l.counts, { files: 2, syscalls: 1 });
  assert.deepEqual(l.lastNew, { files: 5000, syscalls: 2000 });
  assert.equal(l.newest, 5000);
  assert.equal(l.curves.files!.length, 20);
  assert.equal(l.curves.files![1], 1);
  assert.equal(l.curves.files![5], 1);
  assert.ok(!JSON.stringify(l).includes('/a'), 'no behavior leaves the activity');
});
