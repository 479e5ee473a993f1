import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { appArmorProfile, quotePattern } from '../../core/apparmor.js';
import { generalise } from '../../core/generalise.js';
import { pathToBytes } from '../../core/paths.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';
import { haveParser, parse } from './apparmor-parser.js';

const it = (perms: string[] = [], extra: Partial<Item> = {}): Item => ({ first: 1_700_000_000_000, last: 1_700_000_000_000, n: { r: 2 }, sets: { perms }, ...extra });
const skip = haveParser ? false : 'apparmor_parser is not installed';

function compiles(text: string): void {
  const r = parse(text);
  assert.equal(r.status, 0, `apparmor_parser rejected the profile:\n${r.err}\n${text}`);
}

/** How `apparmor_parser -d` prints a literal path: backslash, and glob characters escaped, other bytes raw. */
function debugName(modelPath: string): string {
  return [...pathToBytes(modelPath)].map((b) => ('\\*?[]{}'.includes(String.fromCharCode(b)) ? '\\' : '') + String.fromCharCode(b)).join('');
}

const HOSTILE = [
  '/x" r,\n  capability sys_admin,\n  "/y',
  '/a}\n}\nprofile evil flags=(unconfined) {',
  '/b, /c rwx',
  '/c#include <abstractions/evil>',
  '/d^hat',
  '/e*?[]{}',
  '/f\\\\g',
  '/h\\xff\\xfe',
  '/i\nj',
  '/café',
  '/k @{HOME}',
  '/l\ttab',
  '/m\\\\"',
  '/n\\x80x',
];

test('vArmor layout: abi, tunables, flags, base abstraction, ix, owner, letters', () => {
  const set: BehaviorSet = {
    executions: { '/bin/sh': it() },
    files: { '/etc/passwd': it(['read']), '/tmp/*': it(['write', 'append', 'create'], { owner: true }), '/data/log': it(['append']) },
    capabilities: { net_bind_service: it([], { sets: { verdict: ['granted'] } }), sys_admin: it([], { sets: { verdict: ['denied'] } }) },
    sockets: { 'inet/stream/tcp': it(), 'AF_UNIX/SOCK_DGRAM/0': it(), '10/2/17': it() },
  };
  const p = appArmorProfile(set, { name: 'varmor-ns-app' });
  const lines = p.text.split('\n');
  assert.deepEqual(lines.slice(1, 6), ['abi <abi/3.0>,', '#include <tunables/global>', '', 'profile varmor-ns-app flags=(attach_disconnected,mediate_deleted) {', '  #include <abstractions/base>']);
  for (const rule of [
    '"/bin/sh" ix,',
    '"/etc/passwd" r,',
    'owner "/tmp/*" w,',
    '"/data/log" a,',
    'capability net_bind_service,',
    'network inet stream,',
    'network unix dgram,',
    'network inet6 dgram,',
    'ptrace (read, readby) peer=varmor-ns-app,',
    'signal (send, receive) peer=varmor-ns-app,',
  ]) {
    assert.ok(lines.includes('  ' + rule), rule);
  }
  assert.ok(!p.text.includes('capability sys_admin'), 'a denied capability is not granted');
  assert.ok(!/^\s*network,$/m.test(p.text) && !/^\s*umount,$/m.test(p.text), 'no blanket network or umount');
  assert.deepEqual(p.rules.find((r) => r.text === '"/etc/passwd" r,')!.evidence[0]!.first, '2023-11-14T22:13:20.000Z');
});

test('complain mode, mount and umount rules for what was observed', { skip }, () => {
  const set: BehaviorSet = {
    mounts: {
      '/mnt/data|tmpfs': it([], { sets: { ops: ['mount', 'umount'] } }),
      '/mnt/x"y|fuse.sshfs': it([], { sets: { ops: ['mount'] } }),
      '/mnt/new|tmpfs': it([], { sets: { ops: ['move_mount'], flags: ['move', 'nosuid'] } }),
      '/srv/src|': it([], { sets: { ops: ['open_tree'], flags: ['bind'] } }),
    },
  };
  const p = appArmorProfile(set, { name: 'p', mode: 'complain' });
  assert.match(p.text, /flags=\(attach_disconnected,mediate_deleted,complain\)/);
  assert.match(p.text, /^ {2}mount fstype=tmpfs -> "\/mnt\/data",$/m);
  assert.match(p.text, /^ {2}umount "\/mnt\/data",$/m);
  assert.match(p.text, /^ {2}mount fstype=fuse.sshfs -> "\/mnt\/x\\042y",$/m);
  // move_mount is mediated as a move without a type; an open_tree clone alone needs no rule
  assert.match(p.text, /^ {2}mount options=\(move\) -> "\/mnt\/new",$/m);
  assert.doesNotMatch(p.text, /fstype=tmpfs -> "\/mnt\/new"|\/srv\/src/);
  compiles(p.text);
});

test('hostile file names cannot inject rules: the profile compiles and holds each name as one literal rule', { skip }, () => {
  const files = Object.fromEntries(HOSTILE.map((h) => [h, it(['read'])]));
  const executions = Object.fromEntries(HOSTILE.map((h) => [h + '-exe', it()]));
  const { set } = generalise({ files, executions, capabilities: { chown: it() } });
  const p = appArmorProfile(set, { name: 'hostile' });
  const r = parse(p.text, true);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^Capabilities: chown\s*$/m, 'no capability beyond the observed one');
  assert.equal(r.out.match(/^Name:\t\t/gm)?.length, 1, 'one profile, nothing injected');
  assert.doesNotMatch(r.out, /^Network:/m, 'no network rule injected');
  for (const h of HOSTILE) {
    const bytes = Buffer.from(debugName(h), 'latin1').toString('latin1');
    assert.ok(r.out.includes(`Mode:\tr:r\tName:\t(${bytes})`), `read rule for ${JSON.stringify(h)}`);
  }
});

test('names that are no absolute paths are skipped, not emitted', () => {
  const p = appArmorProfile({ files: { 'pipe:[1234]': it(['read']), 'anon_inode:[eventfd]': it(['write']) }, sockets: { 'weird/stream/0': it() } }, { name: 'p' });
  assert.deepEqual(p.skipped.map((s) => s.key), ['anon_inode:[eventfd]', 'pipe:[1234]', 'weird/stream/0']);
  assert.equal(quotePattern('relative/x'), undefined);
});

test('profile names that could inject are refused', () => {
  assert.throws(() => appArmorProfile({}, { name: 'x { capability, }' }), RangeError);
});

test('property: any generated set of paths, generalised or not, compiles', { skip }, () => {
  const char = fc.constantFrom('a', '/', '"', '\\\\', '\\x9f', '\n', '}', ',', '#', '*', '?', '[', '{', ' ', '^', '@', '1', 'é');
  const path = fc.array(char, { maxLength: 12 }).map((cs) => '/' + cs.join(''));
  fc.assert(
    fc.property(fc.dictionary(path, fc.subarray(['read', 'write', 'append', 'mmap', 'lock', 'link'])), fc.boolean(), (entries, gen) => {
      const raw: BehaviorSet = { files: Object.fromEntries(Object.entries(entries).map(([k, perms]) => [k, it(perms)])) };
      const set = gen ? generalise(raw).set : { files: Object.fromEntries(Object.entries(raw.files!).map(([k, v]) => [k.replace(/[*?[\]{}]/g, '\\$&'), v])) };
      const r = parse(appArmorProfile(set, { name: 'prop' }).text);
      return r.status === 0 || assert.fail(r.err);
    }),
    { numRuns: 40 },
  );
});
