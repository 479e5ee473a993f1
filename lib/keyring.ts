import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The keys that authenticate what crosses the object store (sealed batches) and what the
 * controller hands to node agents (grants). A directory of files, one key each, its name the key's
 * ID: a Kubernetes Secret mounted as a volume (the chart), or <home>/keys (record, dev). The key
 * whose ID sorts last signs; every key present verifies, so a key is rotated by adding one with a
 * later ID and removing the old one once no running window wrote with it.
 */
export class Keyring {
  private keys = new Map<string, Buffer>();
  private primaryId = '';
  private loadedAt = 0;

  private constructor(readonly dir: string) {
    this.reload();
  }

  /** The keyring in `dir`; fails when it holds no usable key. */
  static open(dir: string): Keyring {
    return new Keyring(dir);
  }

  /** The state home's keyring, made with one fresh key when absent (record and dev on one machine). */
  static atHome(home: string): Keyring {
    const dir = join(home, 'keys');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!readdirSync(dir).some(isKeyName)) {
      writeFileSync(join(dir, keyIdNow()), randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    }
    return new Keyring(dir);
  }

  /** VARMOR_MODELER_KEYS names the directory (the chart mounts its Secret there); else the state home's. */
  static fromEnv(home: string, env: NodeJS.ProcessEnv = process.env): Keyring {
    return env.VARMOR_MODELER_KEYS ? Keyring.open(env.VARMOR_MODELER_KEYS) : Keyring.atHome(home);
  }

  /** The signing key's ID. */
  get primary(): string {
    this.refresh();
    return this.primaryId;
  }

  /** HMAC-SHA256 of the parts under the key `id` (default: the signing key), for one purpose. */
  mac(purpose: Purpose, parts: readonly (string | Uint8Array)[], id = this.primary): Buffer {
    const key = this.keys.get(id);
    if (!key) throw new Error(`no key "${id}" in ${this.dir}`);
    const h = createHmac('sha256', createHmac('sha256', key).update(`varmor-modeler/${purpose}`).digest());
    // Each part is length-prefixed: no two different part lists give the same input.
    for (const p of parts) {
      const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      const len = Buffer.alloc(8);
      len.writeBigUInt64BE(BigInt(bytes.length));
      h.update(len).update(bytes);
    }
    return h.digest();
  }

  /** Whether `tag` is the MAC of the parts under key `id`; an unknown ID re-reads the directory once (a key just added). */
  verify(purpose: Purpose, parts: readonly (string | Uint8Array)[], id: string, tag: Uint8Array): 'ok' | 'unknown-key' | 'bad-mac' {
    this.refresh();
    if (!this.keys.has(id)) this.reload();
    if (!this.keys.has(id)) return 'unknown-key';
    const want = this.mac(purpose, parts, id);
    return tag.length === want.length && timingSafeEqual(want, tag) ? 'ok' : 'bad-mac';
  }

  /** Key files are re-read every few seconds: a rotated Secret reaches a running pod without a restart. */
  private refresh(): void {
    if (Date.now() - this.loadedAt > RELOAD_MS) this.reload();
  }

  private reload(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter(isKeyName).sort();
    } catch (err) {
      throw new Error(`cannot read the key directory ${this.dir} (VARMOR_MODELER_KEYS): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const keys = new Map<string, Buffer>();
    for (const name of names) {
      const key = readFileSync(join(this.dir, name));
      const material = key.subarray(0, key.length - trailingSpace(key));
      if (material.length < MIN_KEY_BYTES) throw new Error(`key ${name} in ${this.dir} is too short: at least ${MIN_KEY_BYTES} bytes (e.g. openssl rand -base64 32)`);
      keys.set(name, material);
    }
    if (keys.size === 0) throw new Error(`no key in ${this.dir} (VARMOR_MODELER_KEYS): add a file named for its ID holding at least ${MIN_KEY_BYTES} random bytes`);
    this.keys = keys;
    this.primaryId = names[names.length - 1]!;
    this.loadedAt = Date.now();
  }
}

/** What a MAC authenticates: each purpose has its own derived key. */
export type Purpose = 'object' | 'grant';

const RELOAD_MS = 10_000;
const MIN_KEY_BYTES = 32;

/** Key IDs: the file names of a Secret's keys (its volume's `..data` links and dot files are not keys). */
export function isKeyName(name: string): boolean {
  return /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}$/.test(name);
}

/** A key ID that sorts after today's: the UTC date and time. */
function keyIdNow(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function trailingSpace(b: Buffer): number {
  let n = 0;
  while (n < b.length && (b[b.length - 1 - n] === 0x0a || b[b.length - 1 - n] === 0x0d || b[b.length - 1 - n] === 0x20)) n++;
  return n;
}
