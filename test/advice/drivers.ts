import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { run } from '../helpers.js';

/** What a client mix did: requests sent, how many failed, and the first few failures said in words. */
export interface Drive {
  requests: number;
  failures: number;
  problems: string[];
}

const MAX_PROBLEMS = 10;

export function drive(parts: Drive[]): Drive {
  return {
    requests: parts.reduce((n, d) => n + d.requests, 0),
    failures: parts.reduce((n, d) => n + d.failures, 0),
    problems: parts.flatMap((d) => d.problems).slice(0, MAX_PROBLEMS),
  };
}

export interface HttpCheck {
  method: 'GET' | 'HEAD';
  path: string;
  /** Acceptable statuses (a 404 for a missing file is a success). */
  status: number[];
  headers?: Record<string, string>;
  /** Body length a 200 must have (GET). */
  bytes?: number;
}

/** One request; resolves with the problem, or undefined when it went as `check` says. */
function httpOnce(port: number, check: HttpCheck, agent: Agent | false, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const what = `${check.method} ${check.path}`;
    const req = request({ host: '127.0.0.1', port, method: check.method, path: check.path, headers: check.headers, agent }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('error', (err) => resolve(`${what}: ${err.message}`));
      res.on('end', () => {
        if (!check.status.includes(res.statusCode!)) resolve(`${what}: status ${res.statusCode}, expected ${check.status.join(' or ')}`);
        else if (check.method === 'GET' && res.statusCode === 200 && check.bytes !== undefined && bytes !== check.bytes) resolve(`${what}: ${bytes} bytes, expected ${check.bytes}`);
        else resolve(undefined);
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(`${what}: ${err.message}`));
    req.end();
  });
}

/** Sends every check `repeat` times over `concurrency` connections, kept alive or a new one per request. */
export async function httpMix(port: number, checks: HttpCheck[], opts: { repeat?: number; concurrency?: number; keepAlive?: boolean; timeoutMs?: number } = {}): Promise<Drive> {
  const concurrency = opts.concurrency ?? 1;
  const agent = opts.keepAlive ? new Agent({ keepAlive: true, maxSockets: concurrency }) : false;
  const queue = Array.from({ length: opts.repeat ?? 1 }, () => checks).flat();
  const result: Drive = { requests: 0, failures: 0, problems: [] };
  const worker = async () => {
    for (let check = queue.shift(); check; check = queue.shift()) {
      const problem = await httpOnce(port, check, agent, opts.timeoutMs ?? 5_000);
      result.requests++;
      if (problem === undefined) continue;
      result.failures++;
      if (result.problems.length < MAX_PROBLEMS) result.problems.push(problem);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (agent) agent.destroy();
  return result;
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function listening(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}

/**
 * A client program run once: `requests` counted from its output. A run that fails (exit status, or
 * `check` says why) counts as one failed request on top of those it reported done: a benchmark
 * that stops at its first error does not say how many more would have failed.
 */
export async function command(cmd: string, args: string[], check: (stdout: string) => { requests: number; problem?: string }, timeoutMs = 120_000): Promise<Drive> {
  const what = [cmd, ...args].join(' ');
  const r = await run(cmd, args, { timeoutMs });
  const c = check(r.stdout);
  const problem = r.code !== 0 ? `exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 300)}` : c.problem;
  if (problem) return { requests: c.requests + 1, failures: 1, problems: [`${what}: ${problem}`] };
  return { requests: c.requests, failures: 0, problems: [] };
}

/** A command whose output must match `expect`: one request. */
export function expectOutput(cmd: string, args: string[], expect: RegExp): Promise<Drive> {
  return command(cmd, args, (out) => ({ requests: 1, ...(expect.test(out.trim()) ? {} : { problem: `output ${JSON.stringify(out.trim().slice(0, 200))} does not match ${expect}` }) }));
}

/** Runs client steps one after the other. */
export async function sequence(steps: (() => Promise<Drive>)[]): Promise<Drive> {
  const parts: Drive[] = [];
  for (const step of steps) parts.push(await step());
  return drive(parts);
}
