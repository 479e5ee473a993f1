// The command protocol on stdin is hostile-input safe: a few thousand
// generated command lines (wrong arities, out-of-range targets, huge,
// negative and overflowing numbers, bad hex, 64 KiB and 1 MiB lines, NULs,
// control bytes, invalid UTF-8, unknown verbs, empty lines) are sent to the
// real tracer through the driver (TracerProcess). Every line must get exactly
// the reply the protocol documents (bpf/README.md), in order: malformed ones
// an error (a command-error, or the verb's own reply with `error` when the
// target is valid), empty ones none. After each batch the tracer must still
// answer a flush and track (then untrack) a `sleep 30` this test started.
//
// Nothing here can run a program or signal a real process: `launch` only
// gets argv[0] = /nonexistent/..., or arguments that are not valid hex;
// `kill` only targets that nothing is ever tracked in; `track T pid` only
// pids above pid_max, 0, or malformed numbers whose digits also name no
// process (so even a lenient atoi-style parser could not reach a real one).
//
// FUZZ_SEED=N reproduces a run; FUZZ_TRACER_BIN=/path runs another build of
// the loader (e.g. one with -fsanitize=address,undefined).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { BIN, loadable } from './harness.mjs';
import { TracerProcess } from '../../dist/bpf/driver/loader.js';

const skipReason = await loadable(test, assert);
const BINARY = process.env.FUZZ_TRACER_BIN || BIN;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const BATCHES = 15;
const PER_BATCH = 200;
const PROBE_T = 62; // used by the probes only
const LAUNCH_TS = range(1, 20); // launch of /nonexistent/... (its child exits at once)
const TRACK_TS = range(21, 40); // track of nothing real
const KILL_TS = range(41, 61); // never tracked: kill signals nobody
const PID_MAX = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));

function range(a, b) {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** mulberry32: a small seeded PRNG, so a failure reproduces with its seed */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = prng(SEED);
const int = (n) => Math.floor(rnd() * n);
const pick = (v) => v[int(v.length)];
const between = (a, b) => a + int(b - a + 1);
const hexOf = (s) => Buffer.from(s).toString('hex');
const randHex = (n) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
const randWord = (n) => Array.from({ length: n }, () => 'abcdefghijklmnopqrstuvwxyz0123456789-_.'[int(39)]).join('');

// Reply classes. `error`: a command-error or a reply that carries `error`.
const ERROR = 'error';
/** a line to send and the reply it must get (`null`: none) */
const L = (line, expect, msg) => ({ line: Buffer.isBuffer(line) ? line : Buffer.from(line, 'latin1'), expect, msg });

const badTargets = ['0', '128', '129', '255', '-1', '2147483648', '9223372036854775808', '18446744073709551617', '99999999999999999999999',
  '', '1.5', '0x10', '+5', ' 5', '5\t', '\t5', '1e1', 'five', '\xd9\xa5', '05 ', '5x'];
/** attach keys that are not 1..32 of [0-9A-Za-z._-] (an empty one is two spaces: a malformed line) */
const badKeys = ['a'.repeat(33), 'k/1', 'k 1', 'ké', 'k\t', '"k"', 'k\\', '*', 'k:1', '\xd9\xa5'];
/** a pid no process has (above pid_max, below 2^31) */
const deadPid = () => between(PID_MAX + 1, 2147483647);
/** malformed pids; any digits they start with name no process either */
const badPids = () => [
  '-1', `-${deadPid()}`, String(2 ** 31), String(2 ** 32 + PID_MAX + 7), '9223372036854775808', '18446744073709551616',
  '99999999999999999999999999', `${deadPid()}abc`, `+${deadPid()}`, `0x${PID_MAX + 1}`, `${deadPid()}.5`, 'abc', '1'.repeat(400),
  `${PID_MAX + 3}\x01`, `\xff${deadPid()}`,
];
const badGraces = ['-1', '-2147483648', '2147483648', '9223372036854775807', '9223372036854775808', '99999999999999999999', 'abc',
  '1.5', '0x10', '+1', '', '1e3', '\xff', '10\x7f'];
/** argv[0] that cannot execute, as hex */
const deadPath = () => hexOf(`/nonexistent/${randWord(between(1, 12))}`);
/** a hex argument that is certainly malformed */
const badHex = () => {
  const h = randHex(2 * between(1, 8));
  switch (int(5)) {
    case 0: return h + 'a'; // odd length
    case 1: return h.slice(0, 2) + pick(['g', 'z', 'G', ':', '/', '\xff', '\x01']) + h.slice(3); // not a hex digit
    case 2: return h + '00'; // an embedded NUL
    case 3: return '0x' + h;
    default: return pick(['-', '00', '0', 'zz', '\xc3\x28', '%41', 'é']);
  }
};
/** an argument for after argv[0]: anything but a 00 byte (valid hex, possibly empty) */
const anyArg = () => (int(6) ? hexOf(Buffer.from(Array.from({ length: between(0, 12) }, () => between(1, 255)))) : '');

const generators = [
  // every verb with the wrong number of words
  () => pick([
    L('launch', ERROR), L(`launch ${pick(LAUNCH_TS)}`, ERROR, /usage: launch/),
    L('track', ERROR), L(`track ${pick(TRACK_TS)}`, ERROR, /usage: track/), L(`track ${pick(TRACK_TS)} pid`, ERROR, /usage: track/),
    L(`track ${pick(TRACK_TS)} pid ${deadPid()} x`, ERROR, /usage: track/), L(`track ${pick(TRACK_TS)} container`, ERROR, /usage: track/),
    L(`track ${pick(TRACK_TS)} pod`, ERROR, /usage: track/), L(`track ${pick(TRACK_TS)} ${pick(['pids', 'PID', 'cgroup', ''])} ${deadPid()}`, ERROR, /usage: track/),
    L(`track ${pick(TRACK_TS)} container ${randHex(16)} ${randHex(16)}`, ERROR, /usage: track/),
    L('kill', ERROR), L(`kill ${pick(KILL_TS)}`, ERROR, /usage: kill/), L(`kill ${pick(KILL_TS)} 0 0`, ERROR, /usage: kill/),
    L('untrack', ERROR), L(`untrack ${pick(KILL_TS)} ${pick(KILL_TS)}`, ERROR, /usage: untrack/), L(`untrack ${pick(TRACK_TS)} `, ERROR, /usage: untrack/),
    L(`flush a${int(99)} b`, ERROR, /usage: flush/), L('flush a b c d', ERROR), L('checkpointed', ERROR, /usage: checkpointed/),
    L(`checkpointed t${int(99)} x`, ERROR), L('quit now', ERROR, /usage: quit/), L('quit release now', ERROR), L('quit ', ERROR),
    L('quit  release', ERROR), L('release x', ERROR, /usage: release/), L('release ', ERROR), L('quit\trelease', ERROR, /unknown/),
    L('attach', ERROR, /usage: attach/), L(`attach ${pick(badKeys)}`, ERROR, /usage: attach/), L(`attach k${int(99)} x`, ERROR, /usage: attach/),
    L('free', ERROR, /usage: free/), L(`free ${pick(badKeys)}`, ERROR, /usage: free/),
  ]),
  // targets out of range: never a targeted reply, never an effect
  () => {
    const t = pick(badTargets);
    return pick([
      L(`launch ${t} ${deadPath()}`, ERROR), L(`track ${t} pid ${deadPid()}`, ERROR), L(`track ${t} container ${randHex(64)}`, ERROR),
      L(`kill ${t} 0`, ERROR), L(`untrack ${t}`, ERROR), L(`track ${t} pod ${randHex(8)}`, ERROR),
    ]);
  },
  // numbers: pids and grace periods
  () => {
    const T = pick(TRACK_TS);
    return pick([
      L(`track ${T} pid ${pick(badPids())}`, ERROR, /pid must be/),
      L(`track ${T} pid ${deadPid()}`, ERROR, /no such process/),
      L(`track ${T} pid 0`, ERROR, /no such process/),
      L(`track ${T} pid 2147483647`, ERROR, /no such process/),
      L(`kill ${pick(KILL_TS)} ${pick(badGraces)}`, ERROR, /usage: kill/),
      L(`kill ${pick(KILL_TS)} ${pick(['0', '1', '2147483647', String(int(100000)), '000'])}`, 'killed'),
    ]);
  },
  // launch: absent, empty, malformed, too many arguments, or an argv[0] that does not exist
  () => {
    const T = pick(LAUNCH_TS);
    const args = Array.from({ length: int(4) }, anyArg);
    const withBad = [deadPath(), ...args];
    withBad.splice(int(withBad.length + 1), 0, badHex());
    return pick([
      L(`launch ${T}`, ERROR, /usage: launch/), L(`launch ${T} `, ERROR, /usage: launch/), L(`launch ${T}  ${deadPath()}`, ERROR, /usage: launch/),
      L(`launch ${T} ${withBad.join(' ')}`, ERROR, /usage: launch/),
      L(`launch ${T} ${badHex()}`, ERROR, /usage: launch/),
      L(`launch ${T} ${[deadPath(), ...Array(1100).fill('61')].join(' ')}`, ERROR, /usage: launch/),
      L(`launch ${T} ${[deadPath(), ...args].join(' ')}`, 'launch-failed', /execvp/),
      L(`launch ${T} ${deadPath().toUpperCase()} ${anyArg()}`, 'launch-failed', /execvp/),
    ]);
  },
  // containers and pods that are not there, ids of the wrong form
  () => {
    const T = pick(TRACK_TS);
    return pick([
      L(`track ${T} container ${randHex(between(12, 64))}`, 'tracked'),
      L(`track ${T} container ${pick([randHex(11), randHex(65), randHex(20).toUpperCase(), '../../etc', `${randHex(12)}\xff`, `${randHex(12)}/x`])}`, ERROR, /container id must be/),
      L(`track ${T} pod ${randHex(8)}-${randHex(4)}-${randHex(4)}-${randHex(4)}-${randHex(12)}`, 'tracked'),
      L(`track ${T} pod ${pick(['x/y', '..', randHex(7), randHex(65), `${randHex(8)}\x01`, `${randHex(8)}\xc3`])}`, ERROR, /pod uid must be/),
    ]);
  },
  // long lines: at the limit, over it (the rest of the line must not run), 1 MiB
  () => pick([
    L(`flush ${'a'.repeat(65534 - 6)}`, 'flushed'),
    L(`flush ${'a'.repeat(65535 - 6)}`, ERROR, /line too long/),
    L('x'.repeat(65535) + `flush smuggled-${int(1e6)}`, ERROR, /line too long/),
    L(`launch ${pick(LAUNCH_TS)} ${deadPath()}` + ' 61'.repeat(1 << 15), ERROR, /line too long/),
    L(`track ${pick(TRACK_TS)} pid ` + '9'.repeat(1 << 20), ERROR, /line too long/),
    L(Buffer.alloc(1 << 20, 0xff), ERROR, /line too long/),
    L(Buffer.concat([Buffer.alloc((1 << 20) - 12, 'q'), Buffer.from(' release')]), ERROR, /line too long/),
  ]),
  // NUL and control bytes
  () => {
    // spaced: commands with a space to replace (never a bare quit or release)
    const spaced = pick([`flush n${int(99)}`, `untrack ${pick(KILL_TS)}`, `kill ${pick(KILL_TS)} 0`, `track ${pick(TRACK_TS)} pid ${deadPid()}`,
      `launch ${pick(LAUNCH_TS)} ${deadPath()}`, 'quit release']);
    const valid = pick([spaced, 'quit', 'release']);
    const at = int(valid.length + 1);
    const c = String.fromCharCode(pick([1, 2, 7, 8, 9, 11, 12, 27, 31, 127]));
    return pick([
      L(valid.slice(0, at) + '\0' + valid.slice(at), ERROR, /NUL byte/),
      L('\0', ERROR, /NUL byte/),
      L(c + valid, ERROR, /unknown/),
      L(spaced.replace(' ', c), ERROR),
      L(spaced.replace(' ', '\r'), ERROR),
      L(`flush tok${c}${int(99)}`, 'flushed'),
      L(`flush t${int(99)}\r`, 'flushed'),
      L(`untrack ${pick(KILL_TS)}${c}`, ERROR, /usage: untrack/),
    ]);
  },
  // invalid UTF-8
  () => {
    const bad = pick(['\xff', '\xc3\x28', '\xc0\xaf', '\xed\xa0\x80', '\xf8\x88\x80\x80\x80', '\x80']);
    return pick([
      L(`fl${bad}ush`, ERROR, /unknown/), L(`${bad}`, ERROR, /unknown/), L(`quit${bad}`, ERROR, /unknown/),
      L(`flush ${bad}${int(9)}`, 'flushed'), L(`checkpointed ${bad}`, 'checkpointed'),
      L(`kill ${pick(KILL_TS)} 1${bad}`, ERROR, /usage: kill/), L(`untrack ${bad}`, ERROR, /usage: untrack/),
      L(`launch ${pick(LAUNCH_TS)} ${deadPath()}${bad}`, ERROR, /usage: launch/),
    ]);
  },
  // unknown verbs, case, spacing
  () => pick([
    L(randWord(between(1, 20)).replace(/^(launch|track|kill|untrack|flush|checkpointed|quit|release)$/, 'x$1'), ERROR, /unknown/),
    L(pick(['FLUSH', 'Quit', 'RELEASE', 'launch5', 'track1', 'killall', 'untrack-1', 'flushed', 'help', '?', '-', '#quit']), ERROR, /unknown/),
    L(` flush t${int(9)}`, ERROR, /unknown/), L('   ', ERROR, /unknown/), L(`\tquit`, ERROR, /unknown/),
  ]),
  // empty lines: ignored
  () => pick([L('', null), L('\r', null)]),
  // valid and harmless
  () => pick([
    L(`flush f${int(1e6)}`, 'flushed'), L('flush', 'flushed'), L(`checkpointed c${int(1e6)}`, 'checkpointed'),
    L(`flush ${pick(KILL_TS)} f${int(1e6)}`, 'flushed'), L(`checkpointed ${pick(KILL_TS)} c${int(1e6)}`, 'checkpointed'),
    L(`free k${int(1e6)}`, 'freed'),
    L(`untrack ${pick([...LAUNCH_TS, ...TRACK_TS, ...KILL_TS])}`, 'untracked'), L(`kill ${pick(KILL_TS)} 0`, 'killed'),
  ]),
];
const weights = [12, 8, 12, 12, 3, 1, 10, 8, 8, 4, 8];
const total = weights.reduce((a, b) => a + b);
function generate() {
  let r = int(total);
  for (let i = 0; i < generators.length; i++) {
    if (r < weights[i]) return generators[i]();
    r -= weights[i];
  }
  throw new Error('unreachable');
}

const REPLIES = new Set(['command-error', 'tracked', 'launched', 'launch-failed', 'killed', 'untracked', 'flushed', 'checkpointed', 'released', 'attached', 'freed']);
/** a global flush ends every target's spool file with a marker of its own before its reply (no target) */
const isTargetMarker = (r, t) => r.t === 'flushed' && r.target !== undefined && t.line.toString('latin1').split(' ').length <= 2;
const isError = (r) => r.t === 'command-error' || r.error !== undefined;
const show = (buf) => JSON.stringify(buf.length > 120 ? `${buf.subarray(0, 120).toString('latin1')}... (${buf.length} bytes)` : buf.toString('latin1'));

test('hostile command lines: every one answered as documented, the tracer never dies or hangs', { skip: skipReason, timeout: 120000 }, async () => {
  console.log(`fuzz-commands: seed=${SEED} (FUZZ_SEED=${SEED} reproduces), binary ${BINARY}`);
  const tracer = await TracerProcess.start(BINARY);
  const expected = []; // what the replies, in order, must be
  const failures = [];
  let stderr = '';
  let exited;
  let quitting = false;
  let crashes = 0;
  tracer.on('log', (s) => { stderr = (stderr + s).slice(-20000); });
  tracer.on('garbage', (line) => failures.push(`a line that is not JSON: ${line.slice(0, 200)}`));
  tracer.on('exit', (err) => {
    exited = err.message;
    if (!quitting) crashes++;
  });
  after(() => { if (!exited) tracer.kill(); });

  let errors = 0;
  let probes = 0;
  let sent = 0;
  tracer.on('record', (r) => {
    if (!REPLIES.has(r.t) || (expected[0] && isTargetMarker(r, expected[0]))) return;
    if (isError(r)) errors++;
    const want = expected.shift();
    if (!want) return failures.push(`a reply nothing asked for: ${JSON.stringify(r).slice(0, 300)}`);
    const ok = want.expect === ERROR ? isError(r) && (!want.msg || want.msg.test(String(r.msg ?? r.error)))
      : want.expect === 'probe' ? want.check(r)
      : r.t === want.expect && (!want.msg || want.msg.test(String(r.error))) && (r.t !== 'killed' || (r.pids === 0 && !r.error));
    if (!ok) failures.push(`line ${show(want.line)} wanted ${want.expect}${want.msg ? ` ${want.msg}` : ''}, got ${JSON.stringify(r).slice(0, 300)}`);
  });
  // the driver's send() writes UTF-8 text; invalid UTF-8 and raw bytes go to the same stdin as bytes
  const stdin = tracer.child.stdin;
  const sendRaw = (buf) => {
    if (exited) throw new Error(`tracer exited: ${exited}`);
    stdin.write(Buffer.concat([buf, Buffer.from('\n')]));
  };

  /** a valid command whose reply must come within `ms` */
  let slowest = 0;
  async function probe(command, check, ms) {
    const t0 = Date.now();
    const reply = tracer.waitFor(check, ms);
    expected.push({ line: Buffer.from(command), expect: 'probe', check });
    tracer.send(command);
    const r = await reply.catch((err) => {
      throw new Error(`probe ${command}: ${err.message}; seed ${SEED}; first failures: ${failures.slice(0, 10).join('\n')}; stderr: ${stderr.slice(-2000)}`);
    });
    probes++;
    slowest = Math.max(slowest, Date.now() - t0);
    return r;
  }

  const started = Date.now();
  for (let b = 0; b < BATCHES && !exited; b++) {
    for (let i = 0; i < PER_BATCH; i++) {
      const l = generate();
      assert.ok(!l.line.includes(0x0a), 'a generated line has no newline');
      if (l.expect) expected.push(l);
      sendRaw(l.line);
      sent++;
    }
    // alive, and nothing of the batch still unanswered: the flush's reply comes after all of theirs
    const token = `probe-${b}`;
    await probe(`flush ${token}`, (r) => r.t === 'flushed' && r.token === token, 15000);
    assert.deepEqual(failures.slice(0, 10), [], `seed ${SEED} (the first 10 of ${failures.length} failures)`);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const tracked = await probe(`track ${PROBE_T} pid ${sleeper.pid}`, (r) => r.t === 'tracked' && r.target === PROBE_T, 5000);
      assert.equal(tracked.pids, 1, JSON.stringify(tracked));
      assert.equal(tracked.error, undefined, JSON.stringify(tracked));
      const untracked = await probe(`untrack ${PROBE_T}`, (r) => r.t === 'untracked' && r.target === PROBE_T, 5000);
      assert.equal(untracked.pids, 1, JSON.stringify(untracked));
    } finally {
      sleeper.kill('SIGKILL');
    }
  }
  const ms = Date.now() - started;
  assert.equal(exited, undefined, `the tracer exited: ${exited}; stderr: ${stderr.slice(-2000)}`);
  assert.deepEqual(failures.slice(0, 10), [], `seed ${SEED} (the first 10 of ${failures.length} failures)`);
  assert.deepEqual(expected, [], 'every line answered');
  quitting = true;
  await tracer.quit();
  assert.match(exited ?? '', /exited with code 0/, `quit: ${exited}; stderr: ${stderr.slice(-2000)}`);
  assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, `sanitizer report:\n${stderr.slice(-6000)}`);
  assert.equal(crashes, 0);
  console.log(`fuzz-commands: ${BATCHES} batches in ${ms} ms, slowest probe answered in ${slowest} ms`);
  console.log(`fuzz-commands: sent=${sent} errors=${errors} probes=${probes} crashes=${crashes} seed=${SEED}`);
});
