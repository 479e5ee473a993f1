import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';

/**
 * mTLS to the Temporal frontend from TEMPORAL_TLS_CERT / _KEY / _CA (file paths, as the Helm chart
 * mounts them) and TEMPORAL_TLS_SERVER_NAME; undefined when none is set (plain connection).
 */
export function tlsFromEnv(): TLSConfig | undefined {
  const { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_SERVER_NAME: serverName } = process.env;
  if (!cert && !key && !ca && !serverName) return undefined;
  if (!!cert !== !!key) throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together');
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the Temporal TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return {
    ...(serverName ? { serverNameOverride: serverName } : {}),
    ...(ca ? { serverRootCACertificate: read('CA', ca) } : {}),
    ...(cert && key ? { clientCertPair: { crt: read('certificate', cert), key: read('key', key) } } : {}),
  };
}
