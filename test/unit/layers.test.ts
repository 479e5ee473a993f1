import assert from 'node:assert/strict';
import test from 'node:test';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { PACKAGE_ROOT } from '../../lib/package.js';

/** The lint's verdict on one import in a file of `folder` (a file that is not there: only its place matters). */
async function refused(folder: string, source: string): Promise<boolean> {
  const eslint = new ESLint({ cwd: PACKAGE_ROOT });
  const depth = folder.split('/').length;
  const [result] = await eslint.lintText(`${source.replaceAll('ROOT/', '../'.repeat(depth))}\nexport const x = y;\n`, { filePath: join(PACKAGE_ROOT, folder, 'probe.ts') });
  return result!.messages.some((m) => m.ruleId === '@typescript-eslint/no-restricted-imports');
}

test('the lint holds every layer to its direction', async () => {
  const cases: [string, string, boolean][] = [
    ['store', "import { y } from 'ROOT/activities/index.js';", true],
    ['store', "import { y } from 'ROOT/lib/keyring.js';", true],
    ['store', "import { y } from 'ROOT/core/behavior.js';", false],
    ['bpf/driver', "import { y } from 'ROOT/store/batches.js';", true],
    ['bpf/driver', "import { y } from 'ROOT/core/behavior.js';", false],
    ['audit', "import { y } from 'ROOT/k8s/client.js';", true],
    ['k8s', "import { y } from 'ROOT/activities/merge.js';", true],
    ['k8s', "import { y } from 'ROOT/lib/kubeconfig.js';", false],
    ['lib', "import { y } from 'ROOT/cli/main.js';", true],
    ['activities', "import { y } from 'ROOT/workers/workers.js';", true],
    ['activities', "import { y } from 'ROOT/store/batches.js';", false],
    ['workers', "import { y } from 'ROOT/cli/session.js';", true],
    ['workers', "import { y } from 'ROOT/activities/index.js';", false],
    ['core', "import { y } from 'ROOT/lib/home.js';", true],
    ['core', "import { readFileSync as y } from 'node:fs';", true],
    ['workflows', "import { y } from 'ROOT/activities/index.js';", true],
    ['workflows', "import type { y } from 'ROOT/activities/index.js';", false],
    ['workflows', "import { y } from 'ROOT/core/behavior.js';", false],
    ['cli', "import { y } from 'ROOT/workers/workers.js';", false],
  ];
  for (const [folder, source, expected] of cases) assert.equal(await refused(folder, source), expected, `${folder}: ${source}`);
});
