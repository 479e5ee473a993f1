import type { ConnectionLike } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

/** The search attributes the workflow sets (Keyword each), named in workflows/search-attributes.ts. */
export { SEARCH_ATTRIBUTES };

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD */
const KEYWORD = 2;

/**
 * Makes sure the namespace knows our search attributes, registering the missing ones where the
 * server lets us (a dev server, an admin's credentials). Without them every workflow task fails
 * with BadSearchAttributes and a run hangs silently, so a namespace where they are missing and
 * cannot be registered is one clear error naming the fix. Returns the names it registered.
 */
export async function ensureSearchAttributes(connection: Pick<ConnectionLike, 'operatorService'>, namespace: string): Promise<string[]> {
  const known = async () => Object.keys((await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {});
  let have: string[];
  try {
    have = await known();
  } catch (err) {
    throw new Error(`cannot read the search attributes of Temporal namespace "${namespace}": ${(err as Error).message}`);
  }
  const missing = SEARCH_ATTRIBUTES.filter((a) => !have.includes(a));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((a) => [a, KEYWORD])) });
  } catch (err) {
    const create = `temporal operator search-attribute create --namespace ${namespace} ${missing.map((a) => `--name ${a} --type Keyword`).join(' ')}`;
    throw new Error(
      `Temporal namespace "${namespace}" has no search attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')} and they cannot be registered from here (${(err as Error).message.split('\n')[0]}): run \`${create}\` as an administrator, or start runs with "searchAttributes": false`,
    );
  }
  return missing;
}
