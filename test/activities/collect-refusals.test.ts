import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { collectActivity, tracerHosts, type CollectInput, type CollectorConfig } from '../../activities/collect.js';
import { issueGrant } from '../../activities/grant.js';
import type { NodeTarget } from '../../core/target.js';
import { testKeyring } from '../helpers.js';

const keyring = await testKeyring();
const WORKFLOW = 'varmor-modeler/shop/web';
// No tracer here: a collector that got past its checks would fail BpfUnavailable instead.
const config: CollectorConfig = { tracerPath: '/nonexistent/varmor-tracer', arch: 'x86_64', commandOutput: 'ignore', auditSources: [], keyring, allow: { launch: false, hostTargets: false, stores: ['file:///var/lib/varmor-modeler/store'] } };
const pods: NodeTarget = { kind: 'pods', pods: [{ uid: '1f0e5c2a-0000-4000-8000-000000000001' }] };

function input(trace: NodeTarget, extra: Partial<CollectInput> = {}): CollectInput {
  return { run: 'shop/web/r1', node: 'n1', target: 't', profile: 'p', trace, store: 'file:///var/lib/varmor-modeler/store', checkpointMs: 1000, until: Date.now() + 5000, grant: issueGrant(keyring, WORKFLOW, 'n1', trace), ...extra };
}

const env = new MockActivityEnvironment({ workflowExecution: { workflowId: WORKFLOW, runId: 'r1' } });
const collect = (c: CollectorConfig, i: CollectInput) => env.run(collectActivity(c, tracerHosts(c)), i);
const refused = (type: string, message: RegExp) => (err: { type?: string; message: string; nonRetryable?: boolean }) => {
  assert.equal(err.type, type, err.message);
  assert.equal(err.nonRetryable, true);
  assert.match(err.message, message);
  return true;
};

test('a node agent refuses, before it starts anything, what its operator did not allow or the controller did not grant', async () => {
  const launch: NodeTarget = { kind: 'command', argv: ['/bin/sh', '-c', 'touch /tmp/pwned'] };
  await assert.rejects(collect(config, input(launch)), refused('LaunchNotAllowed', /node n1 refuses: this node agent launches no commands \(started without --allow-launch/));
  await assert.rejects(collect(config, input(pods, { grant: undefined })), refused('TargetNotGranted', /no grant from the controller/));
  // A grant for another target, node or workflow does not cover this one.
  await assert.rejects(collect(config, input({ kind: 'pid', pid: 1 }, { grant: issueGrant(keyring, WORKFLOW, 'n1', pods) })), refused('TargetNotGranted', /does not cover this target/));
  await assert.rejects(collect(config, input(pods, { grant: issueGrant(keyring, WORKFLOW, 'n2', pods) })), refused('TargetNotGranted', /does not cover/));
  await assert.rejects(collect(config, input(pods, { grant: issueGrant(keyring, 'attacker/wf', 'n1', pods) })), refused('TargetNotGranted', /does not cover/));
  await assert.rejects(collect(config, input(pods, { store: 's3://attacker/loot?endpoint=http://127.0.0.1:1' })), refused('StoreNotAllowed', /writes only to its configured object store file:\/\/\/var\/lib\/varmor-modeler\/store/));
  // Everything allowed and granted: it gets as far as the tracer.
  await assert.rejects(collect({ ...config, allow: { launch: true, hostTargets: true } }, input(launch)), refused('BpfUnavailable', /varmor-tracer is missing/));
  await assert.rejects(collect(config, input(pods)), refused('BpfUnavailable', /varmor-tracer is missing/));
});
