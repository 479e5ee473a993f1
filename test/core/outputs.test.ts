import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { buildOutputs, type OutputInput } from '../../core/outputs.js';
import { cell } from '../../core/report-md.js';
import { spoAppArmorProfile } from '../../core/spo.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';
import { compiledRules, diffAgainstModel, haveParser, parse } from './apparmor-parser.js';

const T0 = Date.UTC(2025, 0, 1);
const it = (first: number, sets?: Record<string, string[]>, n = 1): Item => ({ first: T0 + first, last: T0 + first, n: { 'n1/c/0': n }, ...(sets ? { sets } : {}) });

const input = (behaviors: BehaviorSet): OutputInput => ({
  namespace: 'shop',
  name: 'cart',
  target: 'shop/deployment/cart',
  behaviors,
  counters: { 'n1/c/0': { lost: 2 } },
  arches: ['x86_64'],
  window: { start: T0, end: T0 + 600_000 },
  nodes: [{ node: 'n1', state: 'completed', at: T0 + 600_000 }],
  batches: 3,
  timings: { merge: 5 },
  writablePaths: ['/tmp', '/data'],
});

const behaviors: BehaviorSet = {
  executions: { '/usr/bin/cart': it(0) },
  files: { '/proc/77/status': it(10, { perms: ['read'] }), '/data/x|y': it(20, { perms: ['write'] }), '/etc/ssl/certs/ca.pem': it(30, { perms: ['read'] }) },
  capabilities: { net_bind_service: it(40, { verdict: ['granted'] }) },
  sockets: { 'inet/stream/tcp': it(50) },
  syscalls: { read: it(1), accept4: it(2) },
};

test('buildOutputs: the model carries the profile text, enforcer and mode; all output files are there', () => {
  const out = buildOutputs(input(behaviors));
  assert.deepEqual(
    out.files.map((f) => f.name),
    ['armorprofilemodel.yaml', 'apparmor.profile', 'seccomp.json', 'seccomp.x86_64.json', 'seccomp.aarch64.json', 'spo-seccompprofile.yaml', 'spo-apparmorprofile.yaml', 'report.json', 'report.md'],
  );
  const p = out.model.data.profile;
  assert.equal(p.enforcer, 'AppArmorSeccomp');
  assert.equal(p.mode, 'enforce');
  assert.match(p.appArmor, /^profile varmor-shop-cart flags=/m);
  assert.deepEqual(JSON.parse(p.seccomp).defaultAction, 'SCMP_ACT_ERRNO');
  const files = out.model.data.dynamicResult.appArmor!.files!;
  assert.deepEqual(files.find((f) => f.path === '/proc/*/status'), { path: '/proc/*/status', oldPath: '/proc/77/status', permissions: ['r'] });
  const yaml = parseYaml(out.files[0]!.content);
  assert.equal(yaml.data.profile.name, 'varmor-shop-cart');
});

test('report.json keeps its fields and adds the advice; report.md is tables', () => {
  const out = buildOutputs(input(behaviors));
  const report = JSON.parse(out.files.find((f) => f.name === 'report.json')!.content);
  for (const k of ['target', 'window', 'counts', 'counters', 'timings', 'generalisation', 'appArmor', 'advice', 'securityContext', 'convergence', 'spo']) assert.ok(k in report, k);
  assert.deepEqual(report.counters, { lost: 2 });
  assert.equal(report.securityContext.securityContext.readOnlyRootFilesystem, true);
  assert.ok(report.appArmor.rules.some((r: { rule: string; evidence: { raw?: string }[] }) => r.rule === '"/proc/*/status" r,' && r.evidence[0]!.raw === '/proc/77/status'));
  const md = out.files.find((f) => f.name === 'report.md')!.content;
  assert.match(md, /^# Behavior model of shop\/deployment\/cart$/m);
  assert.match(md, /^\| Category \| Behaviors \| Curve \|/m);
  assert.ok(!md.includes('x|y'), 'a | in a path cannot split a table cell');
  assert.equal(cell('a|b\nc'), 'a\\|b\\nc');
});

test('the generated profile compiles', { skip: haveParser ? false : 'apparmor_parser is not installed' }, () => {
  const r = parse(buildOutputs({ ...input(behaviors), mode: 'complain' }).files[1]!.content);
  assert.equal(r.status, 0, r.err);
});

test('SPO resources: v1 SeccompProfile and AppArmorProfile, cluster-scoped, with only SPO-safe paths', () => {
  const out = buildOutputs(input(behaviors));
  const sp = parseYaml(out.files.find((f) => f.name === 'spo-seccompprofile.yaml')!.content);
  assert.equal(sp.apiVersion, 'security-profiles-operator.x-k8s.io/v1');
  assert.deepEqual(sp.metadata, { name: 'varmor-shop-cart', labels: { 'app.kubernetes.io/managed-by': 'varmor-modeler' } });
  assert.equal(sp.kind, 'SeccompProfile');
  assert.equal(sp.spec.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(sp.spec.defaultErrnoRet, undefined);
  assert.ok(sp.spec.syscalls[0].names.includes('accept4'));
  const aa = parseYaml(out.files.find((f) => f.name === 'spo-apparmorprofile.yaml')!.content);
  assert.equal(aa.apiVersion, 'security-profiles-operator.x-k8s.io/v1');
  assert.equal(aa.metadata.namespace, undefined);
  assert.equal(aa.spec.mode, 'Enforce');
  assert.deepEqual(aa.spec.abstract.filesystem.readOnlyPaths, ['/etc/ssl/certs/ca.pem', '/proc/*/status']);
  assert.deepEqual(aa.spec.abstract.capability.allowedCapabilities, ['net_bind_service']);
  assert.deepEqual(aa.spec.abstract.network.allowedProtocols, { allowTcp: true, allowUdp: false });
  assert.deepEqual(out.report.spo.omitted, ['files /data/x|y']);
  // A read-only pattern that overlaps a written one must not get SPO's deny-write twin.
  const { resource } = spoAppArmorProfile({ files: { '/tmp/**': it(0, { perms: ['read'] }), '/tmp/a/*': it(0, { perms: ['write'] }) } }, { name: 'x' });
  assert.deepEqual(resource.spec.abstract.filesystem, { readOnlyPaths: [], readWritePaths: ['/tmp/a/*'] });
  assert.deepEqual((resource.spec.abstract.executable as { allowedLibraries: string[] }).allowedLibraries, ['/tmp/**']);
});

test('50,000 behaviors: everything generated in well under a few seconds', () => {
  const big: BehaviorSet = { files: {}, executions: {}, syscalls: {}, egresses: {} };
  for (let i = 0; i < 40_000; i++) big.files![`/var/lib/app/${i % 500}/data-${(i * 2654435761) % 1e9}.${i % 3 ? 'log' : 'db'}`] = it(i, { perms: i % 7 ? ['read'] : ['write'] });
  for (let i = 0; i < 5_000; i++) big.files![`/proc/${i}/stat`] = it(i, { perms: ['read'] });
  for (let i = 0; i < 4_700; i++) big.executions![`/opt/tools/bin/tool-${i}`] = it(i);
  for (let i = 0; i < 300; i++) big.syscalls![`sys${i}`] = it(i);
  const started = performance.now();
  const out = buildOutputs(input(big));
  const ms = performance.now() - started;
  assert.ok(out.files.length === 9);
  console.log(`50k behaviors: ${Math.round(ms)} ms`);
  assert.ok(ms < 4000, `took ${Math.round(ms)} ms`);
});

test('the compiled AppArmor profile allows exactly what the model says: files, executions, capabilities', { skip: haveParser ? false : 'apparmor_parser is not installed' }, () => {
  const out = buildOutputs(input(behaviors));
  const aa = out.model.data.dynamicResult.appArmor!;
  const compiled = compiledRules(out.model.data.profile.appArmor);
  assert.deepEqual(diffAgainstModel(compiled, aa), []);
  assert.deepEqual(compiled.capabilities, ['net_bind_service']);
  // The diff sees a rule the profile lacks and a capability it does not grant.
  const more = { ...aa, files: [...aa.files!, { path: '/srv/other', permissions: ['w'] }], capabilities: ['net_bind_service', 'sys_admin'] };
  assert.deepEqual(diffAgainstModel(compiled, more), ['file /srv/other: no compiled rule', 'capabilities: model net_bind_service,sys_admin, compiled net_bind_service']);
});
