import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from '../lib/metrics.js';

/*
 * The workers' HTTP endpoint (--metrics-port, docs/metrics.md): /metrics (our Prometheus
 * registry), /healthz (liveness) and /readyz (readiness) for the chart's probes.
 */

/** A check: resolves with undefined when it passes, else with why it does not. */
export type Check = () => Promise<string | undefined>;

export interface Listen {
  host: string;
  port: number;
}

/** `PORT` (every interface) or `HOST:PORT`. */
export function listenAddress(value: string, what: string): Listen {
  const m = /^(?:(.*):)?([0-9]{1,5})$/.exec(value.trim());
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new Error(`${what} ${value}: expected PORT or HOST:PORT`);
  return { host: m[1] || '0.0.0.0', port };
}

export interface Probes {
  /** The port bound (the one asked for, or the system's choice for 0). */
  port: number;
  close(): Promise<void>;
}

/** Serves /metrics, /healthz (every `live` check passes) and /readyz (every `live` and `ready` check passes). */
export async function serveProbes(listen: Listen, checks: { live: Check[]; ready: Check[] }): Promise<Probes> {
  const answer = async (res: ServerResponse, list: Check[]) => {
    const failed = (await Promise.all(list.map((c) => c().catch((err: Error) => err.message)))).filter((r): r is string => r !== undefined);
    res.writeHead(failed.length ? 503 : 200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(failed.length ? failed.join('\n') + '\n' : 'ok\n');
  };
  const routes: Record<string, (res: ServerResponse) => Promise<void>> = {
    '/metrics': async (res) => {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    },
    '/healthz': (res) => answer(res, checks.live),
    '/readyz': (res) => answer(res, [...checks.live, ...checks.ready]),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const route = req.method === 'GET' ? routes[new URL(req.url ?? '/', 'http://probe').pathname] : undefined;
    if (!route) {
      res.writeHead(req.method === 'GET' ? 404 : 405, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('GET /metrics, /healthz or /readyz\n');
      return;
    }
    route(res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${err.message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error) => reject(new Error(`cannot serve metrics on ${listen.host}:${listen.port}: ${err.message}`)));
    server.listen(listen.port, listen.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // a scraper's kept-alive connection
      }),
  };
}

/** A check run at most once every `ms`: probes and scrapes come often, its answer is kept meanwhile. */
export function every(ms: number, check: Check): Check {
  let last: { at: number; result: Promise<string | undefined> } | undefined;
  return () => {
    if (!last || Date.now() - last.at >= ms) last = { at: Date.now(), result: check().catch((err: Error) => err.message) };
    return last.result;
  };
}

/**
 * A check that holds from the first time `attempt` succeeds on (the tracer can load). It starts
 * now; until it has succeeded it fails, naming the attempt in flight or the last failure, and a
 * failed attempt is made again when asked, at most once every `retryMs`.
 */
export function onceSucceeded(what: string, retryMs: number, attempt: () => Promise<void>): Check {
  let passed = false;
  let running = false;
  let at = 0;
  let why = `${what}: checking`;
  const run = () => {
    running = true;
    at = Date.now();
    attempt()
      .then(
        () => void (passed = true),
        (err: Error) => void (why = `${what}: ${err.message}`),
      )
      .finally(() => (running = false));
  };
  run();
  return async () => {
    if (!passed && !running && Date.now() - at >= retryMs) run();
    return passed ? undefined : why;
  };
}
