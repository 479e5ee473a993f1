import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { openStore } from '../../store/open.js';
import { freePort, tempDir } from '../helpers.js';
import { objectStoreContract } from './contract.js';

// varmor-s3, the all-in-one chart's object store (tools/s3), holds the same contract as real S3.
const BIN = join(PACKAGE_ROOT, '.tools', 'bin', 'varmor-s3');
const skip = !existsSync(BIN) && !process.env.CI ? 'varmor-s3 is not built (make setup)' : false;
const BUCKET = 'varmor-modeler';
let server: ChildProcess | undefined;
let url = '';
let n = 0;

before(async () => {
  if (skip) return;
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--db', join(await tempDir('s3'), 's3.db'), '--bucket', BUCKET], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(endpoint).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // As the chart passes them: the endpoint in the URL, placeholder credentials (varmor-s3 checks none).
  process.env.AWS_ACCESS_KEY_ID = 'varmor-modeler';
  process.env.AWS_SECRET_ACCESS_KEY = 'varmor-modeler';
  url = `s3://${BUCKET}/contract?endpoint=${encodeURIComponent(endpoint)}&region=us-east-1&pathStyle=true`;
});
after(() => server?.kill('SIGTERM'));

objectStoreContract('varmor-s3 (the all-in-one store)', async () => openStore(url.replace('/contract?', `/contract/${n++}?`)), { skip });
