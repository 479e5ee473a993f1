import { FileStore } from './file-store.js';
import type { ObjectStore } from './store.js';

/** Opens the store a URL names: file:///dir (embedded default) or s3://bucket/prefix. */
export async function openStore(url: string): Promise<ObjectStore> {
  const scheme = url.slice(0, url.indexOf(':'));
  switch (scheme) {
    case 'file':
      return new FileStore(url);
    case 's3': {
      // Loaded on first use: the AWS SDK is large, and most runs use the embedded file store.
      const { S3Store } = await import('./s3-store.js');
      return new S3Store(url);
    }
    default:
      throw new Error(`unsupported object store URL "${url}" (use file:///path or s3://bucket/prefix)`);
  }
}
