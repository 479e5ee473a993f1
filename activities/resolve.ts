import type { Target } from '../workflows/input.js';

export interface Resolution {
  nodes: string[];
  /** The controller's object store, used when the workflow input names none. */
  store: string;
}

/** Where the target runs. Local targets name their node; Kubernetes targets resolve through the API. */
export function resolveActivity(config: { store: string }) {
  return async function resolveTarget(target: Target): Promise<Resolution> {
    return { nodes: [target.node], store: config.store };
  };
}
