import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** State directory: --home, VARMOR_MODELER_HOME, or ~/.varmor-modeler. */
export function stateHome(flag?: string): string {
  return resolve(flag ?? process.env.VARMOR_MODELER_HOME ?? join(homedir(), '.varmor-modeler'));
}

/** The embedded object store: a directory under the state home. */
export function defaultStoreUrl(home: string): string {
  return process.env.VARMOR_MODELER_STORE ?? pathToFileURL(join(home, 'store')).href;
}
