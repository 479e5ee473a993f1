import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adviseSecurityContext } from '../../core/security-context.js';
import { runtimeDefaultFit } from '../../core/seccomp.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';

const it = (sets?: Record<string, string[]>): Item => ({ first: 1000, last: 1000, n: { r: 1 }, ...(sets ? { sets } : {}) });
const field = (a: ReturnType<typeof adviseSecurityContext>, f: string) => a.lines.find((l) => l.field === f)!;

test('a quiet workload gets the tightest context, each line with a reason', () => {
  const a = adviseSecurityContext({ syscalls: { read: it(), write: it(), arch_prctl: it() }, files: { '/tmp/x': it({ perms: ['write'] }) } }, { writablePaths: ['/tmp'], arches: ['x86_64'] });
  assert.deepEqual(a.securityContext, {
    capabilities: { drop: ['ALL'] },
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
    privileged: false,
  });
  assert.deepEqual(a.pod, { hostPID: false, hostNetwork: false, hostIPC: false });
  assert.ok(a.lines.every((l) => l.why.length > 20));
});

test('evidence flips each line', () => {
  const set: BehaviorSet = {
    capabilities: { net_bind_service: it({ verdict: ['granted'] }), sys_admin: it({ verdict: ['denied'] }), setuid: it() },
    executions: { '/usr/bin/sudo': it() },
    files: { '/var/lib/app/db': it({ perms: ['write'] }), '/dev/null': it({ perms: ['write'] }), '/dev/sda1': it({ perms: ['read'] }) },
    binds: { 'inet|0.0.0.0|80': it({ ops: ['bind', 'listen'] }) },
    syscalls: { mount: it(), read: it() },
    signals: { external: it({ signals: ['term'] }) },
  };
  const a = adviseSecurityContext(set, { localhostProfile: 'varmor-ns-app.json' });
  assert.deepEqual(a.securityContext.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE', 'SETUID'] });
  assert.equal(a.securityContext.allowPrivilegeEscalation, true);
  assert.equal(field(a, 'securityContext.allowPrivilegeEscalation').evidence[0]!.key, '/usr/bin/sudo');
  assert.equal(a.securityContext.readOnlyRootFilesystem, false);
  assert.deepEqual(field(a, 'securityContext.readOnlyRootFilesystem').evidence.map((e) => e.key), ['/var/lib/app/db'], '/dev writes are the runtime mounts');
  assert.equal(a.securityContext.runAsNonRoot, false);
  const nonRoot = field(a, 'securityContext.runAsNonRoot').why;
  assert.match(nonRoot, /start it as that user \(runAsUser/, 'setuid: what to change');
  assert.match(nonRoot, /bind a port >= 1024/, 'net_bind_service and port 80: what to change');
  assert.doesNotMatch(nonRoot, /sys_admin/, 'a denied check is not a need');
  assert.deepEqual(a.securityContext.seccompProfile, { type: 'Localhost', localhostProfile: 'varmor-ns-app.json' });
  assert.match(field(a, 'securityContext.seccompProfile').why, /mount \(unless capability sys_admin\)/);
  assert.equal(field(a, 'securityContext.privileged').value, 'review');
  assert.equal(a.securityContext.privileged, undefined, 'review lines are not pasted');
  assert.equal(field(a, 'spec.hostPID').value, 'review');
});

test('RuntimeDefault fit: capabilities, architectures, argument-conditional syscalls', () => {
  assert.deepEqual(runtimeDefaultFit(['mount'], ['x86_64'], ['sys_admin']).refused, []);
  assert.deepEqual(runtimeDefaultFit(['arch_prctl'], ['aarch64'], []).refused, [{ syscall: 'arch_prctl' }]);
  const fit = runtimeDefaultFit(['clone', 'socket', 'kexec_load'], ['x86_64'], []);
  assert.equal(fit.compatible, false);
  assert.deepEqual(fit.refused, [{ syscall: 'kexec_load' }]);
  assert.deepEqual(fit.conditional.map((c) => c.syscall), ['clone', 'socket']);
});

test('a server that leaves root for its workers by itself is advised to start as non-root, with no capability', () => {
  const set: BehaviorSet = {
    capabilities: { setuid: it({ verdict: ['granted'] }), setgid: it({ verdict: ['granted'] }), chown: it({ verdict: ['granted'] }) },
    binds: { 'inet|127.0.0.1|8080': it({ ops: ['bind', 'listen'] }) },
  };
  const a = adviseSecurityContext(set);
  assert.equal(a.securityContext.runAsNonRoot, true);
  assert.deepEqual(a.securityContext.capabilities, { drop: ['ALL'] });
  assert.match(field(a, 'securityContext.runAsNonRoot').why, /keep runAsNonRoot false and add exactly SETUID, SETGID, CHOWN/);
  assert.deepEqual(field(a, 'securityContext.runAsNonRoot').evidence.map((e) => e.key).sort(), ['chown', 'setgid', 'setuid']);
  // ... but not with a low port, or with another capability: those need root as it runs.
  for (const more of [{ binds: { 'inet|0.0.0.0|80': it() } }, { capabilities: { ...set.capabilities, net_admin: it({ verdict: ['granted'] }) } }]) {
    assert.equal(adviseSecurityContext({ ...set, ...more }).securityContext.runAsNonRoot, false);
  }
});

test('a user-switching wrapper that execs the program needs root as it runs; the advice says to drop the wrapper', () => {
  const set: BehaviorSet = { capabilities: { setuid: it({ verdict: ['granted'], then: ['exec'] }), setgid: it({ verdict: ['granted'], then: ['exec'] }) } };
  const a = adviseSecurityContext(set);
  assert.equal(a.securityContext.runAsNonRoot, false);
  assert.deepEqual(a.securityContext.capabilities, { drop: ['ALL'], add: ['SETUID', 'SETGID'] });
  assert.match(field(a, 'securityContext.runAsNonRoot').why, /wrapper that switches user and then execs the program .*without the wrapper/);
});
