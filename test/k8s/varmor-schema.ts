/**
 * vArmor's published ArmorProfileModel CRD (the chart ships it: charts/varmor-modeler/files/) and a
 * check of an object against its structural schema as the API server applies it: a wrong type or
 * a missing required field is a 422, an undeclared field is pruned (data lost without an error).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PACKAGE_ROOT } from '../../lib/package.js';

export const VARMOR_CRD_FILE = join(PACKAGE_ROOT, 'charts', 'varmor-modeler', 'files', 'varmor-crd-armorprofilemodels.yaml');

export interface OpenApi {
  type?: string;
  format?: string;
  properties?: Record<string, OpenApi>;
  items?: OpenApi;
  required?: string[];
  additionalProperties?: OpenApi | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the CRD is untyped YAML */
export const varmorCrd: any = parseAllDocuments(readFileSync(VARMOR_CRD_FILE, 'utf8'))
  .map((d) => d.toJS())
  .find(Boolean);
export const varmorSchema: OpenApi = varmorCrd.spec.versions.find((v: any) => v.name === 'v1beta1').schema.openAPIV3Schema;
/* eslint-enable @typescript-eslint/no-explicit-any */

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Every way obj breaks the schema, one line each (`path: problem`); empty when the API server takes it as is. */
export function schemaErrors(schema: OpenApi, obj: unknown, path = ''): string[] {
  const at = path || '<root>';
  if (schema.type) {
    const t = typeOf(obj);
    if (!(t === schema.type || (schema.type === 'number' && t === 'integer'))) return [`${at}: ${t} where the schema has ${schema.type}`];
  }
  if (schema.format === 'int32' && typeof obj === 'number' && Math.abs(obj) > 2 ** 31) return [`${at}: ${obj} out of int32`];
  if (schema['x-kubernetes-preserve-unknown-fields']) return [];
  const out: string[] = [];
  if (Array.isArray(obj)) {
    obj.forEach((item, i) => out.push(...(schema.items ? schemaErrors(schema.items, item, `${path}[${i}]`) : [])));
    return out;
  }
  if (obj === null || typeof obj !== 'object') return out;
  for (const r of schema.required ?? []) if (!(r in obj)) out.push(`${path ? path + '.' : ''}${r}: required, missing`);
  if (path === 'metadata' || (path === '' && !schema.properties)) return out;
  for (const [key, value] of Object.entries(obj)) {
    const sub = schema.properties?.[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    const p = path ? `${path}.${key}` : key;
    if (sub) out.push(...schemaErrors(sub, value, p));
    else if (schema.additionalProperties !== true && !(path === '' && ['apiVersion', 'kind'].includes(key))) out.push(`${p}: not in the schema (the API server prunes it)`);
  }
  return out;
}
