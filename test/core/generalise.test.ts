import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generalise } from '../../core/generalise.js';
import { dynamicResult } from '../../core/armorprofilemodel.js';
import { isWrite } from '../../core/perms.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';

const at = (first: number, perms: string[], replica = 'n1/files/0'): Item => ({ first, last: first, n: { [replica]: 1 }, sets: { perms } });
const files = (entries: Record<string, Item>): BehaviorSet => ({ files: entries });
const keysOf = (s: BehaviorSet) => Object.keys(s.files ?? {}).sort();

test('vArmor rules: /proc/<pid>, task ids, /tmp, service-account token directory, multiarch libraries', () => {
  const { set, applied } = generalise(
    files({
      '/proc/1234/status': at(1, ['read']),
      '/proc/1/task/77/stat': at(2, ['read']),
      '/tmp/cache/x.json': at(3, ['read']),
      '/var/run/secrets/kubernetes.io/serviceaccount/..2024_01_01_10_00_00.123/token': at(4, ['read']),
      '/run/secrets/kubernetes.io/serviceaccount/..data/ca.crt': at(5, ['read']),
      '/usr/lib/x86_64-linux-gnu/libssl.so.3': at(6, ['read', 'mmap']),
      '/lib/aarch64-linux-gnu/libc.so.6': at(7, ['read']),
    }),
  );
  assert.deepEqual(keysOf(set), [
    '/lib/aarch64-linux-gnu/**',
    '/proc/*/status',
    '/proc/*/task/*/stat',
    '/run/secrets/kubernetes.io/serviceaccount/**',
    '/tmp/**',
    '/usr/lib/x86_64-linux-gnu/**',
    '/var/run/secrets/kubernetes.io/serviceaccount/**',
  ]);
  assert.equal(set.files!['/proc/*/status']!.raw, '/proc/1234/status');
  assert.deepEqual(applied.map((r) => r.id), ['multiarch-lib', 'proc-pid', 'sa-token', 'tmp']);
  assert.ok(applied.every((r) => r.description.length > 0 && r.examples.length > 0));
});

test('random-looking components become *, explained by rule id', () => {
  const cases: [string, string, string][] = [
    ['/var/lib/kubelet/pods/0b4a6e5c-1f2d-4c3b-9a8e-7f6d5c4b3a21/volumes', '/var/lib/kubelet/pods/*/volumes', 'uuid'],
    ['/var/lib/docker/containers/3f9a2b1c8d7e6f5a/config.json', '/var/lib/docker/containers/*/config.json', 'hex-id'],
    ['/blobs/sha256:9f86d081884c7d65/data', '/blobs/sha256:*/data', 'hex-id'],
    ['/var/log/app-20240101.log', '/var/log/app-*.log', 'hex-id'],
    ['/data/10.0.0.12/log', '/data/*/log', 'ip-address'],
    ['/data/fe80:0:0:0:1ff:fe23:4567:890a/log', '/data/*/log', 'ip-address'],
    ['/dev/pts/3', '/dev/pts/*', 'number'],
    ['/var/cache/app/Xa9bQ2kLmN/file', '/var/cache/app/*/file', 'base64-token'],
  ];
  for (const [raw, pattern, id] of cases) {
    const { set, applied } = generalise(files({ [raw]: at(1, ['read']) }));
    assert.deepEqual(keysOf(set), [pattern], raw);
    assert.deepEqual(applied.map((r) => r.id), [id], raw);
  }
});

test('ordinary names stay as they are', () => {
  const plain = ['/usr/lib/libssl.so.3', '/etc/passwd', '/usr/bin/python3', '/opt/deadbeef/x', '/opt/app/config-v2', '/srv/a::b', '/etc/ld.so.cache'];
  const { set, applied } = generalise(files(Object.fromEntries(plain.map((p) => [p, at(1, ['read'])]))));
  assert.deepEqual(keysOf(set), [...plain].sort());
  assert.deepEqual(applied, []);
  assert.ok(Object.values(set.files!).every((i) => i.raw === undefined));
});

test('writes are never widened beyond the directory they were seen in', () => {
  const { set } = generalise(
    files({
      '/tmp/a/b.txt': at(1, ['read', 'write']),
      '/tmp/c': at(2, ['create']),
      '/var/run/secrets/kubernetes.io/serviceaccount/..data/x': at(3, ['write']),
      '/usr/lib/x86_64-linux-gnu/libfoo.so': at(4, ['read', 'write']),
    }),
  );
  assert.deepEqual(set.files!['/tmp/**']!.sets!.perms, ['read']);
  assert.deepEqual(set.files!['/tmp/a/*']!.sets!.perms, ['write']);
  assert.deepEqual(set.files!['/tmp/*']!.sets!.perms, ['create']);
  assert.deepEqual(set.files!['/var/run/secrets/kubernetes.io/serviceaccount/..data/*']!.sets!.perms, ['write']);
  // A written library is no read-only access: it keeps its own path.
  assert.ok(set.files!['/usr/lib/x86_64-linux-gnu/libfoo.so']);
});

const segment = fc.constantFrom('tmp', 'a', 'b', '1234', 'Xa9bQ2kLmN', 'etc', 'proc', 'lib', 'x86_64-linux-gnu', 'serviceaccount', 'f*', 'deadbeef99');
const rawPath = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => '/' + s.join('/'));
const perms = fc.subarray(['read', 'write', 'append', 'create', 'mmap', 'lock', 'rename']);

test('property: every write-bearing pattern has no ** and its directory matches a directory written in', () => {
  fc.assert(
    fc.property(fc.dictionary(rawPath, perms.map((p) => at(1, p))), (entries) => {
      const { set } = generalise(files(entries));
      const writtenDirs = Object.entries(entries)
        .filter(([, i]) => i.sets!.perms!.some(isWrite))
        .map(([p]) => p.slice(0, p.lastIndexOf('/')));
      for (const [key, item] of Object.entries(set.files ?? {})) {
        if (!item.sets?.perms?.some(isWrite)) continue;
        if (key.includes('**')) return false;
        const dir = key.slice(0, key.lastIndexOf('/'));
        const re = new RegExp('^' + dir.replace(/\\\*/g, '\u0001').replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]+').replace(/\u0001/g, '\\*') + '$');
        if (!writtenDirs.some((d) => re.test(d))) return false;
      }
      return true;
    }),
    { numRuns: 400 },
  );
});

test('items collapsing to one pattern merge: counts per replica, earliest first, earliest raw', () => {
  const { set } = generalise(
    files({
      '/proc/20/status': { ...at(5, ['read'], 'n2/files/0'), n: { 'n2/files/0': 3 } },
      '/proc/10/status': { ...at(2, ['read'], 'n1/files/0'), n: { 'n1/files/0': 4 } },
    }),
  );
  const item = set.files!['/proc/*/status']!;
  assert.deepEqual(item.n, { 'n1/files/0': 4, 'n2/files/0': 3 });
  assert.equal(item.first, 2);
  assert.equal(item.raw, '/proc/10/status');
});

test('glob characters in real names are escaped, raw kept as oldPath, model escapes untouched', () => {
  const { set } = generalise(files({ '/data/a*b?[c]{d}': at(1, ['read']), '/data/\\xffAbc12345': at(2, ['read']), '/data/back\\\\slash': at(3, ['read']) }));
  assert.deepEqual(keysOf(set), ['/data/\\xff*', '/data/a\\*b\\?\\[c\\]\\{d\\}', '/data/back\\\\slash']);
  const result = dynamicResult(set, 'varmor-t-x');
  const entry = result.appArmor!.files!.find((f) => f.path === '/data/a\\*b\\?\\[c\\]\\{d\\}')!;
  assert.equal(entry.oldPath, '/data/a*b?[c]{d}');
  assert.equal(result.appArmor!.files!.find((f) => f.path === '/data/back\\\\slash')!.oldPath, undefined);
});

test('executions take component rules only, other categories pass through', () => {
  const { set } = generalise({
    executions: { '/tmp/tmp.Xa9bQ2kLmN/run.sh': at(1, []), '/tmp/job': at(1, []) },
    syscalls: { openat: at(1, []) },
  });
  assert.deepEqual(Object.keys(set.executions!).sort(), ['/tmp/job', '/tmp/tmp.*/run.sh']);
  assert.deepEqual(Object.keys(set.syscalls!), ['openat']);
});
