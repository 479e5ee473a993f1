import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bpfUnavailable } from '../helpers.js';
import { PROGRAMS, type Program } from './programs.js';
import { ATTACK, deniedSummary, PROBE_CALLS, refusedBySeccomp, roundTrip, type RoundTrip } from './roundtrip.js';

const skip = bpfUnavailable();

/** The program under all of the advice: these hold whatever the advice says. */
function assertServes(r: RoundTrip) {
  assert.equal(r.modelled.failures, 0, `the narrow mix failed while modelled: ${r.modelled.problems.join('; ')}`);
  assert.equal(r.logMode.failures, 0, `the wide mix fails even with the seccomp profile in log mode (nothing refused; the rest of the advice applied): ${r.logMode.problems.join('; ')}`);
  assert.deepEqual(r.logMode.wouldRefuse, [], 'the profile would refuse these calls (by name or by argument) of start-up and the wide mix: the log-mode run logged them');
  for (const s of ['unshare', 'clone', 'socket']) assert.ok(r.logMode.attackLogged.includes(s), `log mode did not log the attack's and the probe's ${s} (${r.logMode.attackLogged.join(', ')}): an empty list would prove nothing`);
  assert.ok(r.served.ready, `never served under the advice ${JSON.stringify(r.applied)}: ${r.served.output}`);
  assert.ok(r.served.requests > r.modelled.requests, `the wide mix (${r.served.requests} requests) is not wider than the modelled one (${r.modelled.requests})`);
  const refused = deniedSummary(r.served.denied);
  assert.equal(refused, '', `the profile refused syscalls the program made while it started and served the wide mix; ${r.served.failures} of ${r.served.requests} requests failed: ${r.served.problems.slice(0, 3).join('; ')}`);
  assert.equal(r.served.failures, 0, `${r.served.failures} of ${r.served.requests} requests failed under the advice: ${r.served.problems.join('; ')}`);
  assert.ok(r.served.runningAtEnd, `the server did not survive the wide mix: ${r.served.output}`);
  assert.equal(deniedSummary(r.served.deniedAtStop), '', 'the profile refused syscalls while the program stopped');
  assert.ok(r.served.expectedExits.includes(r.served.exit ?? -1), `exit status ${r.served.exit} when stopped, expected ${r.served.expectedExits.join(' or ')}: ${r.served.output}`);
}

/** In the same container, while it serves: refused under the profile, allowed without it. */
function assertAttackRefused(r: RoundTrip) {
  assert.ok(r.attack.control.allowed, `control: without the profile \`${r.attack.command.join(' ')}\` failed, so the refusal proves nothing: ${r.attack.control.stderr}`);
  assert.ok(r.attack.refused, `\`${r.attack.command.join(' ')}\` was not refused by the profile (exit ${r.attack.code}, refused: ${r.attack.denied.join(', ') || 'nothing'}): ${r.attack.stderr}`);
  assert.match(r.attack.stderr, /Operation not permitted/);
}

/** Calls only an argument rule refuses: refused under the generated profile, let through by the flat one and in log mode. */
function assertRefusedByArgument(r: RoundTrip) {
  for (const call of PROBE_CALLS) {
    assert.ok(refusedBySeccomp(r.probe.argumentAware, call), `${call} was not refused by the argument-aware profile: ${JSON.stringify(r.probe.argumentAware)}`);
    assert.ok(r.probe.logMode[call] !== undefined && !refusedBySeccomp(r.probe.logMode, call), `control: ${call} did not reach the kernel in log mode, so the refusal proves nothing: ${JSON.stringify(r.probe.logMode)}`);
  }
  // The flat profile names clone and socket for every server: it let both through.
  for (const call of ['clone-newuser', 'socket-alg'] as const) assert.ok(r.probe.flat[call] !== undefined && !refusedBySeccomp(r.probe.flat, call), `the flat profile refused ${call}: ${JSON.stringify(r.probe.flat)}`);
  // personality only where the flat profile names it (the program called it while modelled).
  if (r.probe.flatNames.includes('personality')) assert.ok(!refusedBySeccomp(r.probe.flat, 'personality-change'), 'the flat profile names personality and still refused the change');
}

/** What the advice cannot tighten must really be needed. */
function assertLooseNeeded(r: RoundTrip) {
  const works = r.trials.filter((t) => t.works);
  assert.deepEqual(works.map((t) => `${t.setting} (${t.change}): ${t.detail}`), [], 'the advice leaves these loose, but the program works with them tightened');
}

/** The advice a correct model gives this program. */
function assertExpectedAdvice(p: Program, r: RoundTrip) {
  const e = p.expected;
  const sc = r.advice.securityContext as { capabilities?: { add?: string[]; drop?: string[] } };
  assert.deepEqual(sc.capabilities?.drop, ['ALL']);
  assert.deepEqual([...(sc.capabilities?.add ?? [])].sort(), e.capabilities, `capabilities: ${p.why}; evidence: ${JSON.stringify(r.advice.lines.find((l) => l.field.endsWith('capabilities.add'))?.evidence.map((x) => x.key))}`);
  const v = r.advised;
  assert.equal(v.runAsNonRoot, e.runAsNonRoot, `runAsNonRoot: ${p.why}`);
  assert.equal(v.readOnlyRootFilesystem, e.readOnlyRootFilesystem, `readOnlyRootFilesystem: ${JSON.stringify(r.advice.lines.find((l) => l.field.endsWith('readOnlyRootFilesystem')))}`);
  assert.equal(v.allowPrivilegeEscalation, e.allowPrivilegeEscalation);
  assert.equal(v.privileged, e.privileged, `privileged: ${JSON.stringify(r.advice.lines.find((l) => l.field.endsWith('privileged')))}`);
  assert.equal(v.hostPID, e.hostPID, `hostPID: ${JSON.stringify(r.advice.lines.find((l) => l.field === 'spec.hostPID'))}`);
}

for (const program of PROGRAMS) {
  test(`advice round trip: ${program.name}`, { skip, timeout: 240_000 }, async (t) => {
    const r = await roundTrip(program, (line) => t.diagnostic(line));
    t.diagnostic(
      `${r.program}: ${r.served.requests} requests, ${r.served.failures} failed, ${r.served.denied.length} denied, ${r.logMode.wouldRefuse.length} refused in log mode; attack ${r.attack.refused ? 'refused' : 'NOT refused'} (control ${r.attack.control.allowed ? 'allowed' : 'refused'}); ` +
        `syscalls flat ${r.syscalls.flat} / argument-aware ${r.syscalls.ours} in ${r.syscalls.rules} rules (${r.syscalls.narrowed.join(' ')}) / RuntimeDefault ${r.syscalls.runtimeDefault}; ` +
        r.trials.map((x) => `${x.change}: ${x.works ? 'works' : 'fails'}`).join('; '),
    );
    await t.test('serves a wider client mix than it was modelled with, under all of the advice at once', () => assertServes(r));
    await t.test(`refuses an attack the model never saw (${ATTACK.join(' ')}), which the same container without the profile allows`, () => assertAttackRefused(r));
    await t.test('in the same container, clone(CLONE_NEWUSER), socket(AF_ALG) and a personality change are refused by argument; the flat profile let them through', () => assertRefusedByArgument(r));
    await t.test('every setting the advice leaves loose is needed: tightening it breaks the program', () => assertLooseNeeded(r));
    await t.test('every architecture\'s profile from this recording compiles with libseccomp for that architecture and names only syscalls it has', () => {
      for (const [arch, c] of Object.entries(r.compiled)) {
        assert.deepEqual(c.missing, [], `${arch}: names the architecture lacks`);
        assert.ok(c.names > 50 && c.rules >= c.names && c.bpf_bytes > 0, `${arch}: ${JSON.stringify(c)}`);
      }
      assert.deepEqual(Object.keys(r.compiled).sort(), ['aarch64', 'x86_64']);
    });
    await t.test('the AppArmor profile compiles (apparmor_parser -Q -K) and allows exactly the model\'s files, executions and capabilities', () => {
      assert.deepEqual(r.appArmor.differences, []);
      assert.ok(r.appArmor.fileRules > 0);
    });
    await t.test(`the advice is what a correct model gives: ${program.why}`, () => assertExpectedAdvice(program, r));
  });
}
