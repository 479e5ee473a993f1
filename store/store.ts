/** Object storage as the modeler uses it: whole objects by key, atomic puts, prefix listing. */
export interface ObjectStore {
  /** The store's URL, e.g. file:///var/lib/varmor-modeler/store or s3://bucket/prefix. */
  readonly url: string;
  /** Writes the whole object atomically; writing the same key again replaces it. */
  put(key: string, body: Uint8Array): Promise<void>;
  /** The object, or undefined when there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Keys under the prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Removes the object; a key that is not there is no error. */
  delete(key: string): Promise<void>;
}

/** Keys are relative slash-separated paths of safe components; anything else is a bug upstream. */
export function checkKey(key: string): string {
  if (!/^[A-Za-z0-9._=-]+(\/[A-Za-z0-9._=-]+)*$/.test(key) || key.split('/').some((c) => c === '.' || c === '..')) {
    throw new Error(`invalid object key "${key}"`);
  }
  return key;
}
