import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

/**
 * A small Kubernetes API server for tests: real HTTP on 127.0.0.1, the real REST paths and JSON
 * shapes (lists with resourceVersion, Status errors, optimistic concurrency, the status
 * subresource, label selectors), optional bearer-token auth, and injectable faults.
 */

export type K8sObject = { apiVersion?: string; kind?: string; metadata: Meta; [field: string]: unknown };
interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  [field: string]: unknown;
}

export interface Fault {
  method?: string;
  /** Matches the request path (without the query). */
  path: RegExp;
  /** HTTP status of the Status answer; or 'reset' to drop the connection. */
  code: number | 'reset';
  reason?: string;
  message?: string;
  /** How many requests it hits; default 1. */
  times?: number;
}

export interface Request {
  method: string;
  path: string;
  query: URLSearchParams;
}

const KINDS: Record<string, string> = {
  pods: 'Pod',
  deployments: 'Deployment',
  replicasets: 'ReplicaSet',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
  jobs: 'Job',
  cronjobs: 'CronJob',
  armorprofilemodels: 'ArmorProfileModel',
  customresourcedefinitions: 'CustomResourceDefinition',
};

/** /api/v1/... or /apis/GROUP/VERSION/..., then [namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]. */
const PATH = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/;

export class FakeApiServer {
  url = '';
  /** Every request, in order. */
  readonly requests: Request[] = [];
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Bodies larger than this get 413, as the real API server's request limit. */
  maxBodyBytes = 3 * 1024 * 1024;
  private readonly objects = new Map<string, K8sObject>();
  private readonly faults: Fault[] = [];
  private revision = 1000;
  private server?: Server;

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Stores objects as if created: apiVersion and kind decide where they live. */
  add(...objects: K8sObject[]): this {
    for (const o of objects) {
      const { group, version } = splitApiVersion(o.apiVersion ?? 'v1');
      const resource = Object.keys(KINDS).find((r) => KINDS[r] === o.kind);
      if (!resource) throw new Error(`fake API server: unknown kind ${o.kind}`);
      this.put(key(group, version, resource, o.metadata.namespace, o.metadata.name), structuredClone(o));
    }
    return this;
  }

  get(group: string, version: string, resource: string, namespace: string | undefined, name: string): K8sObject | undefined {
    return this.objects.get(key(group, version, resource, namespace, name));
  }

  /** The next matching requests fail as described. */
  fail(fault: Fault): this {
    this.faults.push({ times: 1, ...fault });
    return this;
  }

  /** A kubeconfig pointing at this server, written into dir. */
  async kubeconfig(dir: string, opts: { token?: string; context?: string } = {}): Promise<string> {
    const context = opts.context ?? 'fake';
    const file = join(dir, `kubeconfig-${context}`);
    const user = opts.token ? `token: ${opts.token}` : 'username: test';
    await writeFile(
      file,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true\n` +
        `users:\n- name: fake\n  user:\n    ${user}\n` +
        `contexts:\n- name: ${context}\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: ${context}\n`,
    );
    return file;
  }

  private put(k: string, o: K8sObject): K8sObject {
    o.metadata.uid ??= randomUUID();
    o.metadata.creationTimestamp ??= new Date().toISOString();
    o.metadata.resourceVersion = String(++this.revision);
    this.objects.set(k, o);
    return o;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: url.searchParams });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);

    const fault = this.faults.find((f) => f.path.test(url.pathname) && (!f.method || f.method === method) && (f.times ?? 1) > 0);
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.code === 'reset') return void req.socket.destroy();
      return status(res, fault.code, fault.reason ?? 'InternalError', fault.message ?? `injected ${fault.code}`);
    }
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      return status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    if (raw.length > this.maxBodyBytes) return status(res, 413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');

    const m = PATH.exec(url.pathname);
    if (!m) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const [, coreVersion, g, v, namespace, resource = '', name, sub] = m;
    const group = coreVersion ? '' : g!;
    const version = coreVersion ?? v!;
    const crd = group === 'crd.varmor.org' ? this.get('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', undefined, `${resource}.${group}`) : undefined;
    if (group === 'crd.varmor.org' && !crd) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const statusSubresource = !!(crd?.spec as { versions?: { name: string; subresources?: { status?: object } }[] } | undefined)?.versions?.find((x) => x.name === version)?.subresources?.status;
    const k = (n: string) => key(group, version, resource, namespace, n);
    const notFound = (n: string) => status(res, 404, 'NotFound', `${resource}${group ? '.' + group : ''} "${n}" not found`, { name: n, kind: resource });
    const body = raw.length ? (JSON.parse(raw.toString('utf8')) as K8sObject) : undefined;

    if (method === 'GET' && !name) {
      const prefix = key(group, version, resource, namespace, '');
      const selector = url.searchParams.get('labelSelector');
      const items = [...this.objects].filter(([kk]) => kk.startsWith(prefix)).map(([, o]) => o).filter((o) => !selector || matches(selector, o.metadata.labels ?? {}));
      const apiVersion = group ? `${group}/${version}` : version;
      return json(res, 200, { apiVersion, kind: `${KINDS[resource] ?? 'Unknown'}List`, metadata: { resourceVersion: String(this.revision) }, items });
    }
    if (method === 'GET') {
      const o = this.objects.get(k(name!));
      return o ? json(res, 200, o) : notFound(name!);
    }
    if (method === 'POST' && !name && body) {
      const n = body.metadata?.name;
      if (this.objects.has(k(n))) return status(res, 409, 'AlreadyExists', `${resource}.${group} "${n}" already exists`, { name: n, kind: resource });
      if (statusSubresource) delete body.status;
      return json(res, 201, this.put(k(n), { ...body, metadata: { ...body.metadata, namespace } }));
    }
    if (method === 'PUT' && name && body) {
      const current = this.objects.get(k(name));
      if (!current) return notFound(name);
      if (!body.metadata?.resourceVersion) return status(res, 422, 'Invalid', `${resource}.${group} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`);
      if (body.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return status(res, 409, 'Conflict', `Operation cannot be fulfilled on ${resource}.${group} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      const next: K8sObject =
        sub === 'status'
          ? { ...current, status: body.status }
          : { ...body, metadata: { ...body.metadata, uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp }, ...(statusSubresource ? { status: current.status } : {}) };
      if (next.status === undefined) delete next.status;
      return json(res, 200, this.put(k(name), next));
    }
    return status(res, 405, 'MethodNotAllowed', `${method} is not supported by the fake API server`);
  }
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

function key(group: string, version: string, resource: string, namespace: string | undefined, name: string): string {
  return `${group}/${version}/${resource}/${namespace ?? ''}/${name}`;
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function status(res: ServerResponse, code: number, reason: string, message: string, details?: object): void {
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) });
}

/** Label selectors as the API server reads them: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. */
export function matches(selector: string, labels: Record<string, string>): boolean {
  const requirements = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  return requirements.every((r) => {
    const req = r.trim();
    let m;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req))) {
      const values = m[3]!.split(',').map((s) => s.trim());
      const has = m[1]! in labels && values.includes(labels[m[1]!]!);
      return m[2] === 'in' ? has : !has;
    }
    if ((m = /^(\S+?)\s*(!=|==|=)\s*(\S*)$/.exec(req))) return m[2] === '!=' ? labels[m[1]!] !== m[3] : labels[m[1]!] === m[3];
    if (req.startsWith('!')) return !(req.slice(1) in labels);
    return req in labels;
  });
}
