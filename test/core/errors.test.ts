import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rootMessage } from '../../core/errors.js';

test('rootMessage: the innermost cause, and no crash on what is not an Error', () => {
  assert.equal(rootMessage(new Error('outer', { cause: new Error('inner', { cause: new Error('root') }) })), 'root');
  assert.equal(rootMessage(new Error('alone')), 'alone');
  assert.equal(rootMessage(null), 'null');
  assert.equal(rootMessage(undefined), 'undefined');
  assert.equal(rootMessage('text'), 'text');
  assert.equal(rootMessage(new Error('outer', { cause: 42 })), '42');
});
