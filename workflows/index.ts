// The workflow bundle's entry: every workflow and its signals, queries and updates.
export { behaviorModeling, statusQuery, stopSignal, extendUpdate } from './modeling.js';
export type { ModelingStatus, ModelingResult, Phase, NodeStatus } from './modeling.js';
