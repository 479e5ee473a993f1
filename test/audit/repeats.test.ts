import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Attributor, type Attribution } from '../../audit/attribute.js';
import { bodyEnd, bodyHash, frameLine, parseLine } from '../../audit/parse.js';
import { corpusLines } from './corpus.js';

// The attributor recognises a record body it has seen and repeats its effects without parsing it
// again (audit/repeats.ts, Repeat). These tests hold that shortcut to the long way round:
// record(parseLine(line)), which parses every line in full and keeps nothing between lines.

const PROFILE = 'varmor-ns-name';

/** The corpus lines again and again under new time stamps, the way a complain-mode log repeats. */
function repeatedLog(rounds: number): string[] {
  const base = [...corpusLines('apparmor.log'), ...corpusLines('seccomp.log'), ...corpusLines('other.log'), ...corpusLines('hostile.log')];
  const out: string[] = [];
  let serial = 1;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < base.length; i++) {
      // Rotate the order each round, so repeats come back in other neighbourhoods.
      const line = base[(i * 7 + r) % base.length]!;
      out.push(line.replace(/audit\(\d+\.\d{3}:\d+\)/, () => `audit(${1700000000 + r}.${String(i % 1000).padStart(3, '0')}:${serial++})`));
    }
  }
  return out;
}

/** An attribution that learns the second profile only once told to, and whose pid map changes over time (pid reuse). */
function attribution(state: { learnt: boolean; pidOwner: string }): Attribution {
  return {
    profile: (p) => (p === PROFILE ? 'web' : p === 'other-profile' && state.learnt ? 'late' : undefined),
    pid: (pid) => (pid === 5236 ? state.pidOwner : undefined),
  };
}

test('repeated bodies: line() attributes exactly what record(parseLine()) does, drain after drain', () => {
  const log = repeatedLog(12);
  const fastState = { learnt: false, pidOwner: 'runc-a' };
  const slowState = { learnt: false, pidOwner: 'runc-a' };
  const fast = new Attributor(attribution(fastState), { replica: 'r', arch: 'x86_64' });
  const slow = new Attributor(attribution(slowState), { replica: 'r', arch: 'x86_64' });
  const chunk = Math.ceil(log.length / 6);
  for (let d = 0; d < 6; d++) {
    // Halfway through, the pid is reused by another target and the other profile becomes known.
    if (d === 3) {
      for (const s of [fastState, slowState]) {
        s.learnt = true;
        s.pidOwner = 'runc-b';
      }
    }
    for (const line of log.slice(d * chunk, (d + 1) * chunk)) {
      fast.line(line);
      const rec = parseLine(line);
      if (rec.kind === 'rejected') slow.count(`rejected_${rec.reason}`);
      else slow.record(rec);
    }
    assert.deepEqual(fast.drain(), slow.drain(), `drain ${d}`);
  }
  const f = fast.counters;
  const s = slow.counters;
  for (const k of ['apparmor', 'seccomp', 'unattributed', 'apparmor_status', 'seccomp_other_arch', 'seccomp_unknown_arch']) assert.equal(f[k], s[k], k);
  assert.ok(f.apparmor! > 100 && f.seccomp! > 20, 'the log exercised both kinds');
  for (const [k, n] of Object.entries(s)) if (k.startsWith('rejected_')) assert.equal(f[k.slice(9)], n, k);
});

test('a body seen before does not excuse a bad framing, and ENRICHED fields do not hide it', () => {
  const a = new Attributor({ profile: () => 'web' }, { replica: 'r' });
  const body = `apparmor="ALLOWED" operation="open" profile="${PROFILE}" name="/etc/hosts" pid=7 comm="cat" requested_mask="r" denied_mask="r" fsuid=0 ouid=0`;
  a.line(`Nov 27 10:00:00 node-1 kernel: audit: type=1400 audit(1700000000.000:1): ${body}`);
  a.line(`Nov 27 10:00:00 no\x01de kernel: audit: type=1400 audit(1700000000.000:2): ${body}`);
  a.line(`Nov 27 10:00:00 nöde kernel: audit: type=1400 audit(1700000000.000:3): ${body}`);
  a.line(`type=AVC msg=audit(1700000000.000:4): ${body}\x1dAUID="unset" UID="root"`);
  a.line(`type=AVC msg=audit(1700000000.000:5): ${body}\r`);
  assert.equal(a.counters.binary, 2);
  assert.equal(a.drain().get('web')?.files?.['/etc/hosts']?.n.r, 3);
});

test('bytes: the WebAssembly check agrees with a regular expression, and equal bodies hash equal', () => {
  const nonPrintable = /[^\x20-\x7e]/;
  const chars = fc.oneof(fc.constantFrom('a', ' ', '"', '=', '\x1d', '\x00', '\x7f', '\x1f', '\r', 'é', '\u0101', '\ud83d\ude00'), fc.string({ unit: 'binary', maxLength: 3 }));
  const head = 'type=AVC msg=audit(1.000:1): ';
  fc.assert(
    fc.property(fc.array(chars, { maxLength: 80 }), fc.string({ maxLength: 30 }), (parts, prefix) => {
      const line = parts.join('');
      const body = line.endsWith('\r') ? line.slice(0, -1) : line;
      const bad = body.search(nonPrintable);
      const p = frameLine(head + line);
      if (bad >= 0 && body.charCodeAt(bad) !== 0x1d) return assert.equal(p, -5 /* binary */);
      assert.equal(p, head.length);
      assert.equal(bodyEnd(), head.length + (bad < 0 ? body.length : bad));
      // The hash depends on the body only, not on what precedes it.
      const clean = body.replace(/[^\x20-\x7e]/g, '');
      frameLine(head + clean);
      const h = bodyHash();
      const node = `node=${prefix.replace(/[^\x21-\x7e]/g, '')}x type=AVC msg=audit(2.000:3): `;
      assert.equal(frameLine(node + clean), node.length);
      assert.equal(bodyHash(), h);
    }),
    { numRuns: 2000 },
  );
});
