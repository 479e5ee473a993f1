import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { bpfUnavailable, cli, tempDir } from '../helpers.js';

// `make demo` as a new user sees it: busybox httpd and a wget loop, run as root, stopped by the
// window's end (the workload's `trap 'kill $server' EXIT` runs while the tree is torn down).
test('the demo is advised no capability, runAsNonRoot with its high port, and no hostPID', { skip: bpfUnavailable(), timeout: 180_000 }, async () => {
  const out = await tempDir('out');
  const r = await cli(['record', '--duration', '8s', '--checkpoint-interval', '2s', '--name', 'demo', '--out', out, '--', 'demo/workload.sh'], { VARMOR_MODELER_HOME: await tempDir('home'), DEMO_PORT: '18097' });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  const { securityContext: sc, pod, lines } = report.securityContext;
  const why = (field: string) => JSON.stringify(lines.find((l: { field: string }) => l.field === field));
  assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, why('securityContext.capabilities.add'));
  assert.equal(sc.runAsNonRoot, true, why('securityContext.runAsNonRoot'));
  assert.equal(pod.hostPID, false, why('spec.hostPID'));
  assert.ok(report.counts.noaudit >= 1 && report.counters.cap_noaudit > 0, 'the overcommit probes of root processes were seen and counted');

  assert.equal(report.counts.binds, 1, 'the server bound its port (18097: high, so no root needed)');

  const model = parse(await readFile(join(out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
  assert.deepEqual(model.data.dynamicResult.appArmor?.capabilities ?? [], [], 'no capability in the model');
});
