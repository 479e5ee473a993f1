// What the CLI benchmarks share: their options, progress, medians, and the tree of an earlier
// revision to run beside this one.
import { execFileSync, execSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This checkout. */
export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const argv = process.argv.slice(2);
/** The value after --NAME on the command line, else `def`. */
export const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? def : argv[i + 1];
};

/** Progress on stderr, with the time of day. */
export const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The load averages (1, 5, 15 min), for the tables' headers. */
export const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** REV built in `work`/before (git archive, this tree's node_modules linked): a tree to run beside this one. */
export function buildBefore(rev, work) {
  const root = join(work, 'before');
  log(`building ${rev} in ${root}`);
  execSync(`mkdir -p ${root} && git -C ${repo} archive ${rev} | tar -x -C ${root}`);
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return { name: `before (${rev})`, root };
}
