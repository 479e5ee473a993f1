import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mergeInto, type BehaviorSet } from '../../core/behavior.js';
import { behaviorSet, canonical } from './arbitraries.js';

const clone = (s: BehaviorSet): BehaviorSet => structuredClone(s);
const merge = (...sets: BehaviorSet[]): BehaviorSet => sets.reduce((acc, s) => mergeInto(acc, clone(s)), {} as BehaviorSet);

test('mergeInto is commutative', () => {
  fc.assert(fc.property(behaviorSet, behaviorSet, (a, b) => canonical(merge(a, b)) === canonical(merge(b, a))), { numRuns: 500 });
});

test('mergeInto is associative', () => {
  fc.assert(
    fc.property(behaviorSet, behaviorSet, behaviorSet, (a, b, c) => canonical(merge(merge(a, b), c)) === canonical(merge(a, merge(b, c)))),
    { numRuns: 500 },
  );
});

test('mergeInto is idempotent: merging a set with itself, or replaying a batch, changes nothing', () => {
  fc.assert(
    fc.property(behaviorSet, behaviorSet, (a, b) => {
      const once = merge(a, b);
      return canonical(merge(a, a)) === canonical(merge(a)) && canonical(merge(a, b, b, a)) === canonical(once);
    }),
    { numRuns: 500 },
  );
});

test('mergeInto does not mutate its source', () => {
  fc.assert(
    fc.property(behaviorSet, behaviorSet, (a, b) => {
      const before = canonical(b);
      mergeInto(clone(a), b);
      return canonical(b) === before;
    }),
  );
});

test('the regression fast-check found: an item without raw must not decouple raw from first', () => {
  const a: BehaviorSet = { files: { '/tmp/x': { first: 1, last: 1, n: { r: 1 }, raw: '/tmp/a' } } };
  const b: BehaviorSet = { files: { '/tmp/x': { first: 0, last: 0, n: { s: 1 } } } };
  const c: BehaviorSet = { files: { '/tmp/x': { first: 2, last: 2, n: { t: 1 }, raw: '/tmp/c' } } };
  assert.equal(canonical(merge(merge(a, b), c)), canonical(merge(a, merge(b, c))));
  // b saw the key's own spelling first, so no oldPath remains.
  assert.equal(merge(a, b, c).files!['/tmp/x']!.raw, undefined);
});

test('any delivery order of a run of batches, with replays, gives the same set', () => {
  const batches = fc.array(behaviorSet, { minLength: 1, maxLength: 6 });
  fc.assert(
    fc.property(
      batches.chain((bs) => fc.tuple(fc.constant(bs), fc.shuffledSubarray(bs, { minLength: bs.length, maxLength: bs.length }), fc.subarray(bs))),
      ([inOrder, shuffled, replays]) => canonical(merge(...inOrder)) === canonical(merge(...shuffled, ...replays)),
    ),
    { numRuns: 300 },
  );
});
