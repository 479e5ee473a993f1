/** A behavior set with every category, and the model built from it, for the schema and API server tests. */
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';
import { buildOutputs } from '../../core/outputs.js';

const T0 = Date.UTC(2026, 0, 1);
const it = (sets?: Record<string, string[]>): Item => ({ first: T0, last: T0 + 1, n: { 'n1/bpf/a1': 3 }, ...(sets ? { sets } : {}) });

/** A behavior set with every category the model carries. */
export const every: BehaviorSet = {
  executions: { '/usr/sbin/nginx': it() },
  files: { '/etc/nginx/nginx.conf': it({ perms: ['read'] }), '/var/log/nginx/access.log': it({ perms: ['append', 'create'] }), '/proc/12/status': it({ perms: ['read'] }) },
  syscalls: { read: it(), accept4: it(), mount: it() },
  capabilities: { net_bind_service: it({ verdict: ['granted'] }), setuid: it({ verdict: ['granted'] }) },
  noaudit: { sys_admin: it({ verdict: ['granted'], callers: ['security_vm_enough_memory_mm'] }) },
  sockets: { 'inet/stream/tcp': it(), 'unix/dgram/0': it() },
  egresses: { 'inet|10.0.0.7|5432': it(), 'inet|10.0.0.7|6379': it(), 'inet6|fd00::1|443': it(), 'unix|/run/x.sock|0': it() },
  binds: { 'inet|0.0.0.0|80': it({ ops: ['bind', 'listen'] }) },
  signals: { self: it({ signals: ['term', 'hup'] }), external: it({ signals: ['usr1'] }) },
  ptraces: { self: it({ perms: ['read'] }), external: it({ perms: ['trace'] }) },
  mounts: { '/mnt/data|tmpfs': it({ flags: ['nosuid'], ops: ['mount'] }) },
  namespaces: { unshare: it({ types: ['mnt'] }) },
  profiles: { 'cri-containerd.apparmor.d': it() },
  unhandled: { 'dbus send': it() },
};

/** The ArmorProfileModel buildOutputs makes of `every` (shop/web, one node completed, one failed). */
export function everyFieldModel(): ArmorProfileModel {
  return buildOutputs({
    namespace: 'shop',
    name: 'web',
    target: 'k8s:shop/deployment/web',
    behaviors: every,
    counters: {},
    arches: ['x86_64'],
    window: { start: T0, end: T0 + 60_000 },
    nodes: [{ node: 'n1', state: 'completed', at: T0 + 60_000 }, { node: 'n2', state: 'failed', reason: 'node-lost', message: 'gone', at: T0 + 30_000 }],
    batches: 2,
    timings: {},
  }).model;
}

