import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Tests run from dist/test/audit; the corpus stays in the source tree. */
const CORPUS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/audit/corpus');

export function corpusFile(name: string): string {
  return resolve(CORPUS, name);
}

export function corpusLines(name: string): string[] {
  return readFileSync(corpusFile(name), 'latin1').split('\n').slice(0, -1);
}
