import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Kube } from '../k8s/client.js';
import { parse } from 'yaml';
import type { Context as AdviceContext } from '../core/context.js';
import type { ArmorProfileModel } from '../core/armorprofilemodel.js';
import { mergeCounters, mergeInto, type BehaviorSet } from '../core/behavior.js';
import { rootMessage } from '../core/errors.js';
import type { NetworkInput } from '../core/networkpolicy.js';
import { parseK8sSpec } from '../core/target-spec.js';
import { diff, renderDiff, type ModelDiff } from '../core/diff.js';
import { buildOutputs, type NodeOutcome, type OutputFile, type WindowEnd } from '../core/outputs.js';
import type { ModelingPolicy } from '../core/policy.js';
import { isArch } from '../core/syscalls.js';
import type { Keyring } from '../lib/keyring.js';
import { timedMerge } from '../lib/metrics.js';
import { keys } from '../store/batches.js';
import { openStore } from '../store/open.js';
import { decodePartial, partialKey } from '../store/partials.js';
import type { ObjectStore } from '../store/store.js';
import { addSamples, emptyMerged, mergeObjects, nameRefused, readEach, refuse, type Merged } from './partial.js';
import { requireNamespaceAllowed } from './policy.js';

export interface MergeInput {
  run: string;
  store: string;
  target: string;
  namespace: string;
  name: string;
  /** `ended`: why the window ended (the report says so). */
  window: { start: number; end: number; ended?: WindowEnd };
  nodes: NodeOutcome[];
  context?: AdviceContext;
  writablePaths?: string[];
  /** Create or update the ArmorProfileModel resource in the target's namespace (Kubernetes targets). */
  writeResource?: boolean;
  /** A large run's partial sets (mergePartial, groups 0..partials-1) to combine, instead of every batch. */
  partials?: number;
  /**
   * A snapshot while the window goes on: a model version marked interim (the report says so, the
   * ArmorProfileModel resource is not ready), not the run's outputs, which only the final merge writes.
   */
  interim?: boolean;
}

export interface MergeResult {
  /** Object-store keys of the outputs (armorprofilemodel.yaml, seccomp.json, report.json, ...). */
  outputs: Record<string, string>;
  batches: number;
  counts: Record<string, number>;
  /** This model's version, under models/<namespace>/<name>/. */
  version: string;
  /** Drift against the previous version of the same model, when there is one. */
  drift?: { previous: string; summary: ModelDiff['summary'] };
  /** The ArmorProfileModel resource written, when one was. */
  resource?: { namespace: string; name: string; storageType: string };
  /** Objects under the run's batches that did not verify and were not merged (report.json `integrity`). */
  refused?: number;
}

export interface MergeConfig {
  kube?: Kube;
  keyring: Keyring;
  policy: ModelingPolicy;
}

/**
 * The final activity: reads every batch of the run from the object store (the only source of
 * truth), merges them one at a time, and writes the outputs back to the store, both for the run
 * and as a new version of the model with its drift against the previous version.
 */
export function mergeActivity(config: MergeConfig) {
  return timedMerge('mergeRun', async function mergeRun(input: MergeInput): Promise<MergeResult> {
    // A run's batches are its model's only: the run ID names the model (namespace/name/run), and
    // the model may only be written where the policy allows (anyone can schedule this activity).
    if (!input.run.startsWith(`${input.namespace}/${input.name}/`)) {
      throw ApplicationFailure.create({ message: `run ${input.run} is not a run of ${input.namespace}/${input.name}`, type: 'InvalidInput', nonRetryable: true });
    }
    if (input.writeResource) await requireNamespaceAllowed(config, input.namespace);
    const result = await mergeToStore(config.keyring, input, input.writeResource ? config.kube : undefined);
    if (input.writeResource) {
      if (!config.kube) throw ApplicationFailure.create({ message: 'cannot write the ArmorProfileModel: this controller has no Kubernetes access', type: 'KubernetesUnavailable', nonRetryable: true });
      // Kubernetes targets only: the Kubernetes code is loaded for them.
      const { writeModel } = await import('../k8s/model-resource.js');
      const w = await writeModel(config.kube, result.model, { storage: { url: input.store, key: result.outputs['armorprofilemodel.yaml']! } });
      if (w.pruned.length) Context.current().log.warn('the installed CRD drops fields of the model; the full model is in the object store', { pruned: w.pruned });
      result.resource = { namespace: w.namespace, name: w.name, storageType: w.storageType };
    }
    // The model object stays here: only keys and counts go back to the workflow.
    const { model, ...out } = result;
    return out;
  });
}

/**
 * A Kubernetes target's NetworkPolicy input: its pod selector and what its addresses are now. The
 * policy is an extra: when the API cannot say, the run's other outputs still land (logged).
 */
async function networkOf(kube: Kube, target: string, behaviors: BehaviorSet): Promise<NetworkInput | undefined> {
  try {
    const { resolveNetwork } = await import('../k8s/peers.js');
    return await resolveNetwork(kube, parseK8sSpec(target), behaviors);
  } catch (err) {
    Context.current().log.warn('no NetworkPolicy: the addresses could not be resolved', { error: rootMessage(err) });
    return undefined;
  }
}

async function mergeToStore(keyring: Keyring, input: MergeInput, kube?: Kube): Promise<MergeResult & { model: ArmorProfileModel }> {
  const started = Date.now();
  const store = await openStore(input.store);
  const merged = emptyMerged();
  if (input.partials === undefined) await mergeObjects(store, keyring, [keys.batches(input.run)], merged);
  else await mergePartials(store, keyring, input.run, input.partials, merged);
  const { behaviors, counters, samples, integrity } = merged;
  const arches = [...merged.arches].filter(isArch);
  const network = kube && input.target.startsWith('k8s:') ? await networkOf(kube, input.target, behaviors) : undefined;
  const mergeMs = Date.now() - started;
  const outputs = buildOutputs({
    namespace: input.namespace,
    name: input.name,
    target: input.target,
    behaviors,
    counters,
    arches: arches.sort(),
    window: input.window,
    nodes: input.nodes,
    batches: integrity.verified,
    integrity,
    timings: { mergeMs, windowMs: input.window.end - input.window.start },
    context: input.context ?? {},
    writablePaths: input.writablePaths ?? [],
    samples,
    ...(input.interim ? { interim: true } : {}),
    ...(network ? { network } : {}),
  });
  const version = versionOf(input.window.end, input.run) + (input.interim ? INTERIM : '');
  const previous = await previousVersion(store, input.namespace, input.name, version);
  const files: OutputFile[] = [...outputs.files];
  let drift: MergeResult['drift'];
  if (previous) {
    const d = diff(previous.model, outputs.model, { context: input.context ?? {} });
    files.push({ name: 'drift.json', content: JSON.stringify({ previous: previous.version, ...d }, null, 2) + '\n' });
    files.push({ name: 'drift.md', content: `# Drift since ${previous.version}\n\n` + renderDiff(d) });
    drift = { previous: previous.version, summary: d.summary };
  }
  const written: Record<string, string> = {};
  for (const file of files) {
    const body = new TextEncoder().encode(file.content);
    const versioned = keys.modelVersion(input.namespace, input.name, version, file.name);
    await store.put(versioned, body);
    if (input.interim) {
      written[file.name] = versioned;
      continue;
    }
    const key = keys.output(input.run, file.name);
    await store.put(key, body);
    written[file.name] = key;
  }
  const result: MergeResult & { model: ArmorProfileModel } = { outputs: written, batches: integrity.verified, counts: outputs.report.counts, version, model: outputs.model };
  if (integrity.refused) result.refused = integrity.refused;
  if (drift) result.drift = drift;
  return result;
}

/** The suffix of a snapshot's version. */
const INTERIM = '-interim';

/** Versions sort by time: v<window end, UTC>-<run>. */
function versionOf(end: number, run: string): string {
  const stamp = new Date(end).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  return `v${stamp}-${run.split('/').pop()!.slice(0, 8)}`;
}

/** Combines the partial sets of a large run; each must be there and verify (its branch finished). */
async function mergePartials(store: ObjectStore, keyring: Keyring, run: string, count: number, into: Merged): Promise<void> {
  const wanted = Array.from({ length: count }, (_, group) => partialKey(run, group));
  const found = new Set<string>();
  await readEach(store, wanted, (key, body) => {
    found.add(key);
    const group = wanted.indexOf(key);
    let p;
    try {
      p = decodePartial(keyring, run, group, body);
    } catch (err) {
      refuse(into.integrity, key, err);
      return;
    }
    mergeInto(into.behaviors, p.behaviors);
    mergeCounters(into.counters, p.counters);
    for (const a of p.arches) into.arches.add(a);
    addSamples(into.samples, p.samples);
    into.integrity.verified += p.integrity.verified;
    into.integrity.refused += p.integrity.refused;
    for (const [k, v] of Object.entries(p.integrity.refusedBy)) into.integrity.refusedBy[k] = (into.integrity.refusedBy[k] ?? 0) + v;
    for (const k of p.integrity.refusedKeys) nameRefused(into.integrity, k);
  });
  const missing = wanted.filter((k) => !found.has(k));
  if (missing.length) throw ApplicationFailure.create({ message: `partial sets missing from the store (deleted after their branch merged?): ${missing.slice(0, 3).join(', ')}`, type: 'PartialMissing', nonRetryable: true });
}

async function previousVersion(store: ObjectStore, namespace: string, name: string, current: string): Promise<{ version: string; model: ArmorProfileModel } | undefined> {
  const prefix = keys.modelVersions(namespace, name);
  // drift is always against the last final version: snapshots are waypoints
  const versions = [...new Set((await store.list(prefix)).map((k) => k.slice(prefix.length + 1).split('/')[0]!))].filter((v) => v < current && !v.endsWith(INTERIM)).sort();
  const version = versions.pop();
  if (!version) return undefined;
  const body = await store.get(keys.modelVersion(namespace, name, version, 'armorprofilemodel.yaml'));
  if (!body) return undefined;
  return { version, model: parse(new TextDecoder().decode(body)) as ArmorProfileModel };
}
