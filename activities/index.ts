import { collectActivity, releaseActivity, type CollectorConfig } from './collect.js';
import { mergeRun } from './merge.js';
import { resolveActivity, type ResolveConfig } from './resolve.js';

/** Activities of the controller (task queue varmor-modeler): target resolution and the merge. */
export function controllerActivities(config: ResolveConfig) {
  return { resolveTarget: resolveActivity(config), mergeRun };
}

/** Activities of a node (task queue varmor-modeler-node-<node>): the collectors. */
export function nodeActivities(config: CollectorConfig) {
  return { collect: collectActivity(config), releaseTracer: releaseActivity(config) };
}

export type ControllerActivities = ReturnType<typeof controllerActivities>;
export type NodeActivities = ReturnType<typeof nodeActivities>;
export type { CollectInput, CollectResult, CollectorConfig } from './collect.js';
export type { Progress } from './checkpoint.js';
export type { MergeInput, MergeResult } from './merge.js';
export type { KubernetesResolver, Resolution, ResolveConfig } from './resolve.js';
