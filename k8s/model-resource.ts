import type { ArmorProfileModel } from '../core/armorprofilemodel.js';
import type { Kube } from './client.js';
import { detectCrd, MODEL_GROUP, MODEL_PLURAL, MODEL_VERSION, prunedFields, type CrdInfo } from './crd.js';
import { K8sError, REQUEST_LIMIT_BYTES } from './errors.js';
import { CALLS } from './rbac.js';

/** The API server's request body limit; etcd's own (often 1.5 MiB) shows up as a "too large" error. */
export const MAX_OBJECT_BYTES = REQUEST_LIMIT_BYTES;
/** Carries the object-store reference when the installed CRD prunes our `storage` field (vArmor's does). */
export const STORAGE_ANNOTATION = 'varmor-modeler/storage';
const CONFLICT_TRIES = 5;

export interface WriteModelOptions {
  /** Where the full model lives in the object store: referenced when the object is too large to hold it. */
  storage?: { url: string; key: string };
  /** Largest serialized object to send; default MAX_OBJECT_BYTES. */
  maxBytes?: number;
}

export interface WrittenModel {
  namespace: string;
  name: string;
  created: boolean;
  resourceVersion: string;
  /** CRDInternal: the data is in the object; LocalDisk: only a reference to the object-store copy. */
  storageType: ArmorProfileModel['storageType'];
  bytes: number;
  /** Fields the installed CRD's schema drops (vArmor's CRD declares fewer than we write). */
  pruned: string[];
  crd: CrdInfo;
}

/**
 * Creates or replaces the ArmorProfileModel, then writes its status. When the object is too large
 * for the API server (by our size check, by its answer, or by its closing the connection on a body
 * over its limit), it is written by reference: storageType
 * LocalDisk, our `storage` pointing at the object-store copy, and the data left out.
 */
export async function writeModel(kube: Kube, model: ArmorProfileModel, opts: WriteModelOptions = {}): Promise<WrittenModel> {
  const crd = await detectCrd(kube);
  const max = opts.maxBytes ?? MAX_OBJECT_BYTES;
  const { name, namespace } = model.metadata;
  let smallest = Infinity;
  for (const candidate of candidates(model, opts.storage, crd)) {
    const bytes = sizeOf(candidate);
    smallest = Math.min(smallest, bytes);
    if (bytes > max) continue;
    let written: { object: Stored; created: boolean };
    try {
      written = await upsert(kube, candidate);
    } catch (err) {
      if (err instanceof K8sError && err.reason === 'TooLarge') continue;
      throw err;
    }
    const object = crd.statusSubresource ? await writeStatus(kube, written.object, model.status) : written.object;
    return {
      namespace,
      name,
      created: written.created,
      resourceVersion: object.metadata.resourceVersion ?? '',
      storageType: candidate.storageType,
      bytes,
      pruned: prunedFields(crd.schema, candidate),
      crd,
    };
  }
  throw new K8sError(
    `ArmorProfileModel "${name}" in namespace "${namespace}" is too large for the API server (${smallest} bytes at its smallest, limit ${max})` +
      (opts.storage ? '' : ' and no object-store copy was given to reference'),
    'TooLarge',
  );
}

/** The model in full, then by reference with less and less data (profile texts last: vArmor loads those). */
function candidates(model: ArmorProfileModel, storage: WriteModelOptions['storage'], crd: CrdInfo): ArmorProfileModel[] {
  if (!storage) return [model];
  const profile = model.data.profile;
  const annotations = { ...model.metadata.annotations };
  // vArmor's CRD prunes our `storage` field: the reference then goes in an annotation instead.
  const pruned = prunedFields(crd.schema, { storage }).includes('storage');
  if (pruned) annotations[STORAGE_ANNOTATION] = `${storage.url}#${storage.key}`;
  const byReference: ArmorProfileModel = {
    ...model,
    metadata: { ...model.metadata, annotations },
    storageType: 'LocalDisk',
    ...(pruned ? {} : { storage }),
    data: { dynamicResult: {}, staticResult: {}, profile },
  };
  const bare = { ...byReference, data: { ...byReference.data, profile: { name: profile.name, enforcer: profile.enforcer, mode: profile.mode, appArmor: '', seccomp: '' } } };
  return [model, byReference, bare];
}

/** What the API server returns: the object with its resourceVersion. */
interface Stored {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

const resource = (namespace: string) => ({ group: MODEL_GROUP, version: MODEL_VERSION, plural: MODEL_PLURAL, namespace });

/** Create; when it exists, replace it at its current resourceVersion, again if someone wrote in between. */
async function upsert(kube: Kube, model: ArmorProfileModel): Promise<{ object: Stored; created: boolean }> {
  const { name, namespace } = model.metadata;
  const ref = resource(namespace);
  try {
    const object = (await kube.call({ perm: CALLS.createModel, namespace, name, bodyBytes: sizeOf(model) }, () => kube.custom.createNamespacedCustomObject({ ...ref, body: model }))) as Stored;
    return { object, created: true };
  } catch (err) {
    if (!(err instanceof K8sError && err.reason === 'AlreadyExists')) throw err;
  }
  for (let i = 1; ; i++) {
    const current = await getModel(kube, namespace, name);
    const body = { ...model, metadata: mergedMetadata(current, model) };
    try {
      const object = (await kube.call({ perm: CALLS.updateModel, namespace, name, bodyBytes: sizeOf(body) }, () => kube.custom.replaceNamespacedCustomObject({ ...ref, name, body }))) as Stored;
      return { object, created: false };
    } catch (err) {
      if (!(err instanceof K8sError && err.reason === 'Conflict') || i >= CONFLICT_TRIES) throw err;
    }
  }
}

/** The serialized size of a request body: the API server closes the connection on one over its limit (errors.ts). */
function sizeOf(body: object): number {
  return Buffer.byteLength(JSON.stringify(body));
}

/** Ours over what is there: labels and annotations others added stay; a stale storage reference goes. */
function mergedMetadata(current: Stored, model: ArmorProfileModel): Stored['metadata'] {
  const annotations = { ...current.metadata.annotations, ...model.metadata.annotations };
  if (!model.metadata.annotations?.[STORAGE_ANNOTATION]) delete annotations[STORAGE_ANNOTATION];
  return { ...current.metadata, labels: { ...current.metadata.labels, ...model.metadata.labels }, annotations };
}

async function getModel(kube: Kube, namespace: string, name: string): Promise<Stored> {
  return (await kube.call({ perm: CALLS.getModel, namespace, name }, () => kube.custom.getNamespacedCustomObject({ ...resource(namespace), name }))) as Stored;
}

/** The status subresource ignores status in create/replace: write it on its own, retrying conflicts. */
async function writeStatus(kube: Kube, object: Stored, status: ArmorProfileModel['status']): Promise<Stored> {
  const { name, namespace } = object.metadata;
  let current = object;
  for (let i = 1; ; i++) {
    try {
      return (await kube.call({ perm: CALLS.updateModelStatus, namespace, name }, () =>
        kube.custom.replaceNamespacedCustomObjectStatus({ ...resource(namespace), name, body: { ...current, status } }),
      )) as Stored;
    } catch (err) {
      if (!(err instanceof K8sError && err.reason === 'Conflict') || i >= CONFLICT_TRIES) throw err;
      current = await getModel(kube, namespace, name);
    }
  }
}
