import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOutputs } from '../../core/outputs.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';
import { behaviorsFromModel } from '../../core/from-model.js';
import { schemaErrors, varmorSchema } from './varmor-schema.js';

const T0 = Date.UTC(2026, 0, 1);
const it = (sets?: Record<string, string[]>): Item => ({ first: T0, last: T0 + 1, n: { 'n1/bpf/a1': 3 }, ...(sets ? { sets } : {}) });

/** A behavior set with every category the model carries. */
const every: BehaviorSet = {
  executions: { '/usr/sbin/nginx': it() },
  files: { '/etc/nginx/nginx.conf': it({ perms: ['read'] }), '/var/log/nginx/access.log': it({ perms: ['append', 'create'] }), '/proc/12/status': it({ perms: ['read'] }) },
  syscalls: { read: it(), accept4: it(), mount: it() },
  capabilities: { net_bind_service: it({ verdict: ['granted'] }), setuid: it({ verdict: ['granted'] }) },
  noaudit: { sys_admin: it({ verdict: ['granted'], callers: ['security_vm_enough_memory_mm'] }) },
  sockets: { 'inet/stream/tcp': it(), 'unix/dgram/0': it() },
  egresses: { 'inet|10.0.0.7|5432': it(), 'inet|10.0.0.7|6379': it(), 'inet6|fd00::1|443': it(), 'unix|/run/x.sock|0': it() },
  binds: { 'inet|0.0.0.0|80': it({ ops: ['bind', 'listen'] }) },
  signals: { self: it({ signals: ['term', 'hup'] }), external: it({ signals: ['usr1'] }) },
  ptraces: { self: it({ perms: ['read'] }), external: it({ perms: ['trace'] }) },
  mounts: { '/mnt/data|tmpfs': it({ flags: ['nosuid'], ops: ['mount'] }) },
  namespaces: { unshare: it({ types: ['mnt'] }) },
  profiles: { 'cri-containerd.apparmor.d': it() },
  unhandled: { 'dbus send': it() },
};

const model = buildOutputs({
  namespace: 'shop',
  name: 'web',
  target: 'k8s:shop/deployment/web',
  behaviors: every,
  counters: {},
  arches: ['x86_64'],
  window: { start: T0, end: T0 + 60_000 },
  nodes: [{ node: 'n1', state: 'completed', at: T0 + 60_000 }, { node: 'n2', state: 'failed', reason: 'node-lost', message: 'gone', at: T0 + 30_000 }],
  batches: 2,
  timings: {},
}).model;

test('a model with every field validates under vArmor\'s published CRD schema: no 422, nothing pruned', () => {
  assert.deepEqual(schemaErrors(varmorSchema, JSON.parse(JSON.stringify(model))), []);
});

test('the fields vArmor\'s Go types and generator need are there, in its shapes', () => {
  const aa = model.data.dynamicResult.appArmor!;
  assert.deepEqual(aa.profiles, ['varmor-shop-web'], 'exactly one profile: the one the workload was modelled under');
  assert.deepEqual(aa.networks!.egresses, [{ ip: 'fd00::1', ports: [443] }, { ip: '10.0.0.7', ports: [5432, 6379] }]);
  assert.equal('bpf' in model.data.profile, false, 'profile.bpf is vArmor\'s BpfContent object: absent, never a string');
  assert.deepEqual(model.data.dynamicResult.bpf!.network!.egresses, aa.networks!.egresses);
});

test('the checker catches what the API server refuses or prunes', () => {
  const broken = structuredClone(model) as unknown as { data: { dynamicResult: { appArmor: { networks: { egresses: unknown[] } } }; profile: Record<string, unknown> }; extra: number };
  broken.data.dynamicResult.appArmor.networks.egresses = ['10.0.0.7'];
  broken.data.profile.bpf = '';
  delete broken.data.profile.mode;
  broken.extra = 1;
  assert.deepEqual(schemaErrors(varmorSchema, broken).sort(), [
    'data.dynamicResult.appArmor.networks.egresses[0]: string where the schema has object',
    'data.profile.bpf: string where the schema has object',
    'data.profile.mode: required, missing',
    'extra: not in the schema (the API server prunes it)',
  ]);
});

test('a model read back gives the same egresses (both results carry {ip, ports})', () => {
  const back = behaviorsFromModel(model);
  assert.deepEqual(Object.keys(back.egresses!).sort(), ['inet6|fd00::1|443', 'inet|10.0.0.7|5432', 'inet|10.0.0.7|6379']);
});
