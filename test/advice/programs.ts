/**
 * The five real server programs of the advice round trip, from Debian packages: how each is
 * configured (foreground, 127.0.0.1, a high port, every write in declared directories), how a
 * client drives it (a narrow mix while it is modelled, a wider one under the advice), how it stops,
 * and the advice it should get.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../helpers.js';
import { command, expectOutput, httpMix, listening, sequence, type Drive, type HttpCheck } from './drivers.js';

/** A directory the program writes to: declared writable, mounted in the container. */
export interface WritablePath {
  path: string;
  /** A fresh host directory with the content to mount there read-write (a volume); absent: an empty tmpfs (emptyDir). */
  volume?: () => Promise<string>;
}

export interface Workload {
  /** The command, the same when modelled on the host and in the container (absolute paths, the same directories). */
  argv: string[];
  writable: WritablePath[];
  /** Host directories it only reads (configuration, content): bind-mounted read-only at the same path. */
  readonly: string[];
  ready(): Promise<boolean>;
  /** The client while the program is modelled. */
  narrow(): Promise<Drive>;
  /** The wider client under the advice. */
  wide(): Promise<Drive>;
  /** One request: does it serve at all. */
  smoke(): Promise<Drive>;
  /** How it is stopped and the exit statuses that mean it stopped as it should. */
  stop: { signal: string; exits: number[] };
  /** Large scratch directories to remove afterwards (copies of a volume). */
  scratch?: string[];
}

/** The advice a correct model of the program gives (capability names as the report spells them). */
export interface ExpectedAdvice {
  capabilities: string[];
  runAsNonRoot: boolean;
  readOnlyRootFilesystem: boolean;
  allowPrivilegeEscalation: boolean;
  privileged: boolean;
  hostPID: boolean;
}

export interface Program {
  name: string;
  /** On 127.0.0.1, high but below Linux's ephemeral range (32768-60999): no client socket can be holding it. */
  port: number;
  prepare(work: string): Promise<Workload>;
  expected: ExpectedAdvice;
  /** Why the expectation is what it is. */
  why: string;
}

const UNPRIVILEGED: ExpectedAdvice = { capabilities: [], runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, hostPID: false };

async function dir(path: string, mode = 0o755): Promise<string> {
  await mkdir(path, { recursive: true });
  await chmod(path, mode);
  return path;
}

/** Recursively hands a directory to a user (for directories the program writes to on the host while it is modelled). */
async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const e of await readdir(path, { withFileTypes: true })) {
    if (e.isDirectory()) await chownTree(join(path, e.name), uid, gid);
    else await chown(join(path, e.name), uid, gid);
  }
}

async function idOf(user: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
  if (uid.code !== 0 || gid.code !== 0) throw new Error(`no user ${user}: ${uid.stderr}`);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

const BIG = 1 << 20;

interface Site {
  root: string;
  narrow: HttpCheck[];
  wide: HttpCheck[];
}

/**
 * Static content: a few pages, a 1 MiB file, a subdirectory; the narrow mix asks for one page, the
 * wide one for everything, HEAD, ranges and misses (and `extra`); `head: false` leaves HEAD out.
 */
async function site(work: string, opts: { extra?: HttpCheck[]; head?: boolean } = {}): Promise<Site> {
  const root = await dir(join(work, 'www'));
  const page = '<!doctype html><title>round trip</title><link rel=stylesheet href=style.css><p>served\n';
  await writeFile(join(root, 'index.html'), page);
  await writeFile(join(root, 'style.css'), 'p { color: teal }\n');
  await writeFile(join(root, 'data.json'), JSON.stringify({ ok: true, items: Array.from({ length: 200 }, (_, i) => i) }));
  await writeFile(join(root, 'big.bin'), randomBytes(BIG));
  await dir(join(root, 'sub'));
  await writeFile(join(root, 'sub', 'index.html'), '<p>sub\n');
  await dir(join(root, 'files'));
  for (const n of ['a.txt', 'b.txt', 'c.txt']) await writeFile(join(root, 'files', n), `${n}\n`);
  const ok = [200];
  return {
    root,
    narrow: [{ method: 'GET', path: '/index.html', status: ok, bytes: Buffer.byteLength(page) }],
    wide: [
      { method: 'GET', path: '/', status: ok, bytes: Buffer.byteLength(page) },
      { method: 'GET', path: '/index.html', status: ok, bytes: Buffer.byteLength(page) },
      { method: 'GET', path: '/style.css', status: ok },
      { method: 'GET', path: '/data.json', status: ok },
      { method: 'GET', path: '/sub/index.html', status: ok },
      { method: 'GET', path: '/files/b.txt', status: ok, bytes: 6 },
      { method: 'GET', path: '/big.bin', status: ok, bytes: BIG },
      { method: 'GET', path: '/big.bin', status: [200, 206], headers: { range: 'bytes=1000-1999' } },
      ...(opts.head === false ? [] : (['/index.html', '/big.bin'].map((path) => ({ method: 'HEAD', path, status: ok })) as HttpCheck[])),
      { method: 'GET', path: '/missing.html', status: [404] },
      { method: 'GET', path: '/sub/missing/deeper.txt', status: [404] },
      ...(opts.extra ?? []),
    ],
  };
}

/** The HTTP servers' workload around their command. */
function httpWorkload(port: number, s: Site, w: Pick<Workload, 'argv' | 'writable' | 'readonly' | 'stop'>): Workload {
  return {
    ...w,
    ready: async () => (await httpMix(port, s.narrow, { timeoutMs: 2_000 })).failures === 0,
    narrow: () => httpMix(port, s.narrow, { repeat: 5 }),
    // Concurrent keep-alive connections, then one connection per request.
    wide: () => sequence([() => httpMix(port, s.wide, { repeat: 20, concurrency: 8, keepAlive: true }), () => httpMix(port, s.wide, { repeat: 2 })]),
    smoke: () => httpMix(port, s.narrow, { timeoutMs: 3_000 }),
  };
}

const busybox: Program = {
  name: 'busybox-httpd',
  port: 28082,
  why: 'busybox httpd serves files as whoever starts it: no capability, nothing written',
  expected: UNPRIVILEGED,
  async prepare(work) {
    // busybox 1.35 httpd answers HEAD with the body too (on the host as well): an HTTP client rightly rejects that, so no HEAD.
    const s = await site(work, { head: false });
    // No SIGTERM handler: as a container's pid 1 it ignores TERM, so it is stopped as the kubelet would after the grace period.
    return httpWorkload(this.port, s, { argv: ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:${this.port}`, '-h', s.root], writable: [], readonly: [s.root], stop: { signal: 'KILL', exits: [137] } });
  },
};

const python: Program = {
  name: 'python-http-server',
  port: 28081,
  why: "python3 -m http.server serves a directory as whoever starts it: no capability, nothing written (Debian's stdlib is byte-compiled at install)",
  expected: UNPRIVILEGED,
  async prepare(work) {
    // The directory listing is http.server's own feature; the narrow mix never asks for one.
    const s = await site(work, { extra: [{ method: 'GET', path: '/files/', status: [200] }] });
    return httpWorkload(this.port, s, {
      argv: ['/usr/bin/python3', '-m', 'http.server', String(this.port), '--bind', '127.0.0.1', '--directory', s.root],
      writable: [],
      readonly: [s.root],
      stop: { signal: 'INT', exits: [0] }, // KeyboardInterrupt: "Keyboard interrupt received, exiting."
    });
  },
};

const nginx: Program = {
  name: 'nginx',
  port: 28080,
  why: "nginx as root with `user www-data;` (Debian's default): the master only uses SETUID, SETGID and CHOWN to switch its workers to www-data, without exec'ing anything; started as non-root it ignores the `user` directive and needs no capability, so the advice is to start it as non-root",
  expected: UNPRIVILEGED,
  async prepare(work) {
    const s = await site(work);
    const conf = await dir(join(work, 'conf'));
    const state = await dir(join(work, 'state')); // pid, logs, temp files: the one writable directory
    await writeFile(
      join(conf, 'nginx.conf'),
      [
        'daemon off;',
        'user www-data;',
        'worker_processes 2;',
        `pid ${state}/nginx.pid;`,
        'error_log stderr notice;',
        'events { worker_connections 256; }',
        'http {',
        '  include /etc/nginx/mime.types;',
        `  access_log ${state}/access.log;`,
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${state}/${t};`),
        '  sendfile on;',
        '  keepalive_timeout 15;',
        `  server { listen 127.0.0.1:${this.port}; root ${s.root}; index index.html; }`,
        '}',
        '',
      ].join('\n'),
    );
    return httpWorkload(this.port, s, { argv: ['/usr/sbin/nginx', '-c', join(conf, 'nginx.conf')], writable: [{ path: state }], readonly: [s.root, conf], stop: { signal: 'TERM', exits: [0] } });
  },
};

const REDIS_TESTS = 20; // redis-benchmark's default tests in Redis 7.0

/** redis-benchmark -q: one line per test, "<TEST>: <n> requests per second, ...". */
function benchmarked(n: number, tests?: number) {
  return (out: string) => {
    const done = out.split(/[\r\n]+/).filter((l) => / requests per second/.test(l)).length;
    const errors = out.split(/[\r\n]+/).filter((l) => /error/i.test(l));
    const problem = errors.length ? errors[0] : tests !== undefined && done < tests ? `${done} of ${tests} tests reported` : undefined;
    return { requests: done * n, ...(problem ? { problem } : {}) };
  };
}

const redis: Program = {
  name: 'redis',
  port: 26379,
  why: 'redis-server as root with persistence off: no capability (it only lowers its own descriptor limit), no write outside --dir',
  expected: UNPRIVILEGED,
  async prepare(work) {
    const data = await dir(join(work, 'data'), 0o1777);
    const port = String(this.port);
    const cli = (args: string[], expect: RegExp) => () => expectOutput('redis-cli', ['-h', '127.0.0.1', '-p', port, ...args], expect);
    return {
      argv: ['/usr/bin/redis-server', '--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', data],
      writable: [{ path: data }],
      readonly: [],
      ready: async () => (await cli(['PING'], /^PONG$/)()).failures === 0,
      narrow: () => command('redis-benchmark', ['-h', '127.0.0.1', '-p', port, '-t', 'set,get', '-n', '2000', '-q'], benchmarked(2000, 2)),
      wide: () =>
        sequence([
          () => command('redis-benchmark', ['-h', '127.0.0.1', '-p', port, '-n', '2000', '-q'], benchmarked(2000, REDIS_TESTS)),
          () => command('redis-benchmark', ['-h', '127.0.0.1', '-p', port, '-n', '2000', '-q', '-P', '16', '-c', '8', '-d', '1024', '-t', 'set,get,lpush,lpop,mset'], benchmarked(2000, 5)),
          cli(['SET', 'rt:key', 'value'], /^OK$/),
          cli(['GET', 'rt:key'], /^value$/),
          cli(['EXPIRE', 'rt:key', '100'], /^1$/),
          cli(['TTL', 'rt:key'], /^\d+$/),
          cli(['INCRBY', 'rt:n', '5'], /^\d+$/),
          cli(['HSET', 'rt:h', 'f', 'v'], /^\d+$/),
          cli(['HGETALL', 'rt:h'], /^f\nv$/),
          cli(['DBSIZE'], /^\d+$/),
          cli(['SCAN', '0', 'COUNT', '100'], /\S/),
          cli(['INFO'], /redis_version:/),
          cli(['CLIENT', 'LIST'], /addr=127\.0\.0\.1/),
          cli(['CONFIG', 'GET', 'maxmemory'], /^maxmemory\n\d+$/),
          cli(['MEMORY', 'USAGE', 'rt:key'], /^\d+$/),
          cli(['SLOWLOG', 'GET', '5'], /.*/),
          cli(['FLUSHALL'], /^OK$/),
        ]),
      smoke: cli(['PING'], /^PONG$/),
      stop: { signal: 'TERM', exits: [0] },
    };
  },
};

async function postgresBin(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [] as string[])).sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error('no PostgreSQL server in /usr/lib/postgresql (tools/setup-system.sh installs it)');
  return join('/usr/lib/postgresql', versions[0]!, 'bin');
}

/** pgbench: "number of transactions actually processed: N/M" and "number of failed transactions: F". */
function pgbenched(out: string) {
  const processed = /number of transactions actually processed: (\d+)(?:\/(\d+))?/.exec(out);
  const failed = /number of failed transactions: (\d+)/.exec(out);
  const requests = Number(processed?.[2] ?? processed?.[1] ?? 0);
  const problem = !processed ? 'no transaction count in the output' : processed[2] && processed[1] !== processed[2] ? `only ${processed[1]} of ${processed[2]} transactions processed` : failed && failed[1] !== '0' ? `${failed[1]} failed transactions` : undefined;
  return { requests, ...(problem ? { problem } : {}) };
}

const postgres: Program = {
  name: 'postgresql',
  port: 25432,
  why: 'postgres refuses to run as root, so it starts as root and setpriv switches to the postgres user (SETUID, SETGID for its groups), as image entrypoints do with gosu; postgres itself needs no capability; data directory and socket directory are the writable ones',
  expected: { ...UNPRIVILEGED, capabilities: ['SETGID', 'SETUID'], runAsNonRoot: false },
  async prepare(work) {
    const bin = await postgresBin();
    const pg = await idOf('postgres');
    const template = await dir(join(work, 'template'), 0o700);
    await chown(template, pg.uid, pg.gid);
    const init = await run('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', join(bin, 'initdb'), '-D', template, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'], { timeoutMs: 120_000 });
    if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    let copies = 0;
    /** A fresh copy of the initialised cluster (what a volume would hold before the first start). */
    const copy = async (to: string) => {
      await mkdir(dirname(to), { recursive: true });
      const r = await run('cp', ['-a', template, to]);
      if (r.code !== 0) throw new Error(`copying the cluster failed: ${r.stderr}`);
      return to;
    };
    const data = await copy(join(work, 'data')); // the path the program is given, on the host while modelled
    const sockets = await dir(join(work, 'sockets'), 0o1777);
    await chownTree(sockets, pg.uid, pg.gid);
    const port = String(this.port);
    const conn = ['-h', '127.0.0.1', '-p', port, '-U', 'postgres'];
    const sql = (query: string, expect: RegExp = /.*/) => () => expectOutput('psql', [...conn, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', query, 'postgres'], expect);
    return {
      argv: ['/usr/bin/setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', join(bin, 'postgres'), '-D', data, '-k', sockets, '-p', port, '-h', '127.0.0.1'],
      writable: [{ path: data, volume: () => copy(join(work, 'volumes', String(++copies))) }, { path: sockets }],
      readonly: [],
      ready: async () => (await run('pg_isready', ['-q', ...conn])).code === 0 && (await listening(this.port)),
      narrow: () =>
        sequence([
          sql('SELECT 1', /^1$/),
          sql('CREATE TABLE IF NOT EXISTS rt (id int PRIMARY KEY, v text)'),
          sql('INSERT INTO rt SELECT g, md5(g::text) FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING'),
          sql('SELECT count(*) FROM rt', /^1000$/),
          sql('SELECT v FROM rt WHERE id = 42', /^[0-9a-f]{32}$/),
          // one small pgbench set-up: the kinds of work (bulk load, index build, vacuum) the wide mix does more of
          () => command('pgbench', ['-i', '-s', '1', '-q', ...conn, 'postgres'], () => ({ requests: 1 })),
        ]),
      wide: () =>
        sequence([
          () => command('pgbench', ['-i', '-s', '2', '-q', ...conn, 'postgres'], () => ({ requests: 1 })),
          () => command('pgbench', ['-c', '4', '-j', '2', '-t', '250', ...conn, 'postgres'], pgbenched),
          () => command('pgbench', ['-c', '2', '-j', '1', '-t', '200', '-S', ...conn, 'postgres'], pgbenched),
          sql('SELECT version()', /PostgreSQL/),
          sql('CREATE TABLE IF NOT EXISTS rt (id int PRIMARY KEY, v text)'),
          sql('INSERT INTO rt SELECT g, md5(g::text) FROM generate_series(1, 20000) g ON CONFLICT DO NOTHING'),
          sql('CREATE INDEX IF NOT EXISTS rt_v ON rt (v)'),
          sql('SELECT count(*) FROM pgbench_accounts', /^200000$/),
          sql('EXPLAIN ANALYZE SELECT sum(abalance) FROM pgbench_accounts', /Execution Time/),
          sql('SELECT aid FROM pgbench_accounts ORDER BY abalance DESC, aid LIMIT 5', /\d/),
          sql('VACUUM ANALYZE pgbench_accounts'),
          sql('CHECKPOINT'),
          sql("SELECT pg_size_pretty(pg_database_size('postgres'))", /\d/),
          sql('SELECT count(*) FROM pg_stat_activity', /^\d+$/),
        ]),
      smoke: sql('SELECT 1', /^1$/),
      stop: { signal: 'INT', exits: [0] }, // fast shutdown
      scratch: [template, data, join(work, 'volumes')],
    };
  },
};

export const PROGRAMS: readonly Program[] = [busybox, python, redis, nginx, postgres];
