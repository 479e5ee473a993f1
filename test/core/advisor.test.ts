import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advise, BUILTIN_RULES, countVerdicts, PRIVILEGED_CAPABILITIES, type Verdict } from '../../core/advisor.js';
import { CAPABILITIES } from '../../core/capabilities.js';
import { generalise } from '../../core/generalise.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';

const it = (first: number, sets?: Record<string, string[]>, raw?: string): Item => ({ first, last: first, n: { r: 3 }, ...(sets ? { sets } : {}), ...(raw ? { raw } : {}) });
const by = (vs: Verdict[], id: string) => vs.find((v) => v.id === id)!;

test('the catalogue holds every rule of builtin-rules.md, all 41 per-capability rules, the 27 privileged ones, and the extras', () => {
  const ids = new Set(BUILTIN_RULES.map((r) => r.id));
  for (const cap of CAPABILITIES) assert.ok(ids.has(`disable-cap-${cap.replace(/_/g, '-')}`), cap);
  assert.equal(BUILTIN_RULES.filter((r) => r.ladder === 4).length, 41);
  assert.equal(PRIVILEGED_CAPABILITIES.length, 27);
  for (const id of [
    'disallow-write-core-pattern', 'disallow-mount-securityfs', 'disallow-mount-procfs', 'disallow-write-release-agent', 'disallow-mount-cgroupfs',
    'disallow-debug-disk-device', 'disallow-mount-disk-device', 'disallow-mount', 'disallow-umount', 'disallow-insmod', 'disallow-load-bpf-prog',
    'disallow-access-procfs-root', 'disallow-access-kallsyms', 'disable-cap-all', 'disable-cap-all-except-net-bind-service', 'disable-cap-privileged',
    'disallow-abuse-user-ns', 'disallow-create-user-ns', 'disallow-load-all-bpf-prog', 'disallow-load-bpf-via-setsockopt', 'disallow-userfaultfd-creation',
    'mitigate-sa-leak', 'mitigate-disk-device-number-leak', 'mitigate-overlayfs-leak', 'mitigate-host-ip-leak', 'block-access-to-metadata-service',
    'block-access-to-kube-apiserver', 'block-access-to-container-runtime', 'disable-write-etc', 'disable-busybox', 'disable-shell', 'disable-wget',
    'disable-curl', 'disable-chmod', 'disable-chmod-x-bit', 'disable-chmod-s-bit', 'disable-su-sudo', 'cgroups-lxcfs-escape-mitigation',
    'runc-override-mitigation', 'dirty-pipe-mitigation', 'ingress-nightmare-mitigation', 'disable-access-passwd', 'disable-access-shadow',
    'disable-access-ssh-dir', 'disable-network', 'disable-inet', 'disable-inet6', 'disable-udp', 'disable-tcp', 'disable-icmp', 'disable-unix-domain-socket',
  ]) {
    assert.ok(ids.has(id), id);
  }
  assert.equal(ids.size, BUILTIN_RULES.length, 'ids are unique');
  for (const rule of BUILTIN_RULES) for (const m of rule.unsafeWhen) if (m.path) new RegExp(m.path);
});

test('an empty model: safe where behavior decides, not-applicable where context is missing, never safe for those', () => {
  const vs = advise({});
  assert.equal(by(vs, 'disable-shell').verdict, 'safe');
  assert.equal(by(vs, 'disable-cap-all').verdict, 'safe');
  const na = by(vs, 'disallow-access-procfs-root');
  assert.equal(na.verdict, 'not-applicable');
  assert.deepEqual(na.needs, ['hostPID', 'shareProcessNamespace']);
  assert.equal(by(vs, 'disallow-insmod').verdict, 'not-applicable');
  assert.deepEqual(by(vs, 'mitigate-sa-leak').needs, ['needsSaToken'], 'a safe verdict names the assumption it rests on');
  const counts = countVerdicts(vs);
  assert.equal(counts.safe + counts.unsafe + counts['not-applicable'], BUILTIN_RULES.length);
});

test('conflicting evidence: category, key, raw, first seen, count', () => {
  const set: BehaviorSet = {
    executions: { '/bin/bash': it(2000), '/usr/bin/curl': it(1000) },
    files: {
      '/proc/*/mountinfo': it(3000, { perms: ['read'] }, '/proc/42/mountinfo'),
      '/etc/nginx/conf.d/x': it(4000, { perms: ['write'] }),
      '/var/run/secrets/kubernetes.io/serviceaccount/**': it(5000, { perms: ['read'] }),
    },
    syscalls: { splice: it(6000), unshare: it(7000) },
    sockets: { 'inet/stream/tcp': it(8000), 'unix/dgram/0': it(8100) },
    egresses: { 'inet|169.254.169.254|80': it(9000) },
  };
  const vs = advise(set);
  const shell = by(vs, 'disable-shell');
  assert.equal(shell.verdict, 'unsafe');
  assert.deepEqual(shell.conflicts, [{ category: 'executions', key: '/bin/bash', first: '1970-01-01T00:00:02.000Z', last: '1970-01-01T00:00:02.000Z', count: 3 }]);
  const leak = by(vs, 'mitigate-overlayfs-leak');
  assert.equal(leak.conflicts[0]!.raw, '/proc/42/mountinfo');
  assert.equal(by(vs, 'disable-write-etc').verdict, 'unsafe');
  assert.equal(by(vs, 'mitigate-sa-leak').verdict, 'unsafe');
  assert.equal(by(vs, 'dirty-pipe-mitigation').verdict, 'unsafe');
  assert.equal(by(vs, 'disallow-create-user-ns').verdict, 'unsafe');
  assert.equal(by(vs, 'block-access-to-metadata-service').verdict, 'unsafe');
  assert.equal(by(vs, 'disable-curl').verdict, 'unsafe');
  assert.equal(by(vs, 'disable-wget').verdict, 'safe');
  assert.equal(by(vs, 'disable-tcp').verdict, 'unsafe');
  assert.equal(by(vs, 'disable-unix-domain-socket').verdict, 'unsafe');
  assert.equal(by(vs, 'disable-inet6').verdict, 'safe');
  assert.equal(by(vs, 'disable-udp').verdict, 'safe', 'unix dgram is no UDP');
});

test('files without raw / oldPath work (vArmor crashes on them)', () => {
  const vs = advise({ files: { '/etc/shadow': { first: 0, last: 0, n: {}, sets: { perms: ['read'] } } } });
  const v = by(vs, 'disable-access-shadow');
  assert.equal(v.verdict, 'unsafe');
  assert.equal(v.conflicts[0]!.first, undefined);
});

test('context: declared flags make rules applicable or unsafe', () => {
  assert.equal(by(advise({}, { hostPID: true }), 'disallow-access-procfs-root').verdict, 'safe');
  assert.deepEqual(by(advise({}, { privileged: false }), 'disallow-insmod').needs, ['dind'], 'only the undeclared flag is still needed');
  assert.equal(by(advise({}, { privileged: false, dind: false }), 'disallow-insmod').needs, undefined);
  const dind = advise({}, { dind: true });
  assert.equal(by(dind, 'block-access-to-container-runtime').verdict, 'unsafe');
  assert.match(by(dind, 'block-access-to-container-runtime').reason, /declared dind/);
  assert.equal(by(advise({}, { needsSaToken: true }), 'mitigate-sa-leak').verdict, 'unsafe');
  // Behavior can make a context rule applicable: sys_admin in use makes the escape rules relevant.
  assert.equal(by(advise({ capabilities: { sys_admin: it(1, { verdict: ['granted'] }) } }), 'disallow-write-core-pattern').verdict, 'safe');
});

test('capability ladder: strongest safe rule recommended, weaker and covered ones marked', () => {
  const nbs = advise({ capabilities: { net_bind_service: it(1, { verdict: ['granted'] }), sys_admin: it(2, { verdict: ['denied'] }) } });
  assert.equal(by(nbs, 'disable-cap-all').verdict, 'unsafe');
  assert.equal(by(nbs, 'disable-cap-all-except-net-bind-service').recommended, true);
  assert.equal(by(nbs, 'disable-cap-privileged').coveredBy, 'disable-cap-all-except-net-bind-service');
  assert.equal(by(nbs, 'disable-cap-chown').coveredBy, 'disable-cap-all-except-net-bind-service');
  assert.equal(by(nbs, 'disable-cap-sys-admin').verdict, 'safe', 'a denied capability is no conflict');
  assert.equal(by(nbs, 'disable-cap-net-bind-service').verdict, 'unsafe');

  const chown = advise({ capabilities: { CAP_CHOWN: it(1) } });
  assert.equal(by(chown, 'disable-cap-privileged').recommended, true);
  assert.equal(by(chown, 'disable-cap-sys-admin').coveredBy, 'disable-cap-privileged');
  assert.equal(by(chown, 'disable-cap-setuid').recommended, true, 'not privileged: listed on its own');
  assert.equal(by(chown, 'disable-cap-chown').verdict, 'unsafe');
});

test('works the same on a generalised set', () => {
  const raw: BehaviorSet = { files: { '/proc/123/net/arp': it(1, { perms: ['read'] }) } };
  assert.equal(by(advise(generalise(raw).set), 'mitigate-host-ip-leak').verdict, 'unsafe');
  assert.equal(by(advise(raw), 'mitigate-host-ip-leak').verdict, 'unsafe');
});

test('disallow-load-bpf-via-setsockopt is judged on the recorded level and name: exact when recorded, a possible conflict when not', () => {
  const rule = 'disallow-load-bpf-via-setsockopt';
  // SO_REUSEADDR and TCP_NODELAY: setsockopt, but nothing the rule refuses
  assert.equal(by(advise({ syscalls: { setsockopt: it(1, { args: ['0x1,0x2', '0x6,0x1'] }) } }), rule).verdict, 'safe');
  // SO_ATTACH_FILTER: a conflict, stated without the caveat
  const attach = by(advise({ syscalls: { setsockopt: it(1, { args: ['0x1,0x2', '0x1,0x1a'] }) } }), rule);
  assert.equal(attach.verdict, 'unsafe');
  assert.doesNotMatch(attach.reason, /may be false/);
  // no arguments recorded (an audit-only model): unsafe, and the report says it may be false
  const unknown = by(advise({ syscalls: { setsockopt: it(1) } }), rule);
  assert.equal(unknown.verdict, 'unsafe');
  assert.match(unknown.reason, /may be false/);
});
