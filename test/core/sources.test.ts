import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syscallSources } from '../../core/sources.js';

test('syscalls by collector: what each saw, what the audit log missed by design (quiet set) and by loss', () => {
  const item = (...replicas: string[]) => ({ first: 1, last: 2, n: Object.fromEntries(replicas.map((r) => [r, 1])) });
  const s = syscallSources({
    syscalls: {
      accept4: item('n1/bpf/a1', 'n1/audit/a1'),
      read: item('n1/bpf/a1'),
      sendfile: item('n1/bpf/0123456789ab'),
      clone: item('n2/audit/a2', 'n1/bpf/a1'),
      ioctl: item('n1/audit/a1'),
    },
  });
  assert.deepEqual(s, {
    bpf: ['accept4', 'clone', 'read', 'sendfile'],
    audit: ['accept4', 'clone', 'ioctl'],
    onlyBpf: ['sendfile'],
    quiet: ['read'],
    onlyAudit: ['ioctl'],
  });
  assert.deepEqual(syscallSources({}), { bpf: [], audit: [], onlyBpf: [], quiet: [], onlyAudit: [] });
});
