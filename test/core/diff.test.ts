import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diff, renderDiff } from '../../core/diff.js';
import { behaviorsFromModel } from '../../core/from-model.js';
import { buildOutputs } from '../../core/outputs.js';
import { generalise } from '../../core/generalise.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';

const it = (perms?: string[]): Item => ({ first: 1000, last: 1000, n: { r: 1 }, ...(perms ? { sets: { perms } } : {}) });

const before: BehaviorSet = { files: { '/etc/app.conf': it(['read']), '/var/log/app': it(['append']) }, syscalls: { read: it() }, executions: { '/app': it() } };
const after: BehaviorSet = {
  files: { '/etc/app.conf': it(['read', 'write']), '/tmp/**': it(['read']) },
  syscalls: { read: it(), splice: it() },
  executions: { '/app': it(), '/bin/sh': it() },
};

test('added, removed and changed behaviors per category, profile lines, verdict flips', () => {
  const d = diff(before, after);
  assert.deepEqual(d.categories.files, {
    added: ['/tmp/**'],
    removed: ['/var/log/app'],
    changed: [{ key: '/etc/app.conf', before: { sets: { perms: ['read'] } }, after: { sets: { perms: ['read', 'write'] } } }],
  });
  assert.deepEqual(d.categories.executions, { added: ['/bin/sh'], removed: [], changed: [] });
  assert.equal(d.categories.profiles, undefined, 'unchanged categories are left out');
  assert.deepEqual(d.profile.seccomp, { added: ['splice'], removed: [] });
  assert.ok(d.profile.appArmor.added.includes('"/bin/sh" ix,'));
  assert.ok(d.profile.appArmor.removed.includes('"/var/log/app" a,'));
  const shell = d.verdicts.find((v) => v.id === 'disable-shell')!;
  assert.deepEqual([shell.before, shell.after], ['safe', 'unsafe']);
  assert.deepEqual(d.summary, { added: 3, removed: 1, changed: 1, verdictChanges: d.verdicts.length });
  const text = renderDiff(d);
  assert.match(text, /^files: \+1 -1 ~1$/m);
  assert.match(text, /^ {2}disable-shell: safe -> unsafe\./m);
  assert.match(text, /^ {2}\+ seccomp splice$/m);
});

test('a model diffed with itself has no changes; newlines in names stay on one line', () => {
  const set: BehaviorSet = { files: { '/a\nb': it(['read']) } };
  const d = diff(set, set);
  assert.deepEqual(d.summary, { added: 0, removed: 0, changed: 0, verdictChanges: 0 });
  assert.equal(renderDiff(diff({}, set)).split('\n').filter((l) => l.includes('/a')).length, 2, 'one behavior line, one profile line');
});

test('ArmorProfileModel objects diff like their behavior sets, oldPath optional', () => {
  const out = (behaviors: BehaviorSet) =>
    buildOutputs({ namespace: 'ns', name: 'app', target: 'ns/app', behaviors, counters: {}, arches: ['x86_64'], window: { start: 0, end: 1000 }, nodes: [], batches: 1, timings: {} }).model;
  const raw: BehaviorSet = { files: { '/proc/12/status': it(['read']) }, capabilities: { chown: { ...it(), sets: { verdict: ['granted'] } } } };
  const model = out(raw);
  const back = behaviorsFromModel(model);
  assert.deepEqual(Object.keys(back.files!), ['/proc/*/status']);
  assert.equal(back.files!['/proc/*/status']!.raw, '/proc/12/status');
  assert.deepEqual(diff(model, generalise(raw).set).summary.changed, 0);
  const grown = out({ ...raw, capabilities: { chown: it(), sys_admin: it() } });
  const d = diff(model, grown);
  assert.deepEqual(d.categories.capabilities!.added, ['sys_admin']);
  assert.ok(d.profile.appArmor.added.includes('capability sys_admin,'));
});
