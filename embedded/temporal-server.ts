import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { PACKAGE_ROOT } from '../lib/package.js';
import { tlsFromEnv, tlsRefusal } from '../lib/temporal-tls.js';
import { SEARCH_ATTRIBUTES } from '../lib/search-attributes.js';

export interface TemporalEndpoint {
  address: string;
  /** The Web UI, when the embedded server serves one. */
  ui?: string;
  namespace: string;
  /** True when this process started the server (and so stops it). */
  started: boolean;
  /**
   * Stops a server this process started. `graceful: false` (record, once its run is over) kills
   * it: everything is committed to SQLite, which Temporal recovers from as from any crash, and a
   * graceful stop drains the frontend's streams for at least a second whatever its settings
   * (frontend.shutdownDrainDuration has a floor of 1 s; the server's own system workers hold polls).
   */
  stop(opts?: { graceful?: boolean }): Promise<void>;
}

export class TemporalUnavailable extends Error {}

/**
 * Limits a dev server needs for many nodes: each node agent holds one long activity poll on its own
 * queue, and the server refuses polls past its per-namespace concurrent-poll limit
 * (frontend.namespaceCount; the dev server refused them from about 150 node workers unless it is set,
 * bench/scale). Refused polls back off, so collectors started minutes late.
 */
export const DEV_SERVER_LIMITS = ['--dynamic-config-value', 'frontend.namespaceCount=10000'] as const;


/** The Temporal CLI: VARMOR_MODELER_TEMPORAL_BIN, the one set-up installed into .tools, or PATH. */
function temporalBinary(): string {
  if (process.env.VARMOR_MODELER_TEMPORAL_BIN) return process.env.VARMOR_MODELER_TEMPORAL_BIN;
  const local = join(PACKAGE_ROOT, '.tools', 'venv', 'bin', 'temporal');
  return existsSync(local) ? local : 'temporal';
}

/**
 * TEMPORAL_ADDRESS set: use that cluster. Otherwise the embedded default: a dev server on
 * 127.0.0.1 whose SQLite file lives in the state home, so workflows survive restarts. A server
 * another command of ours already started from the same home is reused, not restarted.
 */
export async function connectOrStart(home: string, log: Logger, opts: { start?: boolean; ui?: boolean; whileStarting?: () => void } = {}): Promise<TemporalEndpoint> {
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  if (process.env.TEMPORAL_ADDRESS) {
    const address = process.env.TEMPORAL_ADDRESS;
    await checkReachable(address, 10_000);
    return { address, namespace, started: false, stop: async () => {} };
  }
  await mkdir(home, { recursive: true });
  const stateFile = join(home, 'temporal-server.json');
  const running = await readState(stateFile);
  if (running && isAlive(running.pid)) {
    const address = `127.0.0.1:${running.port}`;
    try {
      await checkReachable(address, 5_000);
      log.debug({ address }, 'reusing the embedded Temporal server');
      return { address, namespace, started: false, stop: async () => {} };
    } catch {
      log.warn({ pid: running.pid }, 'embedded Temporal server does not answer; starting another');
    }
  }
  if (opts.start === false) {
    throw new TemporalUnavailable('no Temporal server to talk to: run "varmor-modeler dev" (embedded server and workers) in another terminal, or set TEMPORAL_ADDRESS');
  }
  return startServer(home, stateFile, namespace, log, opts.ui ?? false, opts.whileStarting);
}

/** `whileStarting`: called once the server process runs, for the caller to do its own start-up meanwhile. */
async function startServer(home: string, stateFile: string, namespace: string, log: Logger, ui: boolean, whileStarting?: () => void): Promise<TemporalEndpoint> {
  // The same port as last time when it is free, so workers of a restarted server find it again.
  const previous = await readState(join(home, 'temporal-server.port'));
  const port = previous && (await isFree(previous.port)) ? previous.port : await freePort();
  const uiPort = ui ? await freePort() : undefined;
  const address = `127.0.0.1:${port}`;
  const binary = temporalBinary();
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', join(home, 'temporal.db'), '--log-level', 'error'];
  args.push(...(uiPort ? ['--ui-port', String(uiPort)] : ['--headless']));
  args.push(...DEV_SERVER_LIMITS);
  for (const k of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${k}=Keyword`);
  if (namespace !== 'default') args.push('--namespace', namespace);
  await writeFile(join(home, 'temporal-server.port'), JSON.stringify({ pid: 0, port }) + '\n');

  let child: ChildProcess;
  let stopping = false;
  let restarts = 0;
  const launch = async (): Promise<void> => {
    const logFile = await open(join(home, 'temporal-server.log'), 'a');
    child = spawn(binary, args, { stdio: ['ignore', logFile.fd, logFile.fd], detached: true });
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    await logFile.close();
    if (spawned) throw new TemporalUnavailable(`cannot start the embedded Temporal server (${binary}): ${spawned.message}; run "make setup" or set TEMPORAL_ADDRESS`);
    child.unref();
    await writeFile(stateFile, JSON.stringify({ pid: child.pid, port, uiPort }) + '\n');
    // Supervised: a server that dies under us comes back on the same port and SQLite file, and
    // running workflows continue where the database left them.
    child.once('exit', (code, signal) => {
      if (stopping || restarts >= 20) return;
      restarts++;
      log.warn({ code, signal }, 'the embedded Temporal server exited; restarting it');
      setTimeout(() => launch().catch((err: Error) => log.error({ err }, 'cannot restart the embedded Temporal server')), 500);
    });
  };
  await launch();
  log.info({ address, pid: child!.pid }, 'started the embedded Temporal server');
  whileStarting?.();
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      // The port first: a gRPC connection refused at its first try waits out a 1 s reconnect backoff.
      while (!(await accepts(port)) && child!.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await checkReachable(address, 2_000);
      break;
    } catch (err) {
      if (child!.exitCode !== null || Date.now() > deadline) {
        stopping = true;
        child!.kill('SIGKILL');
        await rm(stateFile, { force: true });
        throw new TemporalUnavailable(`the embedded Temporal server did not start (see ${join(home, 'temporal-server.log')}): ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    ...(uiPort ? { ui: `http://127.0.0.1:${uiPort}` } : {}),
    namespace,
    started: true,
    async stop({ graceful = true } = {}) {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(timer);
      }
      await rm(stateFile, { force: true });
    },
  };
}

/** Connects and asks for the server's system info; throws TemporalUnavailable with the reason. */
async function checkReachable(address: string, timeoutMs: number): Promise<void> {
  let connection: Connection | undefined;
  try {
    // Loaded here, not at the top: record starts the server before the client's code has loaded.
    const { Connection } = await import('@temporalio/client');
    connection = await Connection.connect({ address, connectTimeout: timeoutMs, tls: tlsFromEnv() });
    await connection.workflowService.getSystemInfo({});
  } catch (err) {
    // A refused client certificate looks like a timeout to the gRPC client: ask the TLS layer.
    const tls = tlsFromEnv();
    const refusal = tls ? await tlsRefusal(address, tls) : undefined;
    if (refusal) throw new TemporalUnavailable(`Temporal at ${address} refuses this client: ${refusal}`);
    throw new TemporalUnavailable(`Temporal at ${address} is unreachable: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await connection?.close();
  }
}

async function readState(file: string): Promise<{ pid: number; port: number } | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as { pid: number; port: number };
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Something listens on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
