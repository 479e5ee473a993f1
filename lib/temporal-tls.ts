import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
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

/**
 * Why a TLS frontend refuses this client, when it does: the gRPC client only times out, so a
 * handshake of our own (with HTTP/2's preface, after which TLS 1.3 servers send their verdict on
 * the client certificate) finds the alert. Undefined when the handshake is accepted or says nothing.
 */
export function tlsRefusal(address: string, tls: TLSConfig, timeoutMs = 3000): Promise<string | undefined> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port: Number(address.slice(i + 1)),
      ALPNProtocols: ['h2'],
      ...(tls.serverNameOverride ? { servername: tls.serverNameOverride } : /^[\d.:]+$/.test(host) ? {} : { servername: host }),
      ...(tls.serverRootCACertificate ? { ca: Buffer.from(tls.serverRootCACertificate) } : {}),
      ...(tls.clientCertPair ? { cert: Buffer.from(tls.clientCertPair.crt), key: Buffer.from(tls.clientCertPair.key) } : {}),
    });
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    socket.once('data', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(describeTlsError(err)));
  });
}

function describeTlsError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return 'it requires a client certificate (set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY)';
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED':
      return `it refused this client's certificate (${err.code}: not issued by a CA it trusts, or not allowed)`;
    default:
      return `TLS failed: ${err.code ?? err.message}`;
  }
}
