/**
 * Sealed objects: what collectors write and the merge trusts (batches). Whoever can write to the
 * bucket must not be able to widen a profile, so each object carries a MAC over its key and body
 * under the keyring's signing key: a forged object fails, and so does a genuine one copied to
 * another run, node or sequence number.
 *
 *   VMSEAL1 <key id> <base64url HMAC-SHA256>\n<body>
 */
const MAGIC = 'VMSEAL1';
const MAX_HEADER = 128;

/** The keys objects are sealed under, as the store needs them (lib/keyring.ts holds them). */
export interface SealingKeys {
  /** Where the keys are, for messages. */
  readonly dir: string;
  /** The id of the key new objects are sealed under. */
  readonly primary: string;
  mac(purpose: 'object', parts: readonly (string | Uint8Array)[], id: string): Uint8Array;
  verify(purpose: 'object', parts: readonly (string | Uint8Array)[], id: string, tag: Uint8Array): 'ok' | 'unknown-key' | 'bad-mac';
}

export class IntegrityError extends Error {
  constructor(
    readonly key: string,
    readonly reason: 'unsealed' | 'unknown-key' | 'bad-mac',
    detail: string,
  ) {
    super(`${key}: ${detail}`);
  }
}

export function seal(keyring: SealingKeys, key: string, body: Uint8Array): Uint8Array {
  const id = keyring.primary;
  const tag = Buffer.from(keyring.mac('object', [key, body], id)).toString('base64url');
  const header = Buffer.from(`${MAGIC} ${id} ${tag}\n`, 'latin1');
  return Buffer.concat([header, body]);
}

/** The body of a sealed object, verified; IntegrityError when it is not one this keyring sealed for `key`. */
export function unseal(keyring: SealingKeys, key: string, sealed: Uint8Array): Uint8Array {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const nl = buf.subarray(0, MAX_HEADER).indexOf(0x0a);
  const header = nl > 0 ? buf.subarray(0, nl).toString('latin1').split(' ') : [];
  if (header.length !== 3 || header[0] !== MAGIC || !/^[A-Za-z0-9_-]+$/.test(header[2]!)) {
    throw new IntegrityError(key, 'unsealed', 'not a sealed object (no authenticator): not written by a collector holding our key');
  }
  const [, id, tag] = header as [string, string, string];
  const body = buf.subarray(nl + 1);
  const verdict = keyring.verify('object', [key, body], id, Buffer.from(tag, 'base64url'));
  if (verdict === 'unknown-key') throw new IntegrityError(key, verdict, `sealed with key "${id}", which is not in the keyring ${keyring.dir}`);
  if (verdict === 'bad-mac') throw new IntegrityError(key, verdict, 'authenticator does not match (altered, forged, or copied from another key)');
  return body;
}
