import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { podCgroup, tracerPath } from '../../../lib/home.js';
import { releaseStateDir, TracerError, TracerProcess } from '../../../bpf/driver/loader.js';
import { tempDir } from '../../helpers.js';

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

test('--release: whether pinned state was found, and a refusal as a TracerError naming the directory', async () => {
  const dir = await tempDir('release');
  const fake = async (name: string, script: string) => {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n[ "$1" = --release ] || exit 9\n${script}\n`);
    await chmod(path, 0o755);
    return path;
  };
  assert.equal(await releaseStateDir(await fake('found', `echo '{"t":"released","found":true,"pins":4}'`), '/sys/fs/bpf/x'), true);
  assert.equal(await releaseStateDir(await fake('none', `echo '{"t":"released","found":false,"pins":0}'`), '/sys/fs/bpf/x'), false);
  const busy = await fake('busy', `echo 'varmor-tracer: in use' >&2; echo '{"t":"error","msg":"state dir is in use by a running varmor-tracer"}'; exit 1`);
  await assert.rejects(releaseStateDir(busy, '/sys/fs/bpf/x'), (err: unknown) => err instanceof TracerError && err.kind === 'refused' && err.message === 'releasing /sys/fs/bpf/x failed: state dir is in use by a running varmor-tracer');
});
