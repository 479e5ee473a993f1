import type { Kube } from './client.js';
import { K8sError } from './errors.js';
import { CALLS } from './rbac.js';

export const MODEL_GROUP = 'crd.varmor.org';
export const MODEL_VERSION = 'v1beta1';
export const MODEL_PLURAL = 'armorprofilemodels';
export const CRD_NAME = `${MODEL_PLURAL}.${MODEL_GROUP}`;
/** The label our chart puts on the CRD it installs; a CRD without it is vArmor's (or someone else's). */
export const OWNER_LABEL = 'app.kubernetes.io/part-of';
export const OWNER_VALUE = 'varmor-modeler';

/**
 * An OpenAPI v3 schema node. client-node's typed deserializer renames the extension key inside
 * `properties` (to x_kubernetes_preserve_unknown_fields) but leaves `items` and
 * `additionalProperties` as sent, so both spellings occur in one schema.
 */
export interface Schema {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  x_kubernetes_preserve_unknown_fields?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export interface CrdInfo {
  /** Installed by our chart; false: vArmor's, which we reuse as it is. */
  ours: boolean;
  /** Whether status is written through the /status subresource (vArmor's and ours: yes). */
  statusSubresource: boolean;
  /** The v1beta1 schema; the API server prunes fields it does not declare. */
  schema?: Schema;
}

/**
 * The installed ArmorProfileModel CRD. Whoever installed it (vArmor or our chart), we write into it
 * as it is and never modify it: vArmor owns its CRD.
 */
export async function detectCrd(kube: Kube): Promise<CrdInfo> {
  let crd;
  try {
    crd = await kube.call({ perm: CALLS.getCrd, name: CRD_NAME }, () => kube.ext.readCustomResourceDefinition({ name: CRD_NAME }));
  } catch (err) {
    if (err instanceof K8sError && err.reason === 'NotFound') {
      throw new K8sError(
        `the ArmorProfileModel CRD (${CRD_NAME}) is not installed: install vArmor, or the varmor-modeler chart with crd.install=auto (the default)`,
        'NotFound',
        404,
      );
    }
    throw err;
  }
  const version = crd.spec.versions.find((v) => v.name === MODEL_VERSION);
  if (!version?.served) {
    throw new K8sError(`the ArmorProfileModel CRD (${CRD_NAME}) does not serve ${MODEL_GROUP}/${MODEL_VERSION}`, 'Invalid');
  }
  return {
    ours: crd.metadata?.labels?.[OWNER_LABEL] === OWNER_VALUE,
    statusSubresource: version.subresources?.status !== undefined,
    schema: version.schema?.openAPIV3Schema as Schema | undefined,
  };
}

/**
 * Fields of obj the API server would drop because the schema does not declare them, as paths
 * (`data.dynamicResult.bpf`). Metadata is never pruned.
 */
export function prunedFields(schema: Schema | undefined, obj: unknown, path = ''): string[] {
  if (!schema || preserves(schema) || obj === null || typeof obj !== 'object') return [];
  if (Array.isArray(obj)) {
    const seen = new Set<string>();
    for (const item of obj) for (const f of prunedFields(schema.items, item, `${path}[]`)) seen.add(f);
    return [...seen];
  }
  const out: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    const at = path ? `${path}.${key}` : key;
    if (path === '' && ['apiVersion', 'kind', 'metadata'].includes(key)) continue;
    // A map type (additionalProperties) keeps every key; otherwise only declared properties survive.
    const map = schema.additionalProperties;
    const sub = schema.properties?.[key] ?? (map === true ? { 'x-kubernetes-preserve-unknown-fields': true } : map || undefined);
    if (sub === undefined) out.push(at);
    else out.push(...prunedFields(sub, value, at));
  }
  return out;
}

function preserves(s: Schema): boolean {
  return s.x_kubernetes_preserve_unknown_fields === true || s['x-kubernetes-preserve-unknown-fields'] === true;
}
