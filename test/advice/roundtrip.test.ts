import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bpfUnavailable } from '../helpers.js';
import { PROGRAMS, type Program } from './programs.js';
import { ATTACK, deniedSummary, roundTrip, type RoundTrip } from './roundtrip.js';

const skip = bpfUnavailable();

/** The program under all of the advice: these hold whatever the advice says. */
function assertServes(r: RoundTrip) {
  assert.equal(r.modelled.failures, 0, `the narrow mix failed while modelled: ${r.modelled.problems.join('; ')}`);
  assert.equal(r.withoutProfile.failures, 0, `the wide mix fails even without the seccomp profile (the rest of the advice applied): ${r.withoutProfile.problems.join('; ')}`);
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
      `${r.program}: ${r.served.requests} requests, ${r.served.failures} failed, ${r.served.denied.length} denied; attack ${r.attack.refused ? 'refused' : 'NOT refused'} (control ${r.attack.control.allowed ? 'allowed' : 'refused'}); ` +
        r.trials.map((x) => `${x.change}: ${x.works ? 'works' : 'fails'}`).join('; '),
    );
    await t.test('serves a wider client mix than it was modelled with, under all of the advice at once', () => assertServes(r));
    await t.test(`refuses an attack the model never saw (${ATTACK.join(' ')}), which the same container without the profile allows`, () => assertAttackRefused(r));
    await t.test('every setting the advice leaves loose is needed: tightening it breaks the program', () => assertLooseNeeded(r));
    await t.test('the AppArmor profile compiles (apparmor_parser -Q -K) and allows exactly the model\'s files, executions and capabilities', () => {
      assert.deepEqual(r.appArmor.differences, []);
      assert.ok(r.appArmor.fileRules > 0);
    });
    await t.test(`the advice is what a correct model gives: ${program.why}`, () => assertExpectedAdvice(program, r));
  });
}
