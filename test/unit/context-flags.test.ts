import assert from 'node:assert/strict';
import test from 'node:test';
import { Command } from 'commander';
import { BUILTIN_RULES } from '../../core/advisor.js';
import { CONTEXT_FLAG_NAMES, CONTEXT_FLAGS, isContextFlag } from '../../core/context.js';
import { contextFrom, contextOptions } from '../../cli/context-flags.js';

const parsed = (...argv: string[]) => contextOptions(new Command('x').exitOverride()).parse(argv, { from: 'user' }).opts();

test('each context flag has one CLI option that declares it, and only it', () => {
  assert.deepEqual(contextFrom(parsed()), {});
  for (const flag of CONTEXT_FLAG_NAMES) assert.deepEqual(contextFrom(parsed(CONTEXT_FLAGS[flag].option)), { [flag]: true }, flag);
  assert.deepEqual(contextFrom(parsed(...CONTEXT_FLAG_NAMES.map((f) => CONTEXT_FLAGS[f].option))), Object.fromEntries(CONTEXT_FLAG_NAMES.map((f) => [f, true])));
});

test('every context a built-in rule depends on can be declared', () => {
  const conditions = BUILTIN_RULES.flatMap((r) => [...(r.appliesWhen ?? []), ...(r.conflictsWith ?? [])]);
  const fromBehavior = (c: string) => c === 'mounts' || c.startsWith('capability:');
  const undeclarable = conditions.filter((c) => !fromBehavior(c) && !isContextFlag(c));
  assert.deepEqual(undeclarable, []);
  assert.ok(conditions.some(isContextFlag), 'rules name context flags');
});
