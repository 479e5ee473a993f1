import { createHash } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { checkKey, type ObjectStore } from './store.js';

// The pinned SDK version supports Node 20; its notice about future versions would only be noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Where an S3 store lives and how to reach it; see parseS3Url for where each field comes from. */
export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash; '' for the bucket's root. */
  prefix: string;
  /** A custom endpoint (MinIO, Ceph, SeaweedFS, a test server), or undefined for AWS. */
  endpoint?: string;
  /** Region, or undefined to take it from the SDK's own chain (AWS_REGION, the profile's config). */
  region?: string;
  pathStyle: boolean;
}

const QUERY_OPTIONS = new Set(['endpoint', 'region', 'pathStyle']);

/**
 * s3://bucket[/prefix][?endpoint=URL&region=NAME&pathStyle=true]. Options in the URL win over the
 * environment: VARMOR_MODELER_S3_ENDPOINT, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL;
 * VARMOR_MODELER_S3_REGION, then AWS_REGION, then AWS_DEFAULT_REGION; VARMOR_MODELER_S3_PATH_STYLE.
 */
export function parseS3Url(url: string, env: NodeJS.ProcessEnv = process.env): S3Location {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid S3 store URL "${url}" (use s3://bucket/prefix)`);
  }
  if (u.protocol !== 's3:' || !u.hostname || u.username || u.password || u.port) {
    throw new Error(`invalid S3 store URL "${url}" (use s3://bucket/prefix)`);
  }
  for (const name of u.searchParams.keys()) {
    if (!QUERY_OPTIONS.has(name)) throw new Error(`invalid S3 store URL "${url}": unknown option "${name}" (known: ${[...QUERY_OPTIONS].join(', ')})`);
  }
  const prefix = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
  if (prefix) {
    try {
      checkKey(prefix);
    } catch {
      throw new Error(`invalid S3 store URL "${url}": prefix "${prefix}" is not a plain slash-separated path`);
    }
  }
  const q = (name: string) => u.searchParams.get(name) || undefined;
  const e = (name: string) => env[name] || undefined;
  const endpoint = q('endpoint') ?? e('VARMOR_MODELER_S3_ENDPOINT') ?? e('AWS_ENDPOINT_URL_S3') ?? e('AWS_ENDPOINT_URL');
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
    throw new Error(`invalid S3 endpoint "${endpoint}" for ${url} (use http://host:port or https://host)`);
  }
  const pathStyleText = q('pathStyle') ?? e('VARMOR_MODELER_S3_PATH_STYLE') ?? 'false';
  if (!/^(true|false|1|0)$/i.test(pathStyleText)) throw new Error(`invalid S3 path-style setting "${pathStyleText}" for ${url} (use true or false)`);
  return {
    bucket: u.hostname,
    prefix,
    endpoint,
    region: q('region') ?? e('VARMOR_MODELER_S3_REGION') ?? e('AWS_REGION') ?? e('AWS_DEFAULT_REGION'),
    pathStyle: /^(true|1)$/i.test(pathStyleText),
  };
}

/** Network errors that mean the endpoint could not be reached at all. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE']);

/**
 * An S3 bucket (or a prefix in one) as an object store, through the AWS SDK: credentials from the
 * SDK's default chain (environment, AWS_PROFILE and ~/.aws files, SSO, web identity, instance or
 * container roles). A PutObject is atomic in S3; the same key again replaces the object.
 */
export class S3Store implements ObjectStore {
  readonly location: S3Location;
  readonly client: S3Client;
  /** The URL without its options, for messages. */
  private readonly name: string;
  /** Key prefix in the bucket, with a trailing slash, or '' */
  private readonly base: string;

  constructor(readonly url: string, env: NodeJS.ProcessEnv = process.env) {
    this.location = parseS3Url(url, env);
    const { bucket, prefix, endpoint, region, pathStyle } = this.location;
    this.name = `s3://${bucket}${prefix ? '/' + prefix : ''}`;
    this.base = prefix ? prefix + '/' : '';
    this.client = new S3Client({
      region: region ?? regionFromSdkChain(),
      endpoint,
      forcePathStyle: pathStyle,
      // The caller (the checkpoint loop) retries with its own backoff: keep the SDK's retries short.
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
      // Content-MD5 (set below) protects puts on every S3 implementation; the SDK's newer default
      // checksums are not understood by some S3-compatible servers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A bucket in another region than the configured one still works on AWS.
      followRegionRedirects: endpoint === undefined,
    });
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const k = this.base + checkKey(key);
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: this.location.bucket, Key: k, Body: body,
        ContentMD5: createHash('md5').update(body).digest('base64'),
      }));
    } catch (err) {
      throw this.explain(err, `put ${key}`);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const k = this.base + checkKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: k }));
      if (!res.Body) return new Uint8Array();
      return await res.Body.transformToByteArray();
    } catch (err) {
      if (errorName(err) === 'NoSuchKey') return undefined;
      throw this.explain(err, `get ${key}`);
    }
  }

  /** One DeleteObject (DeleteObjects needs a checksum header that not every S3-compatible server takes); S3 answers a missing key with success. */
  async delete(key: string): Promise<void> {
    const k = this.base + checkKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: k }));
    } catch (err) {
      if (errorName(err) === 'NoSuchKey') return;
      throw this.explain(err, `delete ${key}`);
    }
  }

  async list(prefix: string): Promise<string[]> {
    // Like a directory listing: everything under prefix/ (a sibling such as "a/bc" is not under "a/b").
    const dir = prefix.replace(/\/+$/, '');
    const s3Prefix = this.base + (dir ? dir + '/' : '');
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: s3Prefix, ContinuationToken: token }));
        for (const o of res.Contents ?? []) if (o.Key !== undefined && o.Key.length > this.base.length) keys.push(o.Key.slice(this.base.length));
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.explain(err, `list ${prefix || '(all)'}`);
    }
    return keys.sort();
  }

  /** One clear line: which store or endpoint, what went wrong, and the service's own words. */
  private explain(err: unknown, op: string): Error {
    const e = err as { name?: string; message?: string; code?: string; errors?: { code?: string }[]; $metadata?: { httpStatusCode?: number } };
    const name = errorName(err);
    const status = e.$metadata?.httpStatusCode;
    const code = e.code ?? e.errors?.find((x) => x.code)?.code;
    const detail = e.message && e.message !== name ? `${name}: ${e.message}` : String(name ?? err);
    const via = this.location.endpoint ? ` via ${this.location.endpoint}` : '';
    let msg: string;
    if (code && UNREACHABLE.has(code) || name === 'TimeoutError') {
      return new Error(`s3 endpoint ${this.location.endpoint ?? 'of AWS S3'} unreachable: ${code ?? name} [${op} in ${this.name}]`, { cause: err });
    } else if (name === 'NoSuchBucket') {
      msg = `${this.name}: bucket does not exist`;
    } else if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'InvalidToken' ||
      name === 'ExpiredToken' || status === 403) {
      msg = `${this.name}: access denied (${detail})`;
    } else if (name === 'CredentialsProviderError') {
      msg = `${this.name}: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE): ${e.message}`;
    } else {
      msg = `${this.name}: ${detail}${status ? ` (HTTP ${status})` : ''}`;
    }
    return new Error(`${msg} [${op}${via}]`, { cause: err });
  }
}

function errorName(err: unknown): string | undefined {
  return (err as { name?: string } | undefined)?.name;
}

/**
 * The SDK's own region chain (AWS_REGION, the profile's region in ~/.aws/config), falling back to
 * us-east-1 when none is configured: a custom endpoint rarely cares, and AWS redirects to the
 * bucket's region.
 */
function regionFromSdkChain(): () => Promise<string> {
  let region: Promise<string> | undefined;
  return () => (region ??= new S3Client({}).config.region().catch(() => 'us-east-1'));
}
