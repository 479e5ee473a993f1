import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../core/duration.js';

test('parses the units users write', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('12'), 12_000);
});

test('rejects what is not a duration', () => {
  for (const bad of ['', 'soon', '10 s', '5x', '1h-5m', '-3s']) assert.throws(() => parseDuration(bad), /invalid duration/);
});

test('formats for people', () => {
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(90_061_000), '1d1h1m1s');
  assert.equal(formatDuration(400), '400ms');
});
