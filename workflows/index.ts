// The workflow bundle's entry: every workflow and its signals, queries and updates.
export { behaviorModeling, statusQuery, stopSignal, extendUpdate, snapshotUpdate } from './modeling.js';
export type { ModelingStatus, ModelingResult, Phase, NodeStatus, SnapshotResult } from './modeling.js';
