import { FileStore } from './file-store.js';
import type { ObjectStore } from './store.js';

/** Opens the store a URL names: file:///dir (embedded default) or s3://bucket/prefix. */
export async function openStore(url: string): Promise<ObjectStore> {
  const scheme = url.slice(0, url.indexOf(':'));
  switch (scheme) {
    case 'file':
      return new FileStore(url);
    default:
      throw new Error(`unsupported object store URL "${url}" (use file:///path or s3://bucket/prefix)`);
  }
}
