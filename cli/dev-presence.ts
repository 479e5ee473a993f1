import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive } from '../embedded/temporal-server.js';

/**
 * A running `varmor-modeler dev` announces itself in its state home, so that `record` runs its
 * command through the dev's workers (already connected, their tracer loaded) instead of starting
 * a server and workers of its own. The command is launched by the dev's tracer: in the dev's
 * working directory, which is why record needs to know it.
 */
export interface DevPresence {
  pid: number;
  /** The node whose queue the dev's workers serve. */
  node: string;
  /** The dev's working directory: a command it launches runs there. */
  cwd: string;
}

const file = (home: string) => join(home, 'dev.json');

/** Writes the announcement; the returned function takes it back. */
export async function announceDev(home: string, presence: DevPresence): Promise<() => Promise<void>> {
  await writeFile(file(home), JSON.stringify(presence) + '\n');
  return () => rm(file(home), { force: true });
}

/** The dev announced in this home, if its process is alive. */
export async function runningDev(home: string): Promise<DevPresence | undefined> {
  let presence: Partial<Record<keyof DevPresence, unknown>>;
  try {
    presence = JSON.parse(await readFile(file(home), 'utf8')) as typeof presence;
  } catch {
    return undefined;
  }
  // Anyone who can write the home can write this file: only a well-formed, live announcement counts.
  const { pid, node, cwd } = presence ?? {};
  if (!Number.isInteger(pid) || (pid as number) <= 0 || typeof node !== 'string' || typeof cwd !== 'string' || !cwd.startsWith('/')) return undefined;
  return isAlive(pid as number) ? { pid: pid as number, node, cwd } : undefined;
}
