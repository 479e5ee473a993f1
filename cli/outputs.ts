import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore } from '../store/open.js';

/** Copies a run's outputs from the object store into a directory; returns the written paths. */
export async function fetchOutputs(storeUrl: string, outputs: Record<string, string>, dir: string): Promise<Record<string, string>> {
  const store = await openStore(storeUrl);
  await mkdir(dir, { recursive: true });
  const written: Record<string, string> = {};
  for (const [name, key] of Object.entries(outputs)) {
    const body = await store.get(key);
    if (!body) throw new Error(`output ${name} is missing from the store (${key})`);
    const path = join(dir, name);
    await writeFile(path, body);
    written[name] = path;
  }
  return written;
}
