/**
 * The workflow's search attributes, Keyword each: `model list` and the Web UI filter on them. One
 * home for their names, pure so that the workflow can import it: the workflow sets them
 * (`workflows/modeling.ts`), the processes register them (`lib/search-attributes.ts`, the embedded
 * server) and `model list` reads them.
 */
export const SEARCH_ATTRIBUTE = { namespace: 'VarmorTargetNamespace', workload: 'VarmorWorkload', phase: 'VarmorPhase', convergence: 'VarmorConvergence' } as const;

export type SearchAttributeName = (typeof SEARCH_ATTRIBUTE)[keyof typeof SEARCH_ATTRIBUTE];

/** Every name, in the order the workflow sets them. */
export const SEARCH_ATTRIBUTES: readonly SearchAttributeName[] = Object.values(SEARCH_ATTRIBUTE);

/** What the workflow upserts at each phase: the target's namespace, the workload (the model's name) and the phase. */
export function searchAttributes(values: { namespace: string; workload: string; phase: string }): Partial<Record<SearchAttributeName, string[]>> {
  return { [SEARCH_ATTRIBUTE.namespace]: [values.namespace], [SEARCH_ATTRIBUTE.workload]: [values.workload], [SEARCH_ATTRIBUTE.phase]: [values.phase] };
}

/** A run with convergeAfter: `learning` while new behaviors come, `converged` once its window ended so (`temporal workflow list --query "VarmorConvergence = 'converged'"`). */
export type ConvergenceState = 'learning' | 'converged';
