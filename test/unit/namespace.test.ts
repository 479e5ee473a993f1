import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { currentNamespace, runId } from '../../cli/namespace.js';
import { tempDir } from '../helpers.js';

async function withKubeconfig<T>(content: string | undefined, fn: () => T): Promise<T> {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  const dir = await tempDir('kubeconfig');
  process.env.HOME = dir; // no ~/.kube/config of the developer's
  if (content === undefined) process.env.KUBECONFIG = join(dir, 'none');
  else await writeFile((process.env.KUBECONFIG = join(dir, 'config')), content);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: shop, context: {cluster: c, user: u, namespace: shop}}, {name: other, context: {cluster: c, user: u}}]
current-context: shop
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
