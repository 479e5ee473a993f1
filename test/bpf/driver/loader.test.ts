import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podCgroup, tracerPath } from '../../../lib/node-settings.js';
import { TracerError, TracerProcess } from '../../../bpf/driver/loader.js';

test('VARMOR_MODELER_POD_CGROUP: auto by default, one of the hierarchies, anything else refused', () => {
  const saved = process.env.VARMOR_MODELER_POD_CGROUP;
  try {
    delete process.env.VARMOR_MODELER_POD_CGROUP;
    assert.equal(podCgroup(), 'auto');
    process.env.VARMOR_MODELER_POD_CGROUP = 'v2';
    assert.equal(podCgroup(), 'v2');
    process.env.VARMOR_MODELER_POD_CGROUP = 'v2 --release /';
    assert.throws(() => podCgroup(), /expected auto, v2, pids, memory or cpu/);
  } finally {
    if (saved === undefined) delete process.env.VARMOR_MODELER_POD_CGROUP;
    else process.env.VARMOR_MODELER_POD_CGROUP = saved;
  }
});

test('the pod cgroup choice reaches the loader: a hierarchy it does not know fails the start, auto starts', { skip: process.getuid?.() !== 0 && 'needs root (BPF)' }, async () => {
  await assert.rejects(TracerProcess.start(tracerPath(), { podCgroup: 'blkio' }), (err: unknown) => err instanceof TracerError && /pod-cgroup/.test(err.message));
  const tracer = await TracerProcess.start(tracerPath(), { podCgroup: 'auto' });
  await tracer.quit();
});
