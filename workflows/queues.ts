/** The controller's task queue: workflows, target resolution, merge. */
export const CONTROLLER_QUEUE = 'varmor-modeler';

/** Each node's own task queue, served by the collector on that node. */
export function nodeQueue(node: string): string {
  return `varmor-modeler-node-${node}`;
}
