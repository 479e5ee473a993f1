// The loader's source layout holds: its module graph has no cycle (bpf/include-graph.mjs), the
// record emitters and driver types (records.gen.h, driver/records.gen.ts) derived from bpf/records.json are up to date
// (bpf/gen-records.mjs), and no loader file writes a line or a field by hand (only through the
// emitters, so every line on the wire is of a kind records.json defines, with its fields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BPF = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bpf');

function run(script, ...args) {
  try {
    return { code: 0, out: execFileSync(process.execPath, [path.join(BPF, script), ...args], { encoding: 'utf8', stdio: 'pipe' }) };
  } catch (err) {
    return { code: err.status, out: `${err.stdout}${err.stderr}` };
  }
}

test('the loader modules include each other one way (no cycle)', () => {
  const r = run('include-graph.mjs');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^records +-> /m);
  assert.doesNotMatch(r.out, /^records +->.*\b(targets|commands|spool|events)\b/m, 'records.c only formats');
});

test('records.gen.h and bpf/driver/records.gen.ts are what records.json gives', () => {
  const r = run('gen-records.mjs', '--check');
  assert.equal(r.code, 0, r.out);
});

// the loader's C files (not the kernel side's); json.c holds the helpers the emitters write with
const LOADER = fs.readdirSync(BPF).filter((f) => f.endsWith('.c') && !f.endsWith('.bpf.c') && f !== 'json.c');

test('every loader file writes its lines through the generated emitters', () => {
  assert.ok(LOADER.includes('records.c') && LOADER.includes('commands.c') && LOADER.includes('main.c'), LOADER.join(' '));
  for (const f of LOADER) {
    const src = fs.readFileSync(path.join(BPF, f), 'utf8');
    assert.deepEqual(src.match(/\\"[a-z_-]+\\"\s*:/g) ?? [], [], `a JSON key written by hand in ${f}`);
    assert.doesNotMatch(src, /\b(put_(hex|jstr|flags|str|uint|int))\(/, `json.h writers called directly in ${f}`);
    assert.doesNotMatch(src, /\b(printf|fputs|puts|fwrite|dprintf)\(\s*"\{/, `a line started by hand in ${f}`);
  }
});

test('each kind is written by the file records.json names, which includes its emitters', () => {
  const spec = JSON.parse(fs.readFileSync(path.join(BPF, 'records.json'), 'utf8'));
  const emitters = new Set(Object.values(spec.kinds).map((k) => k.emitter));
  for (const e of emitters) {
    assert.ok(LOADER.includes(`${e}.c`), `records.json names emitter ${e}, which is no loader file`);
    const src = fs.readFileSync(path.join(BPF, `${e}.c`), 'utf8');
    assert.match(src, new RegExp(`#define RECORDS_GEN_${e.toUpperCase()}\\n#include "records.gen.h"`), `${e}.c includes its emitters`);
  }
  // a file that writes no kind has no emitters
  for (const f of LOADER.filter((f) => !emitters.has(f.replace(/\.c$/, '')))) {
    assert.doesNotMatch(fs.readFileSync(path.join(BPF, f), 'utf8'), /RECORDS_GEN_/, f);
  }
});

// The replies as the hand-written printf()s wrote them (bpf/README.md's protocol): the emitters
// keep them byte for byte (key order, spelling, escaping).
const REPLIES = {
  commands: [
    ['rec_attached(); attached_key("run-a"); attached_target(3); attached_adopted(true); attached_root(42); attached_pids(2); rec_end();', '{"t":"attached","key":"run-a","target":3,"adopted":true,"root":42,"pids":2}'],
    ['rec_attached(); attached_key("k"); attached_error("all 2 targets of this tracer are in use"); rec_end();', '{"t":"attached","key":"k","error":"all 2 targets of this tracer are in use"}'],
    ['rec_freed(); freed_key("k"); freed_found(false); freed_target(0); freed_pids(0); freed_in_use(1); rec_end();', '{"t":"freed","key":"k","found":false,"target":0,"pids":0,"in_use":1}'],
    ['rec_checkpointed(0); checkpointed_token("a\\"b"); checkpointed_dropped(0); checkpointed_files(0); checkpointed_error("no flush with this token in the spool"); rec_end();', '{"t":"checkpointed","token":"a\\"b","dropped":0,"files":0,"error":"no flush with this token in the spool"}'],
    ['rec_checkpointed(5); checkpointed_token("t"); checkpointed_dropped(12); checkpointed_files(2); rec_end();', '{"t":"checkpointed","target":5,"token":"t","dropped":12,"files":2}'],
    ['rec_flushed(0); flushed_token(""); rec_end(); rec_flushed(7); flushed_token("x"); rec_end();', '{"t":"flushed","token":""}\n{"t":"flushed","target":7,"token":"x"}'],
    ['rec_counts(1); counts_session(); counts_syscalls_begin(); counts_syscalls_item(true, "0", 3); counts_syscalls_item(false, "59", 1); counts_syscalls_end(); rec_end();', '{"t":"counts","target":1,"session":"exec","syscalls":{"0":3,"59":1}}'],
    ['rec_launched(2); launched_pid(99); rec_end(); rec_launch_failed(2); launch_failed_error("execvp: No such file or directory"); rec_end();', '{"t":"launched","target":2,"pid":99}\n{"t":"launch-failed","target":2,"error":"execvp: No such file or directory"}'],
    ['rec_untracked(4); untracked_pids(0); untracked_error("usage: untrack TARGET(1..127)"); rec_end();', '{"t":"untracked","target":4,"pids":0,"error":"usage: untrack TARGET(1..127)"}'],
    ['rec_command_error(); command_error_msg("unknown command"); command_error_line_hex("hi\\n", 3); rec_end();', '{"t":"command-error","msg":"unknown command","line_hex":"68690a"}'],
  ],
  main: [
    [
      'rec_ready(); ready_version(1); ready_noaudit(true); ready_adopted(true); ready_generation("ab"); ready_targets_begin(); ready_targets_item(true); pinned_target(1); pinned_pids(2); pinned_root(3); ready_targets_item_end(); ready_targets_item(false); pinned_target(4); pinned_pids(0); pinned_root(0); pinned_key("run-b"); ready_targets_item_end(); ready_targets_end(); rec_end();',
      '{"t":"ready","version":1,"noaudit":true,"adopted":true,"generation":"ab","targets":[{"target":1,"pids":2,"root":3},{"target":4,"pids":0,"root":0,"key":"run-b"}]}',
    ],
    ['rec_released(); released_found(true); released_pins(9); rec_end(); rec_released(); released_generation("ab"); rec_end(); rec_released(); rec_end();', '{"t":"released","found":true,"pins":9}\n{"t":"released","generation":"ab"}\n{"t":"released"}'],
  ],
  track: [
    [
      'rec_tracked(1); tracked_pids(3); tracked_sessions(0); tracked_pod("u-1"); tracked_cgroup("/sys/fs/cgroup/x"); tracked_cgroup_id(77); tracked_containers_begin(); tracked_containers_item(true, "aa"); tracked_containers_item(false, "bb"); tracked_containers_end(); tracked_sandbox("cc"); rec_end();',
      '{"t":"tracked","target":1,"pids":3,"sessions":0,"pod":"u-1","cgroup":"/sys/fs/cgroup/x","cgroup_id":77,"containers":["aa","bb"],"sandbox":"cc"}',
    ],
    ['rec_tracked(1); tracked_pids(2); tracked_container("abc"); tracked_init(5); tracked_sessions(1); tracked_mntns(4026531840U); tracked_cgroup_id(0); rec_end();', '{"t":"tracked","target":1,"pids":2,"container":"abc","init":5,"sessions":1,"mntns":4026531840,"cgroup_id":0}'],
  ],
  targets: [['rec_killed(3); killed_pids(0); killed_error("usage: kill"); rec_end();', '{"t":"killed","target":3,"pids":0,"error":"usage: kill"}']],
  tallies: [['rec_tallies(2); tallies_session(); tallies_counts_begin(); tallies_counts_item(true, "6:00000000000000ab", 4); tallies_counts_end(); rec_end();', '{"t":"tallies","target":2,"session":"exec","counts":{"6:00000000000000ab":4}}']],
  spool: [['rec_replay_begin(0); rec_end(); rec_replay_end(3); replay_end_records(10); rec_end();', '{"t":"replay-begin"}\n{"t":"replay-end","target":3,"records":10}']],
  loader: [['rec_error(); error_msg("x\\ty"); rec_end();', '{"t":"error","msg":"x\\u0009y"}']],
};

test('the emitters write the replies as the protocol has them', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emitters-'));
  try {
    for (const [emitter, cases] of Object.entries(REPLIES)) {
      const src = path.join(dir, `${emitter}.c`);
      const body = cases.map(([code]) => `${code}\n`).join('');
      fs.writeFileSync(src, `#define RECORDS_GEN_${emitter.toUpperCase()}\n#include "records.gen.h"\nint main(void)\n{\n${body}return 0;\n}\n`);
      const bin = path.join(dir, emitter);
      execFileSync('cc', ['-Wno-unused-function', `-I${BPF}`, '-o', bin, src, path.join(BPF, 'json.c')], { stdio: 'pipe' });
      assert.equal(execFileSync(bin, { encoding: 'utf8' }), cases.map(([, line]) => `${line}\n`).join(''), emitter);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
