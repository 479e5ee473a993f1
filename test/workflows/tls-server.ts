/**
 * A real Temporal server whose frontend speaks mTLS only, for the TLS tests: go.temporal.io/server's
 * own cmd/server, built by `make setup` into .tools/bin/temporal-server (tools/temporal-server),
 * since the CLI's `server start-dev` has no TLS options. Per run: a CA, a server certificate for
 * 127.0.0.1/localhost, a client certificate from that CA and one from an unrelated CA (openssl), a
 * config file, SQLite in a temp file (schema set up by the plugin's `setup` attribute), and the
 * namespace `default` registered over mTLS. Our search attributes are not registered: the CLI
 * registers what is missing itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection, type TLSConfig } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { stringify } from 'yaml';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { freePort, run, tempDir } from '../helpers.js';

export const TEMPORAL_SERVER = join(PACKAGE_ROOT, '.tools', 'bin', 'temporal-server');

export interface TlsCerts {
  /** The CA the server's certificate and the good client certificate are signed by. */
  ca: string;
  /** The good client pair. */
  cert: string;
  key: string;
  /** A client pair signed by an unrelated CA: the server must refuse it. */
  wrongCert: string;
  wrongKey: string;
}

export interface TlsServer {
  /** host:port of the frontend (127.0.0.1). */
  address: string;
  /** The temp dir: certificates, config, database, server.log. */
  dir: string;
  certs: TlsCerts;
  /** A connection with the good client pair (its caller closes it). */
  connect(): Promise<Connection>;
  stop(): Promise<void>;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, 'req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

/** A key and a certificate signed by `ca`. */
async function issue(dir: string, ca: string, name: string, subject: string, ext: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(dir, 'req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  await openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
}

async function makeCerts(dir: string): Promise<TlsCerts> {
  await makeCa(dir, 'ca');
  await makeCa(dir, 'wrong-ca');
  const leaf = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  await issue(dir, 'ca', 'server', '/CN=localhost', `${leaf}extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n`);
  await issue(dir, 'ca', 'client', '/CN=varmor-modeler', `${leaf}extendedKeyUsage=clientAuth\n`);
  await issue(dir, 'wrong-ca', 'wrong-client', '/CN=varmor-modeler', `${leaf}extendedKeyUsage=clientAuth\n`);
  const p = (f: string) => join(dir, f);
  return { ca: p('ca.crt'), cert: p('client.crt'), key: p('client.key'), wrongCert: p('wrong-client.crt'), wrongKey: p('wrong-client.key') };
}

/** The server's static config: four services on loopback, frontend mTLS, system worker with the good pair. */
function serverConfig(dir: string, certs: TlsCerts, ports: number[]): string {
  const [frontend, history, matching, worker, ...membership] = ports as [number, number, number, number, number, number, number, number];
  const service = (grpcPort: number, membershipPort: number) => ({ rpc: { grpcPort, membershipPort, bindOnIP: '127.0.0.1' } });
  const sqlite = {
    sql: {
      pluginName: 'sqlite',
      databaseName: join(dir, 'temporal.db'),
      connectAddr: 'localhost',
      connectProtocol: 'tcp',
      // setup: the plugin creates the schema in the new file (as development-sqlite-file.yaml).
      connectAttributes: { cache: 'private', setup: 'true', journal_mode: 'wal', synchronous: '2' },
      maxConns: 1,
      maxIdleConns: 1,
      maxConnLifetime: '1h',
    },
  };
  const serverTls = { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), requireClientAuth: true, clientCaFiles: [certs.ca] };
  const clientTls = { serverName: 'localhost', rootCaFiles: [certs.ca] };
  return stringify({
    log: { stdout: true, level: 'warn' },
    persistence: { defaultStore: 'sqlite-default', visibilityStore: 'sqlite-default', numHistoryShards: 1, datastores: { 'sqlite-default': sqlite } },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      tls: {
        // Internode (history, matching) stays plain on loopback; the frontend takes mTLS only.
        frontend: { server: serverTls, client: clientTls },
        // The server's own workers (system workflows) reach the frontend with the good client pair.
        systemWorker: { certFile: certs.cert, keyFile: certs.key, client: clientTls },
      },
    },
    services: {
      frontend: service(frontend, membership[0]),
      history: service(history, membership[1]),
      matching: service(matching, membership[2]),
      worker: service(worker, membership[3]),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${frontend}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    dynamicConfigClient: { filepath: join(dir, 'dynamicconfig.yaml'), pollInterval: '10s' },
  });
}

/** Search attributes registered by the CLI are visible to the next workflow task at once, as on the dev server. */
const DYNAMIC_CONFIG = stringify({ 'system.forceSearchAttributesCacheRefreshOnRead': [{ value: true }] });

async function goodTls(certs: TlsCerts): Promise<TLSConfig> {
  return { serverRootCACertificate: await readFile(certs.ca), clientCertPair: { crt: await readFile(certs.cert), key: await readFile(certs.key) } };
}

async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-30).join('\n');
}

/**
 * Starts the server and returns once namespace `default` answers over mTLS. Throws (with the
 * server log's tail) when it cannot: the binary is missing, the server exits, or it does not serve
 * within the deadline. A port taken between freePort and the bind is retried with new ports.
 */
export async function startTlsServer(opts: { deadlineMs?: number } = {}): Promise<TlsServer> {
  if (!existsSync(TEMPORAL_SERVER)) throw new Error(`${TEMPORAL_SERVER} is not built: run make setup (or make .tools/bin/temporal-server)`);
  const dir = await tempDir('temporal-tls');
  const certs = await makeCerts(dir);
  const tls = await goodTls(certs);
  await writeFile(join(dir, 'dynamicconfig.yaml'), DYNAMIC_CONFIG);
  const logFile = join(dir, 'server.log');
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    while (ports.length < 8) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    await rm(join(dir, 'temporal.db'), { force: true });
    await writeFile(join(dir, 'config.yaml'), serverConfig(dir, certs, ports));
    const address = `127.0.0.1:${ports[0]}`;
    const log = openSync(logFile, 'a');
    const child = spawn(TEMPORAL_SERVER, ['--config-file', join(dir, 'config.yaml'), '--allow-no-auth', 'start'], { stdio: ['ignore', log, log] });
    closeSync(log);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    };
    try {
      await untilServing(child, address, tls, opts.deadlineMs ?? 90_000);
    } catch (err) {
      await stop();
      const tail = await logTail(logFile);
      if (attempt < 3 && /address already in use/.test(tail)) continue;
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      throw new Error(`the mTLS Temporal server did not start: ${(err as Error).message}\n--- ${logFile} (tail) ---\n${tail}`);
    }
    return {
      address,
      dir,
      certs,
      connect: () => Connection.connect({ address, tls, connectTimeout: 10_000 }),
      async stop() {
        await stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

/** Waits for the frontend over mTLS, registers namespace `default`, and waits until the frontend knows it. */
async function untilServing(child: ChildProcess, address: string, tls: TLSConfig, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  let registered = false;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`temporal-server exited (${child.exitCode ?? child.signalCode})`);
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, tls, connectTimeout: 2_000 });
      const svc = connection.workflowService;
      if (!registered) {
        await svc.registerNamespace({ namespace: 'default', workflowExecutionRetentionPeriod: msToTs('1 day') }).catch((err: Error) => {
          if (!/already exists|AlreadyExists/i.test(err.message)) throw err;
        });
        registered = true;
      }
      await svc.describeNamespace({ namespace: 'default' });
      await svc.listWorkflowExecutions({ namespace: 'default' });
      return;
    } catch (err) {
      last = err;
    } finally {
      await connection?.close().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`not serving at ${address} within ${deadlineMs / 1000} s: ${(last as Error | undefined)?.message ?? 'no answer'}`);
}
