import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { mergeInto, type BehaviorSet, type Item } from '../core/behavior.js';
import type { Keyring } from '../lib/keyring.js';
import { countedCollector } from '../lib/metrics.js';
import { openStore } from '../store/open.js';
import { Checkpointer, type Progress } from './checkpoint.js';
import type { CollectInput, CollectResult } from './collect.js';

/**
 * The simulated collector (`worker --simulate NODES`): for scale tests and benchmarks of many
 * nodes where no kernel, tracer or workload exists (fake nodes of KWOK). Everything around the
 * collector is the real one: it is the node activity of the node's own task queue, leases,
 * heartbeats, cancellation, and it writes its batches through the real checkpoint path to the
 * real object store. Only the behaviors are made up, as a real fleet's look: most of them common
 * to every node, some to a share of the nodes, and a long tail of rare paths.
 */
export function simulatedNodeActivities(keyring: Keyring) {
  return {
    collect: countedCollector(async (input: CollectInput): Promise<CollectResult> => {
      const ctx = Context.current();
      const store = await openStore(input.store);
      const replica = `${input.node}/sim/a${ctx.info.attempt}`;
      // Each lease's generator counts from zero again, under the same replica.
      const out = await Checkpointer.open(store, keyring, ctx, { run: input.run, node: input.node, arch: 'x86_64', target: input.target, collector: 'sim', replica }, undefined, { countsRestart: true });
      let events = 0;
      let seq = 0;
      ctx.heartbeat({ node: input.node, attempt: ctx.info.attempt, seq: out.written, events } satisfies Progress);
      try {
        while (Date.now() < input.until) {
          await ctx.sleep(Math.max(0, Math.min(input.checkpointMs, input.until - Date.now())));
          const behaviors = syntheticBehaviors(input.node, replica, seq++, Date.now());
          events += Object.values(behaviors).reduce((n, items) => n + Object.keys(items ?? {}).length, 0);
          await out.save({ behaviors, counters: { events } });
          ctx.heartbeat({ node: input.node, attempt: ctx.info.attempt, seq: out.written, events } satisfies Progress);
        }
      } catch (err) {
        if (!(err instanceof CancelledFailure)) throw err;
        // As the real collector: the lease's last checkpoint, compacted.
        await out.save({ behaviors: {}, counters: { events } }, { final: true });
        const stopped: CollectResult = { node: input.node, batches: out.written, events, reason: 'cancelled' };
        throw new CancelledFailure('simulated collector stopped by the workflow; batches are in the store', [stopped]);
      }
      await out.save({ behaviors: {}, counters: { events } }, { final: true });
      return { node: input.node, batches: out.written, events, reason: 'lease-ended' };
    }),
    // Nothing is pinned.
    releaseTracer: async (): Promise<boolean> => false,
  };
}

const COMMON_FILES = [
  '/etc/nginx/nginx.conf', '/etc/nginx/mime.types', '/etc/passwd', '/etc/group', '/etc/hosts', '/etc/resolv.conf', '/etc/ld.so.cache',
  '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libssl.so.3', '/usr/lib/x86_64-linux-gnu/libcrypto.so.3', '/usr/lib/x86_64-linux-gnu/libz.so.1',
  '/var/log/nginx/access.log', '/var/log/nginx/error.log', '/run/nginx.pid', '/usr/share/nginx/html/index.html', '/proc/self/status',
];
const COMMON_SYSCALLS = ['read', 'write', 'openat', 'close', 'fstat', 'mmap', 'munmap', 'brk', 'epoll_wait', 'epoll_ctl', 'accept4', 'recvfrom', 'sendfile', 'writev', 'futex', 'rt_sigaction', 'getpid', 'clock_gettime', 'setsockopt', 'socket', 'bind', 'listen'];
/** Found on about one node in SHARE_OF: a feature some replicas exercise. */
const SHARED_FILES = ['/usr/share/nginx/html/admin/index.html', '/etc/nginx/conf.d/tls.conf', '/etc/ssl/private/server.key', '/var/cache/nginx/proxy_temp'];
const SHARE_OF = 4;
const SHARED_SYSCALLS = ['sendmsg', 'pread64', 'getrandom', 'statx'];
/** Rare paths: each batch of a node finds one of RARE_PATHS with probability 1 / RARE_EVERY. */
const RARE_PATHS = 5000;
const RARE_EVERY = 3;

function hash(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('\0')).digest().readUInt32BE(0);
}

/** One checkpoint's behaviors of a simulated node; counts are cumulative per replica, as the real collector's. */
export function syntheticBehaviors(node: string, replica: string, seq: number, at: number): BehaviorSet {
  const it = (n: number, sets?: Record<string, string[]>): Item => ({ first: at, last: at, n: { [replica]: n * (seq + 1) }, ...(sets ? { sets } : {}) });
  const files: Record<string, Item> = {};
  for (const f of COMMON_FILES) files[f] = it(3, { perms: f.startsWith('/var/log/') || f.startsWith('/run/') ? ['append', 'write'] : ['read'] });
  const syscalls: Record<string, Item> = {};
  for (const s of COMMON_SYSCALLS) syscalls[s] = it(50);
  SHARED_FILES.forEach((f, i) => {
    if (hash(node, 'file', i) % SHARE_OF === 0) files[f] = it(1, { perms: ['read'] });
  });
  SHARED_SYSCALLS.forEach((s, i) => {
    if (hash(node, 'syscall', i) % SHARE_OF === 0) syscalls[s] = it(2);
  });
  if (hash(node, seq, 'rare') % RARE_EVERY === 0) files[`/srv/www/assets/item-${hash(node, seq) % RARE_PATHS}.json`] = it(1, { perms: ['read'] });
  return {
    executions: { '/usr/sbin/nginx': it(1) },
    files,
    syscalls,
    sockets: { 'inet/stream/tcp': it(2) },
    binds: { 'inet|0.0.0.0|8080': it(1, { ops: ['bind', 'listen'] }) },
  };
}

/**
 * What `checkpoints` consecutive checkpoints of a simulated node add up to (the merge of
 * syntheticBehaviors for seq 0..checkpoints-1 at `start + (seq + 1) * interval`), computed without
 * making each: for benchmarks of what a long window leaves in the store at many nodes.
 */
export function syntheticUnion(node: string, replica: string, checkpoints: number, start: number, interval: number): BehaviorSet {
  const at = (seq: number) => start + (seq + 1) * interval;
  const set = mergeInto(syntheticBehaviors(node, replica, 0, at(0)), syntheticBehaviors(node, replica, checkpoints - 1, at(checkpoints - 1)));
  const rare: Record<string, Item> = {};
  for (let seq = 0; seq < checkpoints; seq++) {
    if (hash(node, seq, 'rare') % RARE_EVERY !== 0) continue;
    const key = `/srv/www/assets/item-${hash(node, seq) % RARE_PATHS}.json`;
    const old = rare[key];
    rare[key] = { first: old?.first ?? at(seq), last: at(seq), n: { [replica]: seq + 1 }, sets: { perms: ['read'] } };
  }
  return mergeInto(set, { files: rare });
}
