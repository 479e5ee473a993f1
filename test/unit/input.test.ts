import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { CONTEXT_FLAG_NAMES } from '../../core/context.js';
import { INPUT_FIELDS, planFromInput, workflowIdFor } from '../../workflows/input.js';

const command = { kind: 'command', node: 'n1', argv: ['/usr/bin/redis-server', '--port', '0'] };

test('a valid input becomes a plan with defaults', () => {
  const plan = planFromInput({ target: command, duration: '10m' });
  assert.deepEqual(plan, {
    target: command, name: 'redis-server', namespace: 'default', durationMs: 600_000, checkpointMs: 10_000, resolveMs: 60_000, giveUpMs: 600_000, leaseMs: 21_600_000,
    context: {}, writablePaths: [], searchAttributes: true, historyLimit: 10_000, minMs: 0,
  });
  assert.equal(workflowIdFor(plan), 'varmor-modeler/default/redis-server');
  assert.equal(planFromInput({ target: command, duration: '7d', leaseInterval: '21s' }).leaseMs, 21_000);
  const converging = planFromInput({ target: command, duration: '7d', convergeAfter: '6h', minDuration: '1d' });
  assert.deepEqual([converging.convergeMs, converging.minMs], [21_600_000, 86_400_000]);
});

test('invalid input names the wrong field', () => {
  const cases: [unknown, RegExp][] = [
    [null, /input must be a JSON object/],
    [{ duration: '1m' }, /^target:/],
    [{ target: { kind: 'vm' }, duration: '1m' }, /^target\.kind:/],
    [{ target: { ...command, argv: [] }, duration: '1m' }, /^target\.argv:/],
    [{ target: { kind: 'pid', node: 'n1', pid: -4 }, duration: '1m' }, /^target\.pid:/],
    [{ target: { kind: 'container', node: 'n1', id: 'a/../b' }, duration: '1m' }, /^target\.id:/],
    [{ target: { ...command, node: '' }, duration: '1m' }, /^target\.node:/],
    [{ target: command }, /^duration:/],
    [{ target: command, duration: 'forever' }, /^duration: invalid duration/],
    [{ target: command, duration: '1m', checkpointInterval: '100ms' }, /^checkpointInterval:/],
    [{ target: command, duration: '1m', convergeAfter: '10ms' }, /^convergeAfter: must be at least 1s/],
    [{ target: command, duration: '1m', minDuration: '10s' }, /^minDuration: only with convergeAfter/],
    [{ target: command, duration: '1m', convergeAfter: '10s', minDuration: '2m' }, /^minDuration: must not be longer than duration/],
    [{ target: command, duration: '1m', name: 'Bad Name' }, /^name:/],
    [{ target: command, duration: '1m', store: 'ftp://x' }, /^store:/],
    [{ target: { kind: 'k8s', spec: 'default/deployment/web' }, duration: '1m' }, /^target\.spec:/],
    [{ target: command, duration: '1m', context: { root: true } }, /^context\.root: unknown flag/],
    [{ target: command, duration: '1m', context: { privileged: 'yes' } }, /^context\.privileged:/],
    [{ target: command, duration: '1m', writablePaths: ['tmp'] }, /^writablePaths:/],
    [{ target: command, duration: '1m', historyLimit: 5 }, /^historyLimit:/],
    [{ target: command, duration: '1m', nodeGiveUp: 'never' }, /^nodeGiveUp:/],
    [{ target: command, duration: '1m', leaseInterval: '2s' }, /^leaseInterval: must be at least 5s/],
    [{ target: command, duration: '1m', checkpointIntervall: '5s' }, /^checkpointIntervall: unknown field/],
  ];
  for (const [input, message] of cases) assert.throws(() => planFromInput(input), (e: Error) => message.test(e.message), JSON.stringify(input));
});

test('a Kubernetes target takes its namespace and name from the spec', () => {
  const plan = planFromInput({ target: { kind: 'k8s', spec: 'k8s:shop/deployment/web?containers=app' }, duration: '1h' });
  assert.equal(plan.namespace, 'shop');
  assert.equal(plan.name, 'web');
  assert.equal(workflowIdFor(plan), 'varmor-modeler/shop/web');
});

test('the documented JSON Schema lists exactly the fields the workflow accepts, and its examples are valid', async () => {
  const schema = JSON.parse(await readFile(join(PACKAGE_ROOT, 'docs', 'modeling-input.schema.json'), 'utf8'));
  assert.deepEqual(Object.keys(schema.properties).sort(), [...INPUT_FIELDS].sort());
  assert.deepEqual(schema.required, ['target', 'duration']);
  const kinds = schema.properties.target.oneOf.map((t: { properties: { kind: { const: string } } }) => t.properties.kind.const).sort();
  assert.deepEqual(kinds, ['command', 'container', 'k8s', 'pid']);
  for (const spec of schema.properties.target.oneOf[0].properties.spec.examples) planFromInput({ target: { kind: 'k8s', spec }, duration: '1h' });
  assert.deepEqual(Object.keys(schema.properties.context.properties).sort(), [...CONTEXT_FLAG_NAMES].sort());
  for (const flag of Object.keys(schema.properties.context.properties)) planFromInput({ target: command, duration: '1m', context: { [flag]: true } });
});
