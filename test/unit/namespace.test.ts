import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { runId } from '../../cli/run-id.js';
import { currentNamespace } from '../../lib/kubeconfig.js';
import { tempDir } from '../helpers.js';

/**
 * Runs fn with these kubeconfig files (`undefined`: one that does not exist): KUBECONFIG lists
 * them, or with `home` KUBECONFIG is unset and the first is ~/.kube/config.
 */
async function withKubeconfig<T>(contents: string | undefined | (string | undefined)[], fn: () => T, opts: { home?: boolean } = {}): Promise<T> {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  const dir = await tempDir('kubeconfig');
  process.env.HOME = dir; // no ~/.kube/config of the developer's
  const files: string[] = [];
  for (const [i, content] of [contents].flat().entries()) {
    const file = opts.home ? join(dir, '.kube', 'config') : join(dir, `config-${i}`);
    files.push(file);
    if (content === undefined) continue;
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  if (opts.home) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = files.join(delimiter);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

/** What the Kubernetes client takes for the current namespace from the same files: the answer before it was read without it. */
function clientNamespace(): string {
  try {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  } catch {
    return 'default';
  }
}

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: shop, context: {cluster: c, user: u, namespace: shop}}, {name: other, context: {cluster: c, user: u}}]
current-context: shop
`;

/** A second file for a KUBECONFIG list: its own cluster, user and context. */
const SECOND = `apiVersion: v1
kind: Config
clusters:
- name: c2
  cluster:
    server: https://127.0.0.2:6443
users:
- name: u2
  user:
    token: t2
contexts:
- name: team
  context:
    cluster: c2
    user: u2
    namespace: team-ns
current-context: team
`;

test('a bare name means the current kubeconfig namespace, as in kubectl', async () => {
  await withKubeconfig(KUBECONFIG, () => {
    assert.equal(currentNamespace(), 'shop');
    assert.equal(runId('web'), 'varmor-modeler/shop/web');
    assert.equal(runId('default/web'), 'varmor-modeler/default/web');
    assert.equal(runId('varmor-modeler/x/y'), 'varmor-modeler/x/y');
  });
  await withKubeconfig(KUBECONFIG.replace('current-context: shop', 'current-context: other'), () => assert.equal(runId('web'), 'varmor-modeler/default/web'));
});

test('without a kubeconfig the current namespace is default', async () => {
  await withKubeconfig(undefined, () => {
    assert.equal(currentNamespace(), 'default');
    assert.equal(runId('web'), 'varmor-modeler/default/web');
  });
});

test('the kubeconfig is found and read as the Kubernetes client reads it: ~/.kube/config, KUBECONFIG lists, contexts and current contexts in other files', async () => {
  const cases: [string, string | undefined | (string | undefined)[], { home?: boolean }, string | undefined][] = [
    ['~/.kube/config', KUBECONFIG, { home: true }, 'shop'],
    ['neither KUBECONFIG nor ~/.kube/config (in a pod: the service account\'s namespace)', undefined, { home: true }, existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token') ? undefined : 'default'],
    ['a later file names the current context', [KUBECONFIG, SECOND], {}, 'team-ns'],
    ['a later file without a current context keeps the first\'s', [KUBECONFIG, SECOND.replace('current-context: team', '')], {}, 'shop'],
    ['the current context is defined in another file', [SECOND.replace('current-context: team', 'current-context: shop'), KUBECONFIG.replace('current-context: shop', '')], {}, 'shop'],
    ['a current context that no file defines', KUBECONFIG.replace('current-context: shop', 'current-context: gone'), {}, 'default'],
    ['no current context', KUBECONFIG.replace('current-context: shop', ''), {}, 'default'],
    ['an empty file', '', {}, 'default'],
    ['not YAML', 'contexts: [unclosed\n', {}, 'default'],
    ['an empty file in the list', [KUBECONFIG, ''], {}, 'default'],
    ['a list with a file that is not a mapping', [KUBECONFIG, '- a\n- b\n'], {}, 'shop'],
    ['a list with a file of one string', [KUBECONFIG, 'hello\n'], {}, 'shop'],
    ['a file of the list missing', [KUBECONFIG, undefined], {}, 'default'],
  ];
  for (const [what, contents, opts, expected] of cases) {
    await withKubeconfig(contents, () => {
      if (expected !== undefined) assert.equal(currentNamespace(), expected, what);
      assert.equal(currentNamespace(), clientNamespace(), `${what}: as the client has it`);
    }, opts);
  }
});
