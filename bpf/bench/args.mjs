#!/usr/bin/env node
// Cost of recording the arguments seccomp rules compare (issue 23): a program whose every
// iteration makes the calls whose arguments the tracer now records (ioctl, prctl, getsockopt,
// setsockopt, personality) and one it does not look at (getppid), timed by itself. Needs root.
//
//   bpf/bench/build.sh && make -C bpf
//   node bpf/bench/args.mjs [--rounds 7] [--iters 200000] [--before REV]
//
// Configurations, interleaved round by round: base (no BPF); the floor (an empty tp_btf program
// on sys_exit, the hook we use); varmor-tracer before the argument records (REV, default the
// commit before them) tracing the program; varmor-tracer now, tracing it; and now with the
// program as a bystander. Prints a Markdown table (progress on stderr).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log, median, opt, repo, selfTimed, tracers, withFloor, withTracer } from './common.mjs';

const ROUNDS = opt('rounds', 7);
const ITERS = opt('iters', 200000);
const BEFORE = opt('before', execFileSync('git', ['-C', repo, 'log', '-1', '--format=%H', '--grep=the tracer records the compared arguments']).toString().trim() + '^');
const CALLS = 6; // syscalls an iteration makes

const work = mkdtempSync(join(tmpdir(), 'args-bench-'));
const prog = selfTimed(work, 'args', {
  includes: '#include <fcntl.h>\n#include <sys/ioctl.h>\n#include <sys/personality.h>\n#include <sys/prctl.h>\n#include <sys/socket.h>\n#include <unistd.h>',
  setup: `int fd = open("/dev/null", O_RDONLY), s = socket(AF_INET, SOCK_STREAM, 0), type, one = 1, avail;
  socklen_t len = sizeof type;`,
  loop: `ioctl(fd, FIONREAD, &avail);
    prctl(PR_GET_DUMPABLE);
    getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len);
    setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    personality(0xffffffff);
    getppid();`,
}, ITERS);
const direct = () => prog.run();
const { before: OLD_TRACER, now: NEW_TRACER } = tracers(BEFORE, work);

const argRecords = {};
async function traced(bin, name, alone) {
  const { bystander, records } = await withTracer(bin, prog.argv, alone ? direct : undefined);
  if (alone) return bystander;
  argRecords[name] = records.filter((r) => r.t === 'arg').length;
  return prog.ns();
}

const configs = {
  base: async () => direct(),
  'floor: empty program on sys_exit': () => withFloor('floor_exit', direct),
  'varmor-tracer before the argument records, traced': () => traced(OLD_TRACER, 'before'),
  'varmor-tracer, traced': () => traced(NEW_TRACER, 'now'),
  'varmor-tracer, bystander': () => traced(NEW_TRACER, 'bystander', true),
};
const samples = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
try {
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [name, run] of Object.entries(configs)) samples[name].push(await run());
    log(`round ${r}/${ROUNDS}: ` + Object.entries(samples).map(([k, s]) => `${k.slice(0, 24)} ${s.at(-1)}`).join(' | '));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const base = median(samples.base);
console.log(`${ROUNDS} rounds of ${ITERS} iterations (${CALLS} syscalls each: ioctl, prctl, getsockopt, setsockopt, personality, getppid), ${new Date().toISOString()}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
console.log('| configuration | ns / iteration (median) | × base | ns per syscall over base |');
console.log('|---|---:|---:|---:|');
for (const [name, s] of Object.entries(samples)) {
  const m = median(s);
  console.log(`| ${name} | ${m.toFixed(0)} | ${(m / base).toFixed(3)} | ${((m - base) / CALLS).toFixed(0)} |`);
}
console.log(`\nArgument records (one per distinct tuple): before ${argRecords.before ?? 0}, now ${argRecords.now ?? 0}.`);
