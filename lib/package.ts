import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where package.json, bpf/build and .tools live), from this compiled file's place in dist/. */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
