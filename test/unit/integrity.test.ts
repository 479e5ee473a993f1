import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { grantProblem, issueGrant } from '../../activities/grant.js';
import { matchesSelector, namespaceRefusal, needsLabels, parseSelector, type ModelingPolicy } from '../../core/policy.js';
import type { NodeTarget } from '../../core/target.js';
import { Keyring } from '../../lib/keyring.js';
import { modelingPolicyFromEnv } from '../../lib/policy-env.js';
import { IntegrityError, seal, unseal } from '../../store/sealed.js';
import { tempDir } from '../helpers.js';

async function keyDir(...ids: string[]): Promise<string> {
  const dir = await tempDir('keys');
  for (const id of ids) await writeFile(join(dir, id), randomBytes(32).toString('base64') + '\n');
  return dir;
}

const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof IntegrityError, String(err));
    return err.reason;
  }
  assert.fail('expected an IntegrityError');
};

test('a sealed object opens under its key only: altered, forged, copied or foreign objects are refused', async () => {
  const keyring = Keyring.open(await keyDir('k1'));
  const body = new TextEncoder().encode('{"behaviors":{}}');
  const sealed = seal(keyring, 'runs/a/batches/n1/bpf/00000001.json.gz', body);
  assert.deepEqual(Buffer.from(unseal(keyring, 'runs/a/batches/n1/bpf/00000001.json.gz', sealed)), Buffer.from(body));
  // The same bytes under another key: a genuine batch copied to another run, node or sequence number.
  assert.equal(reason(() => unseal(keyring, 'runs/a/batches/n1/bpf/00000002.json.gz', sealed)), 'bad-mac');
  // One byte of the body changed.
  const altered = Buffer.from(sealed);
  altered[altered.length - 1] ^= 1;
  assert.equal(reason(() => unseal(keyring, 'runs/a/batches/n1/bpf/00000001.json.gz', altered)), 'bad-mac');
  // Written without the key: plain gzip, or a header with a made-up MAC.
  assert.equal(reason(() => unseal(keyring, 'k', body)), 'unsealed');
  assert.equal(reason(() => unseal(keyring, 'k', Buffer.concat([Buffer.from(`VMSEAL1 k1 ${'A'.repeat(43)}\n`), body]))), 'bad-mac');
  // Sealed by another installation's keyring.
  const other = Keyring.open(await keyDir('k1'));
  assert.equal(reason(() => unseal(keyring, 'k', seal(other, 'k', body))), 'bad-mac');
  const stranger = Keyring.open(await keyDir('k9'));
  assert.equal(reason(() => unseal(keyring, 'k', seal(stranger, 'k', body))), 'unknown-key');
  // Hostile headers: empty, huge, no newline.
  for (const junk of [new Uint8Array(), randomBytes(4096), Buffer.from('VMSEAL1 '.repeat(100))]) assert.equal(reason(() => unseal(keyring, 'k', junk)), 'unsealed');
});

test('keys rotate without losing a running window: old objects verify while their key is present, new ones use the newest key', async () => {
  const dir = await keyDir('k0001');
  const keyring = Keyring.open(dir);
  const old = seal(keyring, 'a', new Uint8Array([1]));
  await writeFile(join(dir, 'k0002'), randomBytes(32).toString('base64'));
  // A key added to the directory (a Secret updated in place) is found when an object names it.
  const rotated = Keyring.open(dir);
  assert.equal(rotated.primary, 'k0002');
  const fresh = seal(rotated, 'b', new Uint8Array([2]));
  assert.match(Buffer.from(fresh).toString('latin1'), /^VMSEAL1 k0002 /);
  assert.deepEqual([...unseal(keyring, 'b', fresh)], [2], 'the running process reads the newly added key on demand');
  assert.deepEqual([...unseal(rotated, 'a', old)], [1]);
  await rm(join(dir, 'k0001'));
  assert.equal(reason(() => unseal(Keyring.open(dir), 'a', old)), 'unknown-key');
});

test('a keyring refuses to run without a usable key; the state home makes one, private', async () => {
  const empty = await keyDir();
  assert.throws(() => Keyring.open(empty), /no key in .*VARMOR_MODELER_KEYS/);
  const short = await tempDir('keys');
  await writeFile(join(short, 'k1'), 'short\n');
  assert.throws(() => Keyring.open(short), /key k1 .* is too short/);
  assert.throws(() => Keyring.open('/nonexistent/keys'), /cannot read the key directory \/nonexistent\/keys/);
  // A Secret volume's own entries are not keys.
  const secretVolume = await keyDir('..data', '.hidden', 'k0001');
  assert.equal(Keyring.open(secretVolume).primary, 'k0001');
  const home = await tempDir('home');
  const made = Keyring.atHome(home);
  const [id] = await readdir(join(home, 'keys'));
  assert.equal(made.primary, id);
  assert.equal((await stat(join(home, 'keys', id!))).mode & 0o777, 0o600);
  assert.equal(Keyring.atHome(home).primary, id, 'the same key on the next start');
});

test('a grant covers exactly the workflow, node and target it was issued for', async () => {
  const keyring = Keyring.open(await keyDir('k1'));
  const trace: NodeTarget = { kind: 'pods', pods: [{ uid: '1f0e5c2a-0000-4000-8000-000000000001' }] };
  const grant = issueGrant(keyring, 'varmor-modeler/shop/web', 'node-a', trace);
  assert.equal(grantProblem(keyring, grant, 'varmor-modeler/shop/web', 'node-a', trace), undefined);
  // Key order of the target does not matter; its content does.
  assert.equal(grantProblem(keyring, grant, 'varmor-modeler/shop/web', 'node-a', JSON.parse('{"pods":[{"uid":"1f0e5c2a-0000-4000-8000-000000000001"}],"kind":"pods"}')), undefined);
  assert.match(grantProblem(keyring, grant, 'varmor-modeler/shop/web', 'node-a', { kind: 'pid', pid: 1 })!, /does not cover/);
  assert.match(grantProblem(keyring, grant, 'varmor-modeler/shop/web', 'node-b', trace)!, /does not cover this target on node node-b/);
  assert.match(grantProblem(keyring, grant, 'attacker/x', 'node-a', trace)!, /for workflow attacker\/x/);
  assert.match(grantProblem(keyring, undefined, 'w', 'node-a', trace)!, /no grant from the controller/);
  assert.match(grantProblem(keyring, 'g1.k1.forged', 'w', 'node-a', trace)!, /malformed/);
  assert.match(grantProblem(keyring, { grant } as unknown, 'w', 'node-a', trace)!, /no grant/);
  const foreign = issueGrant(Keyring.open(await keyDir('k1')), 'varmor-modeler/shop/web', 'node-a', trace);
  assert.match(grantProblem(keyring, foreign, 'varmor-modeler/shop/web', 'node-a', trace)!, /does not cover/);
});

test('the modeling policy: namespaces by name, by label selector, excluded ones; host targets', () => {
  const policy: ModelingPolicy = { namespaces: ['shop'], namespaceSelector: 'varmor-modeler.io/model=true,tier notin (infra)', excludeNamespaces: ['kube-system'], hostTargets: false };
  assert.equal(namespaceRefusal(policy, 'shop'), undefined);
  assert.equal(needsLabels(policy, 'shop'), false);
  assert.equal(needsLabels(policy, 'blog'), true);
  assert.equal(namespaceRefusal(policy, 'blog', { 'varmor-modeler.io/model': 'true' }), undefined);
  assert.match(namespaceRefusal(policy, 'blog', { 'varmor-modeler.io/model': 'true', tier: 'infra' })!, /namespace blog may not be modelled: it is not in policy\.namespaces \(VARMOR_MODELER_ALLOW_NAMESPACES\) \[shop\], nor do its labels match policy\.namespaceSelector/);
  assert.match(namespaceRefusal(policy, 'kube-system', { 'varmor-modeler.io/model': 'true' })!, /excluded from modeling by policy\.excludeNamespaces/);
  assert.match(namespaceRefusal({ ...policy, namespaceSelector: undefined, namespaces: [] }, 'shop')!, /policy\.namespaces \(VARMOR_MODELER_ALLOW_NAMESPACES\) none$/);
  assert.equal(namespaceRefusal({ ...policy, namespaces: ['*'] }, 'anything'), undefined);

  const sel = (s: string, labels: Record<string, string>) => matchesSelector(parseSelector(s), labels);
  assert.ok(sel('a=1', { a: '1' }) && sel('a==1', { a: '1' }) && !sel('a=1', { a: '2' }) && !sel('a=1', {}));
  assert.ok(sel('a!=1', {}) && sel('a!=1', { a: '2' }) && !sel('a!=1', { a: '1' }));
  assert.ok(sel('a', { a: '' }) && !sel('a', {}) && sel('!a', {}) && !sel('!a', { a: 'x' }));
  assert.ok(sel('env in (prod, staging),team', { env: 'staging', team: 'x' }) && !sel('env in (prod)', { env: 'dev' }));
  assert.ok(!sel('constructor', {}) && sel('!toString', {}), 'an inherited member is not a label');
  for (const bad of ['a in b', '=1', 'a=b=c', 'k/=v', 'a=(x)']) assert.throws(() => parseSelector(bad), /invalid label selector/, bad);
});

test('the policy from the environment: none set is the open one-machine policy; a typo fails at start', () => {
  assert.deepEqual(modelingPolicyFromEnv({}), { namespaces: ['*'], excludeNamespaces: [], hostTargets: true });
  assert.deepEqual(modelingPolicyFromEnv({ VARMOR_MODELER_ALLOW_NAMESPACES: 'shop, blog', VARMOR_MODELER_EXCLUDE_NAMESPACES: 'kube-system', VARMOR_MODELER_NAMESPACE_SELECTOR: '', VARMOR_MODELER_ALLOW_HOST_TARGETS: 'false' }), {
    namespaces: ['shop', 'blog'], excludeNamespaces: ['kube-system'], hostTargets: false,
  });
  assert.deepEqual(modelingPolicyFromEnv({ VARMOR_MODELER_ALLOW_NAMESPACES: '' }).namespaces, [], 'set but empty: nothing by name');
  assert.throws(() => modelingPolicyFromEnv({ VARMOR_MODELER_NAMESPACE_SELECTOR: 'a in b' }), /invalid label selector/);
  assert.throws(() => modelingPolicyFromEnv({ VARMOR_MODELER_ALLOW_HOST_TARGETS: 'yes' }), /expected true or false/);
});
