import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bpfUnavailable, cli, tempDir } from '../helpers.js';
import { busyboxBundle, runIn, type OciConfig } from './bundle.js';

const WORKLOAD = 'echo modelled > /tmp/x; cat /tmp/x; ls / | sort | wc -l > /dev/null; cat /etc/hostname';

test('the generated seccomp profile, enforced by runc: the modelled workload runs, unobserved syscalls are refused', { skip: bpfUnavailable(), timeout: 180_000 }, async () => {
  const bundle = await busyboxBundle();
  const out = await tempDir('out');
  // Model the same static busybox binary the container runs.
  const recorded = await cli(['record', '--out', out, '--', join(bundle.rootfs, 'bin', 'busybox'), 'sh', '-c', WORKLOAD], { VARMOR_MODELER_HOME: await tempDir('home') });
  assert.equal(recorded.code, 0, recorded.stderr);
  const seccomp = JSON.parse(await readFile(join(out, 'seccomp.json'), 'utf8'));
  const enforce = (nnp: boolean) => (c: OciConfig) => {
    c.linux.seccomp = seccomp;
    c.process.noNewPrivileges = nnp;
  };

  for (const nnp of [true, false]) {
    const ok = await runIn(bundle, ['/bin/sh', '-c', WORKLOAD], enforce(nnp));
    assert.equal(ok.code, 0, `modelled workload denied under the profile (noNewPrivileges=${nnp}): ${ok.stderr}`);
    assert.equal(ok.stdout, 'modelled\nbundle\n');
  }

  // Control: without the profile the container may unshare; with it, unshare(2) is refused.
  const control = await runIn(bundle, ['/bin/unshare', '-U', 'true']);
  assert.equal(control.code, 0, `control run failed, so the check below would prove nothing: ${control.stderr}`);
  const refused = await runIn(bundle, ['/bin/unshare', '-U', 'true'], enforce(true));
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /unshare\(0x10000000\): Operation not permitted/);
});
