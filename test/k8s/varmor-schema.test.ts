import { test } from 'node:test';
import assert from 'node:assert/strict';
import { behaviorsFromModel } from '../../core/from-model.js';
import { everyFieldModel } from './model-fixture.js';
import { schemaErrors, varmorSchema } from './varmor-schema.js';

const model = everyFieldModel();

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
