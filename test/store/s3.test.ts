import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { nextSeq, putBatch } from '../../store/batches.js';
import { openStore } from '../../store/open.js';
import { parseS3Url, S3Store } from '../../store/s3-store.js';
import { freePort, tempDir, testKeyring } from '../helpers.js';
import { batch, objectStoreContract } from './contract.js';

// A real S3-protocol server on loopback: moto's, installed into the project venv by `make setup`.
// It runs with IAM authentication on, so every request must be signed with the access key the
// test takes from moto's IAM and hands to the store through the standard environment only.
const MOTO = join(PACKAGE_ROOT, '.tools', 'venv', 'bin', 'moto_server');
// In CI a missing server is a broken setup, not a reason to skip.
const skip = !existsSync(MOTO) && !process.env.CI ? 'moto_server is not installed (make setup)' : false;
const BUCKET = 'varmor-test';
const FORBIDDEN = 'varmor-forbidden';
/** IAM calls the test makes before authentication starts to be enforced. */
const SETUP_ACTIONS = 3;

let moto: ChildProcess | undefined;
let endpoint = '';
let keyId = '';
let secret = '';
let n = 0;


/** An IAM query call during moto's unauthenticated start (the service is read from the credential scope). */
async function iam(params: Record<string, string>): Promise<string> {
  const res = await fetch(endpoint + '/', {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'AWS4-HMAC-SHA256 Credential=setup/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: new URLSearchParams({ ...params, Version: '2010-05-08' }),
  });
  const text = await res.text();
  assert.ok(res.ok, `IAM ${params.Action}: ${res.status} ${text}`);
  return text;
}

/** The standard AWS environment for this process only: nothing from the developer's own setup. */
async function isolateEnvironment(): Promise<void> {
  for (const k of Object.keys(process.env)) if (/^(AWS_|VARMOR_MODELER_S3_)/.test(k)) delete process.env[k];
  const dir = await tempDir('aws');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
  process.env.AWS_CONFIG_FILE = join(dir, 'config');
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
}

/** Sets environment variables for one block, and restores them after. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v)) if (val === undefined) delete process.env[k]; else process.env[k] = val;
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

before(async () => {
  if (skip) return;
  await isolateEnvironment();
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  let output = '';
  moto = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: String(SETUP_ACTIONS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  moto.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  moto.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (moto.exitCode !== null) throw new Error(`moto_server exited with ${moto.exitCode}: ${output}`);
    try {
      if ((await fetch(`${endpoint}/moto-api/`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`moto_server did not answer on ${endpoint} within 60 s: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  await iam({ Action: 'CreateUser', UserName: 'modeler' });
  await iam({
    Action: 'PutUserPolicy', UserName: 'modeler', PolicyName: 'store', PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 's3:*', Resource: '*' },
        { Effect: 'Deny', Action: 's3:*', Resource: [`arn:aws:s3:::${FORBIDDEN}`, `arn:aws:s3:::${FORBIDDEN}/*`] },
      ],
    }),
  });
  const key = await iam({ Action: 'CreateAccessKey', UserName: 'modeler' });
  keyId = /<AccessKeyId>([^<]+)</.exec(key)![1];
  secret = /<SecretAccessKey>([^<]+)</.exec(key)![1];

  // From here on moto checks every signature; the store finds its key in the standard environment,
  // or in a profile of the shared files.
  await writeFile(process.env.AWS_SHARED_CREDENTIALS_FILE!, `[moto]\naws_access_key_id = ${keyId}\naws_secret_access_key = ${secret}\n`);
  await writeFile(process.env.AWS_CONFIG_FILE!, '[profile moto]\nregion = eu-west-1\n');
  process.env.AWS_ACCESS_KEY_ID = keyId;
  process.env.AWS_SECRET_ACCESS_KEY = secret;
  process.env.AWS_DEFAULT_REGION = 'eu-west-1';
  process.env.VARMOR_MODELER_S3_ENDPOINT = endpoint;
  const admin = new S3Client({ endpoint, region: 'eu-west-1', forcePathStyle: true, credentials: { accessKeyId: keyId, secretAccessKey: secret } });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  admin.destroy();
});

after(() => {
  moto?.kill('SIGTERM');
});

objectStoreContract('s3 store', async () => openStore(`s3://${BUCKET}/contract/${n++}`), { skip });

test('s3 URLs: bucket, prefix and options, the URL over the environment over the defaults', () => {
  assert.deepEqual(parseS3Url('s3://b', {}), { bucket: 'b', prefix: '', endpoint: undefined, region: undefined, pathStyle: false });
  assert.deepEqual(parseS3Url('s3://b/some/prefix/', {}), { bucket: 'b', prefix: 'some/prefix', endpoint: undefined, region: undefined, pathStyle: false });
  const env = { AWS_ENDPOINT_URL: 'http://generic:1', AWS_DEFAULT_REGION: 'eu-west-3', VARMOR_MODELER_S3_PATH_STYLE: 'true' };
  assert.deepEqual(parseS3Url('s3://b/p', env), { bucket: 'b', prefix: 'p', endpoint: 'http://generic:1', region: 'eu-west-3', pathStyle: true });
  assert.equal(parseS3Url('s3://b/p', { ...env, AWS_ENDPOINT_URL_S3: 'http://s3only:2' }).endpoint, 'http://s3only:2');
  assert.equal(parseS3Url('s3://b/p', { ...env, AWS_ENDPOINT_URL_S3: 'http://s3only:2', VARMOR_MODELER_S3_ENDPOINT: 'http://ours:3' }).endpoint, 'http://ours:3');
  assert.equal(parseS3Url('s3://b/p', { ...env, AWS_REGION: 'ap-south-1' }).region, 'ap-south-1');
  assert.deepEqual(parseS3Url('s3://b/p?endpoint=http://127.0.0.1:9000&region=us-west-2&pathStyle=false', { ...env, VARMOR_MODELER_S3_ENDPOINT: 'http://ours:3' }),
    { bucket: 'b', prefix: 'p', endpoint: 'http://127.0.0.1:9000', region: 'us-west-2', pathStyle: false });
  assert.throws(() => parseS3Url('s3://b/p?pathstyle=true', {}), /unknown option "pathstyle"/);
  assert.throws(() => parseS3Url('s3:///p', {}), /invalid S3 store URL/);
  assert.throws(() => parseS3Url('s3://b/a%20b', {}), /invalid S3 store URL "s3:\/\/b\/a%20b": prefix "a b"/);
  assert.throws(() => parseS3Url('s3://b/p?endpoint=127.0.0.1:9000', {}), /invalid S3 endpoint "127.0.0.1:9000"/);
  assert.throws(() => parseS3Url('s3://b/p?pathStyle=yes', {}), /invalid S3 path-style setting "yes"/);
});

test('s3 store: a prefix is a folder, sibling prefixes and the bucket root keep their keys apart', { skip }, async () => {
  const run = await openStore(`s3://${BUCKET}/iso/run`);
  const run2 = await openStore(`s3://${BUCKET}/iso/run2/`);
  const root = await openStore(`s3://${BUCKET}`);
  await run.put('x', new Uint8Array([1]));
  await run2.put('x', new Uint8Array([2]));
  assert.deepEqual(await run.list(''), ['x']);
  assert.deepEqual(await run2.list(''), ['x']);
  assert.deepEqual(Buffer.from((await run2.get('x'))!), Buffer.from([2]));
  assert.deepEqual(await root.list('iso'), ['iso/run/x', 'iso/run2/x']);
  assert.deepEqual(Buffer.from((await root.get('iso/run/x'))!), Buffer.from([1]));
});

test('s3 store: listing pages through more than 1000 keys', { skip, timeout: 120_000 }, async () => {
  const store = (await openStore(`s3://${BUCKET}/paged`)) as S3Store;
  let lists = 0;
  store.client.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName === 'ListObjectsV2Command') lists++;
    return next(args);
  }, { step: 'initialize', name: 'countLists' });
  const expected = Array.from({ length: 1100 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
  const queue = [...expected].reverse();
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let k = queue.pop(); k !== undefined; k = queue.pop()) await store.put(k, new Uint8Array([1]));
  }));
  assert.deepEqual(await store.list('many'), expected);
  assert.equal(lists, 2, 'one ListObjectsV2 call per 1000 keys');
});

test('s3 store: batch helpers over S3: concurrent checkpoints, nextSeq resumes after the highest', { skip, timeout: 60_000 }, async () => {
  const store = await openStore(`s3://${BUCKET}/batches`);
  const keyring = await testKeyring();
  await Promise.all(Array.from({ length: 12 }, (_, i) => putBatch(store, keyring, batch(i))));
  assert.equal(await nextSeq(store, 'default/app/run-1', 'node-a', 'bpf'), 12);
  assert.equal(await nextSeq(store, 'default/app/run-1', 'node-b', 'bpf'), 0);
});

test('s3 store: the URL can carry the endpoint, region and path style', { skip }, async () => {
  await withEnv({ VARMOR_MODELER_S3_ENDPOINT: undefined, AWS_DEFAULT_REGION: undefined }, async () => {
    const store = (await openStore(`s3://${BUCKET}/query?endpoint=${encodeURIComponent(endpoint)}&region=eu-west-1&pathStyle=true`)) as S3Store;
    await store.put('k', new Uint8Array([7]));
    assert.deepEqual(Buffer.from((await store.get('k'))!), Buffer.from([7]));
    assert.equal(await store.client.config.region(), 'eu-west-1');
  });
});

test('s3 store: credentials and region come from the standard environment and files', { skip }, async () => {
  const store = (await openStore(`s3://${BUCKET}/creds`)) as S3Store;
  assert.equal(await store.client.config.region(), 'eu-west-1', 'AWS_DEFAULT_REGION');
  assert.equal((await store.client.config.credentials()).accessKeyId, keyId);
  await store.put('from-env', new Uint8Array([1]));

  // A named profile in the shared credentials file (written before the SDK's first use: it caches the files), region from the config file.
  await withEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_DEFAULT_REGION: undefined, AWS_PROFILE: 'moto' }, async () => {
    const viaProfile = (await openStore(`s3://${BUCKET}/creds`)) as S3Store;
    assert.equal(await viaProfile.client.config.region(), 'eu-west-1', 'the profile\'s region');
    assert.deepEqual(await viaProfile.list(''), ['from-env']);
  });

  // moto checks signatures: a wrong secret or an unknown key is refused, and the message says so.
  await withEnv({ AWS_SECRET_ACCESS_KEY: 'wrong' }, async () => {
    const bad = await openStore(`s3://${BUCKET}/creds`);
    await assert.rejects(bad.put('x', new Uint8Array()), /^Error: s3:\/\/varmor-test\/creds: access denied \(SignatureDoesNotMatch/);
  });
  await withEnv({ AWS_ACCESS_KEY_ID: 'AKIAUNKNOWN000000000' }, async () => {
    const bad = await openStore(`s3://${BUCKET}/creds`);
    await assert.rejects(bad.list(''), /s3:\/\/varmor-test\/creds: access denied \(InvalidAccessKeyId/);
  });
  await withEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }, async () => {
    const none = await openStore(`s3://${BUCKET}/creds`);
    await assert.rejects(none.get('x'), /s3:\/\/varmor-test\/creds: no AWS credentials found/);
  });
});

test('s3 store: a missing bucket, a denied bucket and an unreachable endpoint fail with clear messages', { skip, timeout: 60_000 }, async () => {
  const missing = await openStore('s3://no-such-bucket/some/prefix');
  for (const op of [() => missing.put('k', new Uint8Array([1])), () => missing.get('k'), () => missing.list('')]) {
    await assert.rejects(op(), /^Error: s3:\/\/no-such-bucket\/some\/prefix: bucket does not exist/);
  }
  const denied = await openStore(`s3://${FORBIDDEN}/p`);
  await assert.rejects(denied.put('k', new Uint8Array([1])), /^Error: s3:\/\/varmor-forbidden\/p: access denied \(AccessDenied/);

  const started = Date.now();
  const down = await openStore('s3://b/p?endpoint=http://127.0.0.1:1');
  await assert.rejects(down.put('k', new Uint8Array([1])), /^Error: s3 endpoint http:\/\/127\.0\.0\.1:1 unreachable: ECONNREFUSED \[put k in s3:\/\/b\/p\]$/);
  await assert.rejects(down.list(''), /unreachable: ECONNREFUSED/);
  assert.ok(Date.now() - started < 20_000, 'the SDK retries a bounded number of times');
});
