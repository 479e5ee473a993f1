import { ApiException } from '@kubernetes/client-node';
import { describeResource, type Permission } from './rbac.js';

/** One API call: what it does and to which object, for messages that name both. */
export interface Call {
  perm: Permission;
  namespace?: string;
  name?: string;
  /** The request body's size, for calls that send one (see `resetByLimit`). */
  bodyBytes?: number;
}

/** The API server's request body limit (kube-apiserver's MaxRequestBodyBytes); etcd's own (often 1.5 MiB) comes back as a "too large" error. */
export const REQUEST_LIMIT_BYTES = 3 * 1024 * 1024;

export type Reason = 'Forbidden' | 'NotFound' | 'AlreadyExists' | 'Conflict' | 'TooLarge' | 'Unauthorized' | 'Invalid' | 'Unreachable' | 'Transient' | 'Other';

/** An API call that failed, with a message naming the object and what to do about it. */
export class K8sError extends Error {
  constructor(
    message: string,
    readonly reason: Reason,
    readonly code?: number,
    /** The API server's own message, when it sent one. */
    readonly serverMessage?: string,
    /** How long the server asked us to wait (429 Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The Status object the API server sends with errors (body is a JSON string in client-node 1.x). */
interface Status {
  reason?: string;
  message?: string;
  code?: number;
}

function statusOf(body: unknown): Status {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as Status;
    } catch {
      return { message: body };
    }
  }
  return typeof body === 'object' && body !== null ? (body as Status) : {};
}

/** `get deployments "web" in namespace "shop"`. */
function describeCall(call: Call): string {
  const name = call.name === undefined ? '' : ` "${call.name}"`;
  const ns = call.namespace === undefined ? '' : ` in namespace "${call.namespace}"`;
  return `${call.perm.verb} ${call.perm.resource}${name}${ns}`;
}

/** `deployments "web" in namespace "shop"`. */
function describeObject(call: Call): string {
  const ns = call.namespace === undefined ? '' : ` in namespace "${call.namespace}"`;
  return `${call.perm.resource.split('/')[0]}${call.name === undefined ? '' : ` "${call.name}"`}${ns}`;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** The error's network code (node-fetch's FetchError carries it as `code`, sometimes on `cause`). */
function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  }
  if (err instanceof Error && /socket hang up/i.test(err.message)) return 'ECONNRESET';
  return undefined;
}

/**
 * The API server refused the object as too large: 413 from the API server, etcd's own limit
 * ("etcdserver: request is too large"), or the API server's etcd client refusing to send it (a 500
 * with gRPC ResourceExhausted: "trying to send message larger than max", seen with kube-apiserver
 * 1.34 for objects over 2 MiB). None of these changes by retrying.
 */
function tooLarge(code: number, status: Status): boolean {
  const m = status.message ?? '';
  return code === 413 || status.reason === 'RequestEntityTooLarge' || /too large|code = ResourceExhausted desc = trying to send message larger than max/i.test(m);
}

/**
 * The connection dropped while sending a body over the API server's limit: the API server answers
 * 413 as soon as the limit is read and closes the connection, so a client still writing the rest
 * sees a reset or a broken pipe instead of the answer. That is the refusal, not a network fault;
 * a reset on a smaller body is one.
 */
function resetByLimit(net: string, call: Call): boolean {
  return (net === 'ECONNRESET' || net === 'EPIPE') && (call.bodyBytes ?? 0) > REQUEST_LIMIT_BYTES;
}

/** Translates whatever a client-node call threw into a K8sError naming the call. */
export function translate(err: unknown, call: Call, server: string): K8sError {
  if (err instanceof K8sError) return err;
  const what = describeCall(call);
  if (err instanceof ApiException) {
    const code = err.code;
    const status = statusOf(err.body);
    const said = status.message;
    if (code === 401) {
      return new K8sError(`cannot ${what}: the API server at ${server} rejected the credentials (401 Unauthorized): the token or client certificate is missing, invalid or expired; refresh the kubeconfig`, 'Unauthorized', code, said);
    }
    if (code === 403) {
      const user = said?.match(/User "([^"]+)"/)?.[1];
      return new K8sError(`cannot ${what}: forbidden${user ? ` for user "${user}"` : ''} (needs RBAC verb "${call.perm.verb}" on ${describeResource(call.perm)})`, 'Forbidden', code, said);
    }
    if (code === 404) {
      // A read names the missing object; a write's 404 is about something else (its namespace, the CRD).
      const message = call.perm.verb === 'get' ? `${describeObject(call)} not found` : `cannot ${what}: ${said ?? 'not found'}`;
      return new K8sError(message, 'NotFound', code, said);
    }
    if (code === 409) {
      const reason = status.reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict';
      return new K8sError(`cannot ${what}: ${said ?? reason}`, reason, code, said);
    }
    if (tooLarge(code, status)) return new K8sError(`cannot ${what}: the object is too large for the API server (${said ?? code})`, 'TooLarge', code, said);
    if (code === 429 || code >= 500) {
      const after = Number(err.headers?.['retry-after']);
      return new K8sError(`cannot ${what}: the API server answered ${code}${said ? `: ${said}` : ''}`, 'Transient', code, said, after > 0 ? after * 1000 : undefined);
    }
    if (code === 400 || code === 422) return new K8sError(`cannot ${what}: invalid request: ${said ?? code}`, 'Invalid', code, said);
    return new K8sError(`cannot ${what}: the API server answered ${code}${said ? `: ${said}` : ''}`, 'Other', code, said);
  }
  const net = networkCode(err);
  if (net && resetByLimit(net, call)) {
    return new K8sError(`cannot ${what}: the object is too large for the API server (${call.bodyBytes} bytes, limit ${REQUEST_LIMIT_BYTES}: it closed the connection, ${net})`, 'TooLarge');
  }
  if (net) return new K8sError(`cannot ${what}: the API server at ${server} is unreachable (${net})`, 'Unreachable');
  return new K8sError(`cannot ${what}: ${(err as Error)?.message ?? String(err)}`, 'Other');
}

/** Whether trying again later can help: overload, server errors, dropped connections. */
export function isTransient(err: K8sError): boolean {
  return err.reason === 'Transient' || err.reason === 'Unreachable';
}
