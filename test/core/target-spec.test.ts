import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultModelName, formatK8sSpec, parseK8sSpec, parseTargetSpec } from '../../core/target-spec.js';

test('workload specs, with and without a container filter', () => {
  assert.deepEqual(parseK8sSpec('k8s:shop/deployment/web'), { namespace: 'shop', kind: 'deployment', name: 'web' });
  assert.deepEqual(parseK8sSpec('k8s:batch/cronjob/nightly.report?containers=main, sidecar,main'), {
    namespace: 'batch',
    kind: 'cronjob',
    name: 'nightly.report',
    containers: ['main', 'sidecar'],
  });
  for (const kind of ['statefulset', 'daemonset', 'replicaset', 'job', 'pod']) assert.equal(parseK8sSpec(`k8s:ns/${kind}/x`).kind, kind);
});

test('selector specs keep the selector verbatim, prefixed keys and set-based requirements included', () => {
  assert.deepEqual(parseK8sSpec('k8s:shop/selector/app.kubernetes.io/name=web,tier in (front,edge)?containers=app'), {
    namespace: 'shop',
    kind: 'selector',
    selector: 'app.kubernetes.io/name=web,tier in (front,edge)',
    containers: ['app'],
  });
});

test('format is the inverse of parse', () => {
  for (const spec of ['k8s:shop/deployment/web', 'k8s:shop/pod/web-1?containers=a,b', 'k8s:shop/selector/app=web,!canary']) {
    assert.equal(formatK8sSpec(parseK8sSpec(spec)), spec);
  }
});

test('errors name what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['shop/deployment/web', /must start with "k8s:"/],
    ['k8s:shop/web', /expected k8s:NAMESPACE\/KIND\/NAME/],
    ['k8s:Shop/deployment/web', /namespace "Shop" is not a DNS-1123 label/],
    ['k8s:shop/deploy/web', /kind "deploy" is not one of deployment, statefulset, daemonset, replicaset, job, cronjob, pod, selector/],
    ['k8s:shop/deployment/Web_1', /name "Web_1" is not a DNS-1123 name/],
    ['k8s:shop/deployment/', /name "" is not a DNS-1123 name/],
    ['k8s:shop/selector/ ', /the label selector is empty/],
    ['k8s:shop/deployment/web?container=a', /unknown option "container" \(only "containers" is supported\)/],
    ['k8s:shop/deployment/web?containers=', /"containers=" names no container/],
    ['k8s:shop/deployment/web?containers=A', /container "A" is not a DNS-1123 label/],
    ['k8s:shop/deployment/web?containers=a?b', /more than one "\?"/],
  ];
  for (const [spec, message] of cases) assert.throws(() => parseK8sSpec(spec), message, spec);
});

test('default model names', () => {
  assert.equal(defaultModelName(parseK8sSpec('k8s:shop/deployment/web')), 'web');
  assert.equal(defaultModelName(parseK8sSpec('k8s:shop/selector/app.kubernetes.io/name=Web,tier in (a,b)')), 'app-kubernetes-io-name-web-tier-in-a-b');
});

test('container and pid specs are on this node unless @NODE names another; k8s specs are checked', () => {
  assert.deepEqual(parseTargetSpec('container:abc123', 'here'), { kind: 'container', node: 'here', id: 'abc123' });
  assert.deepEqual(parseTargetSpec('pid:42@node-b', 'here'), { kind: 'pid', node: 'node-b', pid: 42 });
  assert.deepEqual(parseTargetSpec('k8s:shop/deployment/web', 'here'), { kind: 'k8s', spec: 'k8s:shop/deployment/web' });
  assert.throws(() => parseTargetSpec('pid:x', 'here'), /pid must be a number/);
  assert.throws(() => parseTargetSpec('command:ls', 'here'), /use container:ID, pid:PID or k8s:NAMESPACE\/KIND\/NAME/);
  assert.throws(() => parseTargetSpec('k8s:shop/deploy/web', 'here'), /kind "deploy" is not one of/);
});
