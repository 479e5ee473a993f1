import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../lib/package.js';

const DIST = join(PACKAGE_ROOT, 'dist');

/**
 * What loading a compiled module loads before any of its code runs: its static imports, followed
 * through this package's files (type-only imports are gone from the compiled code; dynamic
 * `import()`s load later, when the code asks). Files relative to dist/, packages by name.
 */
function staticGraph(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import\s+(?:[\w$*{},\s]+\s+from\s+)?|export\s+(?:\*|\{[\w$,\s]*\})(?:\s+as\s+[\w$]+)?\s+from\s+)['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(join(DIST, entry));
  return { files: [...files].map((f) => relative(DIST, f)).sort(), packages: [...packages].sort() };
}

test('recording a command loads no Kubernetes code: target resolution of local targets is outside k8s/', () => {
  // record and what it imports when it runs: the session's workers, the client's commands
  const graphs = ['cli/record.js', 'workers/workers.js', 'cli/model.js', 'cli/outputs.js'].map(staticGraph);
  const files = [...new Set(graphs.flatMap((g) => g.files))];
  const packages = [...new Set(graphs.flatMap((g) => g.packages))];
  assert.ok(files.includes('activities/resolve.js') && files.includes('core/local-target.js'), files.join(' '));
  assert.deepEqual(files.filter((f) => f.startsWith('k8s/')), []);
  // Nor the Kubernetes client: the current namespace (lib/kubeconfig.ts) is read from the kubeconfig without it.
  assert.ok(files.includes('lib/kubeconfig.js'), files.join(' '));
  assert.deepEqual(packages.filter((p) => p.startsWith('@kubernetes/')), []);
});

test('the command line loads only commander: each command imports its code when it runs', () => {
  const { files, packages } = staticGraph('cli/main.js');
  assert.deepEqual(packages, ['commander']);
  assert.deepEqual(files.filter((f) => !f.startsWith('core/') && !f.startsWith('lib/') && !/^cli\/(main|context-flags|errors)\.js$/.test(f)), []);
});

test('the offline commands (advise, diff, profile, audit ingest) load no Temporal, Kubernetes or S3 client', () => {
  for (const entry of ['cli/analyse.js', 'cli/audit.js']) {
    assert.deepEqual(staticGraph(entry).packages.filter((p) => /^@(temporalio|kubernetes|aws-sdk)\//.test(p)), [], entry);
  }
});
