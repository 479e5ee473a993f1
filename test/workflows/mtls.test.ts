/**
 * The CLI and its in-process workers speak mTLS to a real Temporal frontend that requires and
 * verifies client certificates (tls-server.ts), and a wrong or missing client certificate is
 * refused before anything starts. `record` goes through the real workflow, the real node collector
 * (BPF tracer: root) and the merge.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Client } from '@temporalio/client';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { cli, run, tempDir, type Ran } from '../helpers.js';
import { TEMPORAL_CLI } from './env.js';
import { startTlsServer, type TlsServer } from './tls-server.js';

let server: TlsServer;
/** Temp dirs the tests made (state homes, the temporal CLI's home), removed at the end. */
const dirs: string[] = [];
before(async () => {
  server = await startTlsServer();
}, { timeout: 180_000 });
after(async () => {
  await server?.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function scratch(prefix: string): Promise<string> {
  const dir = await tempDir(prefix);
  dirs.push(dir);
  return dir;
}

const RUN = 'mtls-true';
const WORKFLOW_ID = `varmor-modeler/default/${RUN}`;

/** The CLI's Temporal variables (lib/temporal-tls.ts); none inherited from the caller's environment. */
function temporalEnv(pair: { cert: string; key: string } | undefined): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TLS_CA: server.certs.ca,
    TEMPORAL_TLS_CERT: pair?.cert,
    TEMPORAL_TLS_KEY: pair?.key,
    TEMPORAL_TLS_SERVER_NAME: undefined,
    VARMOR_MODELER_HOME: undefined,
  };
}

async function record(name: string, pair: { cert: string; key: string } | undefined): Promise<Ran & { out: string }> {
  const home = await scratch('home');
  const out = join(home, 'out');
  const r = await cli(['--home', home, 'record', '--duration', '5s', '--name', name, '--out', out, '--', '/bin/true'], temporalEnv(pair), 120_000);
  return { ...r, out };
}

/** Workflow ids in namespace default, read with the good client pair. */
async function workflowIds(): Promise<string[]> {
  const connection = await server.connect();
  try {
    const ids: string[] = [];
    for await (const w of new Client({ connection, namespace: 'default' }).workflow.list()) ids.push(w.workflowId);
    return ids.sort();
  } finally {
    await connection.close();
  }
}

/**
 * Node's own warning, printed once per process when grpc-js sends an IP literal as the TLS server
 * name (TEMPORAL_ADDRESS=127.0.0.1:... and no TEMPORAL_TLS_SERVER_NAME): not the CLI's output.
 */
const NODE_SNI_WARNING = /^\(node:\d+\) \[DEP0123\]|^\(Use `node --trace-deprecation/;

/**
 * A TLS handshake with the frontend, then the HTTP/2 preface: "accepted" when the server answers,
 * else the error it ended the connection with (with TLS 1.3 the server's verdict on the client
 * certificate arrives as an alert after the client's side of the handshake).
 */
function tlsProbe(pair: { cert: string; key: string } | undefined): Promise<string> {
  const [host, port] = server.address.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port: Number(port),
      servername: 'localhost',
      ALPNProtocols: ['h2'],
      ca: readFileSync(server.certs.ca),
      ...(pair ? { cert: readFileSync(pair.cert), key: readFileSync(pair.key) } : {}),
    });
    const done = (verdict: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(verdict);
    };
    const timer = setTimeout(() => done('no answer within 10 s'), 10_000);
    socket.once('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    socket.once('data', () => done('accepted'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.once('close', () => done('closed without an answer'));
  });
}

/** A refused `record`: non-zero exit, one line on stderr that says why, and no workflow started. */
async function assertRefused(name: string, pair: { cert: string; key: string } | undefined, alert: RegExp, message: RegExp): Promise<string> {
  const before = await workflowIds();
  const r = await record(name, pair);
  assert.notEqual(r.code, 0, `record was not refused:\n${r.stdout}\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !NODE_SNI_WARNING.test(l));
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^varmor-modeler: /);
  assert.ok(lines[0]!.includes(server.address), `the line does not name the address ${server.address}: ${lines[0]}`);
  assert.match(lines[0]!, message);
  // Visibility is written asynchronously: give a workflow that did start the time to show.
  await new Promise((r) => setTimeout(r, 1_000));
  assert.deepEqual(await workflowIds(), before, 'a workflow was started despite the refused certificate');
  // And it is the certificate the server refuses, not the connection as such.
  const verdict = await tlsProbe(pair);
  assert.match(verdict, alert, `the frontend did not refuse the client certificate as expected`);
  return `${lines[0]} (TLS: ${verdict})`;
}

test('record end to end over mTLS: real workflow, real tracer, merge', { timeout: 180_000 }, async (t) => {
  const r = await record(RUN, { cert: server.certs.cert, key: server.certs.key });
  assert.equal(r.code, 0, `record failed:\n${r.stderr}`);
  assert.equal(await tlsProbe({ cert: server.certs.cert, key: server.certs.key }), 'accepted', 'the good pair is accepted at the TLS level');
  const model = parse(await readFile(join(r.out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
  const executions = model.data.dynamicResult.appArmor?.executions ?? [];
  assert.ok(executions.some((e) => /^(\/usr)?\/bin\/true$/.test(e)), `/bin/true missing from executions: ${executions.join(' ')}`);
  assert.ok((await workflowIds()).includes(WORKFLOW_ID), `${WORKFLOW_ID} not listed`);
  t.diagnostic(`executions: ${executions.join(' ')}`);
});

test('record with a client certificate from another CA is refused, and starts nothing', { timeout: 120_000 }, async (t) => {
  t.diagnostic(await assertRefused('mtls-wrong', { cert: server.certs.wrongCert, key: server.certs.wrongKey }, /^ERR_SSL_TLSV1_ALERT_UNKNOWN_CA$/, /refuses this client: it refused this client's certificate \(ERR_SSL_TLSV1_ALERT_UNKNOWN_CA/));
});

test('record with no client certificate (only the CA) is refused, and starts nothing', { timeout: 120_000 }, async (t) => {
  t.diagnostic(await assertRefused('mtls-none', undefined, /^ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED$/, /refuses this client: it requires a client certificate \(set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY\)/));
});

test('the temporal CLI with the good pair lists the run record made', { timeout: 60_000 }, async () => {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: await scratch('cli-home') };
  const r = await run(
    TEMPORAL_CLI,
    ['workflow', 'list', '--disable-config-file', '--address', server.address, '--namespace', 'default',
      '--tls-cert-path', server.certs.cert, '--tls-key-path', server.certs.key, '--tls-ca-path', server.certs.ca, '--output', 'json'],
    { env },
  );
  assert.equal(r.code, 0, `temporal workflow list failed:\n${r.stderr}`);
  const rows = JSON.parse(r.stdout) as { execution?: { workflowId?: string }; status?: string }[];
  const row = rows.find((w) => w.execution?.workflowId === WORKFLOW_ID);
  assert.ok(row, `${WORKFLOW_ID} not in: ${r.stdout}`);
  assert.match(String(row.status), /COMPLETED/);
});
