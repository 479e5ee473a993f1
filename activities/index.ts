import { collectActivity, releaseActivity, tracerHosts, type CollectorConfig, type TracerHosts } from './collect.js';
import type { ModelingPolicy } from '../core/policy.js';
import type { Kube } from '../k8s/client.js';
import type { Keyring } from '../lib/keyring.js';
import { learningActivity } from './learning.js';
import { mergeActivity } from './merge.js';
import { partialActivity } from './partial.js';
import { resolveActivity } from './resolve.js';

export interface ControllerConfig {
  /** The controller's object store, used when the workflow input names none. */
  store: string;
  /** The Kubernetes API, when the controller runs with access to one. */
  kube?: Kube;
  /** Signs grants, verifies batches. */
  keyring: Keyring;
  /** What may be modelled (the chart's `policy`). */
  policy: ModelingPolicy;
}

/** Activities of the controller (task queue varmor-modeler): target resolution and the merge. */
export function controllerActivities(config: ControllerConfig) {
  return { resolveTarget: resolveActivity(config), mergePartial: partialActivity(config), mergeRun: mergeActivity(config), learningCurve: learningActivity(config) };
}

/**
 * Activities of a node (task queue varmor-modeler-node-<node>): the collectors, all runs sharing
 * the node's one tracer. Whoever runs them closes `tracers` when the worker stops.
 */
export function nodeActivities(config: CollectorConfig, tracers: TracerHosts = tracerHosts(config)) {
  return { collect: collectActivity(config, tracers), releaseTracer: releaseActivity(tracers) };
}

export type ControllerActivities = ReturnType<typeof controllerActivities>;
export type NodeActivities = ReturnType<typeof nodeActivities>;
export type { CollectInput, CollectResult, CollectorConfig, TracerHosts } from './collect.js';
export { tracerHosts } from './collect.js';
export type { Progress } from './checkpoint.js';
export type { MergeInput, MergeResult } from './merge.js';
export type { LearningInput } from './learning.js';
export type { PartialInput } from './partial.js';
export type { Resolution } from './resolve.js';
