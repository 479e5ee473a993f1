/** fast-check generators for behavior sets, shared by the property tests. */
import fc from 'fast-check';
import { CATEGORIES, type BehaviorSet, type Item } from '../../core/behavior.js';

const replica = fc.constantFrom('n1/files/a', 'n1/files/b', 'n2/files/a', 'n3/net/x');
const word = fc.constantFrom('read', 'write', 'append', 'create', 'exec', 'mmap', 'link', 'lock');
const key = fc.constantFrom('/etc/passwd', '/tmp/a', '/tmp/b', '/proc/1/status', 'openat', 'inet/stream/tcp', 'self');

export const item: fc.Arbitrary<Item> = fc
  .record(
    {
      first: fc.integer({ min: 0, max: 50 }),
      span: fc.integer({ min: 0, max: 50 }),
      n: fc.dictionary(replica, fc.integer({ min: 1, max: 9 }), { minKeys: 1 }),
      sets: fc.dictionary(fc.constantFrom('perms', 'flags'), fc.array(word, { maxLength: 4 })),
      owner: fc.boolean(),
      raw: fc.constantFrom('/tmp/a', '/tmp/b', '/tmp/c', '/proc/1/status'),
    },
    { requiredKeys: ['first', 'span', 'n'] },
  )
  .map(({ first, span, ...rest }) => ({ first, last: first + span, ...rest }));

export const behaviorSet: fc.Arbitrary<BehaviorSet> = fc.dictionary(
  fc.constantFrom(...CATEGORIES.slice(0, 4)),
  fc.dictionary(key, item, { maxKeys: 4 }),
) as fc.Arbitrary<BehaviorSet>;

/** JSON with object keys sorted, so equal sets compare equal whatever their insertion order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}
