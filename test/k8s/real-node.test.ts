import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildImage, NODE_NAME, RealNode, realNodeMissing } from './node.js';

const missing = realNodeMissing();
let node: RealNode | undefined;
after(async () => {
  await node?.stop();
});

const WEB_IMAGE = 'registry.varmor.test/web:1';

test('a real node: kubelet, containerd and the control plane in a namespace of their own; a pod runs in a container containerd started', { skip: missing, timeout: 300_000 }, async () => {
  node = await RealNode.start();
  console.log(`node Ready after ${node.timings.ready} ms`);
  await node.importImage(await buildImage(node.dir, WEB_IMAGE, [['/bin/busybox', '/bin/busybox']], ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/']), WEB_IMAGE);
  const t0 = Date.now();
  await node.cp.apply(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: { containers: [{ name: 'web', image: WEB_IMAGE, imagePullPolicy: 'Never' }] },
    }),
  );
  let pod: { status?: { phase?: string; containerStatuses?: { containerID?: string }[] }; metadata: { uid: string }; spec: { nodeName?: string } } | undefined;
  for (let i = 0; i < 120; i++) {
    const r = await node.cp.kubectl(['get', 'pod', 'web', '-o', 'json']);
    pod = JSON.parse(r.stdout);
    if (pod?.status?.phase === 'Running') break;
    await new Promise((res) => setTimeout(res, 500));
  }
  assert.equal(pod?.status?.phase, 'Running', JSON.stringify(pod?.status));
  console.log(`pod Running after ${Date.now() - t0} ms`);
  assert.equal(pod!.spec.nodeName, NODE_NAME);
  const id = /^containerd:\/\/([0-9a-f]{64})$/.exec(pod!.status!.containerStatuses![0]!.containerID ?? '')?.[1];
  assert.ok(id, JSON.stringify(pod!.status!.containerStatuses));
  // the container's process, with the cgroup the kubelet made for the pod
  const task = await node.ctr(['tasks', 'ls']);
  const pid = Number(task.stdout.split('\n').find((l) => l.startsWith(id!))?.split(/\s+/)[1]);
  assert.ok(pid > 0, task.stdout);
  const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  assert.match(cgroup, new RegExp(`/kubepods/[a-z-]*/?pod${pod!.metadata.uid}/${id}`));
});
