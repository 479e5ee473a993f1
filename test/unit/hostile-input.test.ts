/**
 * Hostile input at the boundaries anyone may write to: the workflow input (Temporal CLI, Web UI)
 * and the batches in the object store (the decoder behind the seal, as a key holder's bug or a
 * stolen key would reach it). Every input gets a plan or a clear error, never a crash or a hang;
 * a batch that decodes merges and makes outputs. FUZZ_RUNS scales the run (docs/security.md has
 * the figures of a long one); each test prints its counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { BATCH_FORMAT, mergeCounters, mergeInto, type Batch, type BehaviorSet, type Counters } from '../../core/behavior.js';
import { buildOutputs } from '../../core/outputs.js';
import { decodeBatch } from '../../store/batches.js';
import { seal } from '../../store/sealed.js';
import { InputError, planFromInput } from '../../workflows/input.js';
import { testKeyring } from '../helpers.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const keyring = await testKeyring();

/** Values of every JSON shape, deep and wide, with unicode and prototype keys. */
const hostileKey = fc.oneof(fc.string({ unit: 'grapheme' }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', ''));
const hostile = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, -1, 1e308, -0, Number.MAX_SAFE_INTEGER + 2, 0.5),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.constantFrom('7d', '1s', '0s', '-5m', '1e9d', '9'.repeat(400), 'k8s:', 'k8s:ns/deployment/' + 'a'.repeat(300), '/etc/shadow', '\u0000', '\ud800'),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 5 }),
  ),
})).value;

function deep(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** An input for a failure message: deep ones cannot be stringified. */
function describe(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 300) ?? String(v);
  } catch {
    return `(${typeof v} too deep to print)`;
  }
}

const VALID = { target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' }, duration: '1h' };
const FIELDS = ['target', 'duration', 'name', 'namespace', 'checkpointInterval', 'resolveInterval', 'nodeGiveUp', 'store', 'context', 'writablePaths', 'searchAttributes', 'historyLimit', 'leaseInterval', 'argv', 'kind'];

/** A plan, or an InputError with one short line; anything else (a TypeError, RangeError, a hang) fails. */
function planOrClearError(input: unknown, counts: Record<string, number>): void {
  const started = performance.now();
  try {
    planFromInput(input);
    counts.accepted!++;
  } catch (err) {
    if (!(err instanceof InputError)) throw new Error(`crash on ${describe(input)}: ${(err as Error).stack}`);
    assert.ok(err.message.length > 0 && err.message.length < 600 && !err.message.includes('\n'), `unclear: ${err.message.slice(0, 200)}`);
    counts.refused!++;
  }
  const ms = performance.now() - started;
  if (ms >= 1000) assert.fail(`took ${ms} ms on ${describe(input)}`);
}

test('the workflow input: deep, huge, unicode, wrong types and prototype keys get a plan or a clear error', () => {
  const counts = { accepted: 0, refused: 0 };
  fc.assert(fc.property(hostile, (v) => planOrClearError(v, counts)), { numRuns: RUNS, seed: 18 });
  // Each field of a valid input replaced by anything, and the target's fields too.
  fc.assert(fc.property(fc.constantFrom(...FIELDS), hostile, fc.boolean(), (field, value, inTarget) => {
    const input = structuredClone(VALID) as Record<string, unknown>;
    if (inTarget) (input.target as Record<string, unknown>)[field] = value;
    else input[field] = value;
    planOrClearError(input, counts);
  }), { numRuns: RUNS, seed: 18 });
  const huge = 'a'.repeat(4 << 20);
  for (const input of [
    deep(100_000), { ...VALID, context: deep(50_000) }, { ...VALID, writablePaths: deep(50_000) },
    { ...VALID, name: huge }, { ...VALID, duration: huge }, { ...VALID, duration: '1'.repeat(100_000) + 's' }, { ...VALID, store: 's3://' + huge },
    { ...VALID, target: { kind: 'command', node: 'n', argv: Array.from({ length: 200_000 }, () => 'x') } },
    { ...VALID, target: { kind: 'k8s', spec: `k8s:${huge}` } }, { ...VALID, writablePaths: Array.from({ length: 100_000 }, (_, i) => `/data/${i}`) },
    JSON.parse('{"__proto__":{"target":1},"target":{"kind":"pid","node":"n","pid":1,"__proto__":{"kind":"command"}},"duration":"1h"}'),
    Object.create({ target: VALID.target, duration: '1h' }), // inherited fields are not fields
  ]) planOrClearError(input, counts);
  assert.equal(({} as Record<string, unknown>).target, undefined, 'Object.prototype polluted');
  process.stdout.write(`hostile workflow input: ${counts.accepted + counts.refused} tried, ${counts.accepted} accepted, ${counts.refused} refused clearly, 0 crashes\n`);
  assert.ok(counts.refused > RUNS, 'the fuzz reached the checks');
});

const at = 1_700_000_000_000;
function genuine(): Batch {
  return {
    format: BATCH_FORMAT, run: 'shop/web/r1', node: 'n1', collector: 'bpf', replica: 'n1/bpf/a1', seq: 0, arch: 'x86_64', target: 'k8s:shop/deployment/web', from: at, to: at + 1,
    behaviors: { files: { '/etc/hosts': { first: at, last: at, n: { 'n1/bpf/a1': 2 }, sets: { perms: ['read'] } } }, syscalls: { openat: { first: at, last: at, n: { 'n1/bpf/a1': 1 } } } },
    counters: { 'n1/bpf/a1': { records: 2 } },
  };
}

const KEY = 'runs/shop/web/r1/batches/n1/bpf/00000000.json.gz';
const sealedJson = (v: unknown) => seal(keyring, KEY, gzipSync(JSON.stringify(v)));

/** Decodes to a batch that merges and makes every output, or a clear "unreadable" error. */
function decodeMergeOrClearError(body: Uint8Array, counts: Record<string, number>): void {
  let batch: Batch;
  try {
    batch = decodeBatch(keyring, KEY, body);
  } catch (err) {
    assert.match((err as Error).message, new RegExp(`^(batch ${KEY} is unreadable: |${KEY}: )`), (err as Error).stack);
    counts.refused!++;
    return;
  }
  const behaviors: BehaviorSet = mergeInto(mergeInto({}, genuine().behaviors), batch.behaviors);
  const counters: Counters = mergeCounters({}, batch.counters);
  buildOutputs({ namespace: 'shop', name: 'web', target: 't', behaviors, counters, arches: ['x86_64'], window: { start: at, end: at + 1000 }, nodes: [], batches: 1, timings: {} });
  counts.merged!++;
}

test('batches behind the seal: random, truncated, bombs, wrong shapes and prototype keys decode and merge, or are refused clearly', { timeout: 300_000 }, () => {
  const counts = { merged: 0, refused: 0 };
  const valid = gzipSync(JSON.stringify(genuine()));
  // Truncated gzip at every length, and random bytes.
  for (let n = 0; n < valid.length; n++) decodeMergeOrClearError(seal(keyring, KEY, valid.subarray(0, n)), counts);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => decodeMergeOrClearError(seal(keyring, KEY, b), counts)), { numRuns: RUNS, seed: 18 });
  // Any JSON, and a genuine batch with any part replaced by anything.
  fc.assert(fc.property(hostile, (v) => decodeMergeOrClearError(sealedJson(v), counts)), { numRuns: RUNS, seed: 18 });
  const paths: ((b: Record<string, any>, v: unknown) => void)[] = [ // eslint-disable-line @typescript-eslint/no-explicit-any -- paths into untyped JSON
    (b, v) => (b.behaviors = v), (b, v) => (b.behaviors.files = v), (b, v) => (b.behaviors.files['/etc/hosts'] = v), (b, v) => (b.behaviors.files['/etc/hosts'].n = v),
    (b, v) => (b.behaviors.files['/etc/hosts'].sets = v), (b, v) => (b.behaviors.files['/etc/hosts'].first = v), (b, v) => (b.counters = v), (b, v) => (b.counters['n1/bpf/a1'] = v),
    (b, v) => (b.samples = v), (b, v) => (b.sessions = v), (b, v) => (b.seq = v), (b, v) => (b.position = v), (b, v) => (b.behaviors[typeof v === 'string' ? v : JSON.stringify(v) ?? 'x'] = {}),
  ];
  fc.assert(fc.property(fc.constantFrom(...paths), hostile, (set, v) => {
    const b = genuine() as unknown as Record<string, unknown>;
    set(b, v);
    decodeMergeOrClearError(sealedJson(b), counts);
  }), { numRuns: RUNS, seed: 18 });
  // Prototype keys as paths, replicas, counters and set names: no collector writes them, so the
  // batch is refused clearly; merged anyway (as the core's other callers might), they stay data.
  const proto = JSON.parse(`{"format":"${BATCH_FORMAT}","run":"r","node":"n","collector":"bpf","replica":"__proto__","seq":1,"arch":"x86_64","target":"t","from":1,"to":2,
    "behaviors":{"files":{"__proto__":{"first":1,"last":2,"n":{"__proto__":3},"sets":{"__proto__":["read"],"perms":["write"]}},"constructor":{"first":1,"last":2,"n":{"a":1}}},
    "syscalls":{"__proto__":{"first":1,"last":1,"n":{"b":1}}}},"counters":{"__proto__":{"__proto__":7,"records":1}}}`);
  assert.throws(() => decodeBatch(keyring, KEY, sealedJson(proto)), /unreadable: behaviors\.files: "__proto__" is not a key a collector writes/);
  decodeMergeOrClearError(sealedJson(proto), counts);
  const merged = mergeInto(mergeInto({}, proto.behaviors), proto.behaviors);
  assert.deepEqual(Object.keys(merged.files!).sort(), ['__proto__', 'constructor']);
  assert.deepEqual(Object.getPrototypeOf(merged.files), Object.prototype);
  assert.deepEqual({ ...Object.getOwnPropertyDescriptor(merged.files, '__proto__')!.value.n }, JSON.parse('{"__proto__":3}'));
  assert.deepEqual(mergeCounters({}, proto.counters), JSON.parse('{"__proto__":{"__proto__":7,"records":1}}'));
  assert.equal(({} as Record<string, unknown>).records, undefined, 'Object.prototype polluted');
  // Huge and deep: a gzip bomb (1 GiB of zeros), a 4 MiB path (PATH_MAX is 4 KiB), 100,000 levels of nesting, 50,000 items.
  const bomb = gzipSync(Buffer.alloc(1 << 30), { level: 9 });
  decodeMergeOrClearError(seal(keyring, KEY, bomb), counts);
  const big = genuine();
  big.behaviors.files = { ['/' + 'a'.repeat(4 << 20)]: { first: 1, last: 1, n: { r: 1 } } };
  decodeMergeOrClearError(sealedJson(big), counts);
  // Written as text: JSON.stringify itself cannot go 100,000 levels deep.
  const deepText = '{"a":['.repeat(50_000) + '1' + ']}'.repeat(50_000);
  for (const field of ['position', 'behaviors', 'counters']) {
    const text = JSON.stringify({ ...genuine(), [field]: 'DEEP' }).replace('"DEEP"', deepText);
    decodeMergeOrClearError(seal(keyring, KEY, gzipSync(text)), counts);
  }
  const wide = genuine();
  wide.behaviors.files = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`/srv/${i}`, { first: at, last: at, n: { r: 1 } }]));
  decodeMergeOrClearError(sealedJson(wide), counts);
  process.stdout.write(`hostile batches: ${counts.merged + counts.refused} tried, ${counts.merged} decoded and merged, ${counts.refused} refused clearly, 0 crashes\n`);
  assert.ok(counts.refused > RUNS && counts.merged > RUNS / 10, JSON.stringify(counts));
});
