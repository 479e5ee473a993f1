// Helpers the tracer benchmarks share: command-line options, the repository root, medians, progress.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');

const argv = process.argv.slice(2);
/** `--name VALUE`, as a number when the default is one. */
export const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? def : typeof def === 'number' ? Number(argv[i + 1]) : argv[i + 1];
};
export const flag = (name) => argv.includes(`--${name}`);

export const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
