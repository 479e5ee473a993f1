import { OPEN_POLICY, parseSelector, type ModelingPolicy } from '../core/policy.js';

/**
 * The controller's modeling policy from its environment (the chart sets it from `policy`):
 * VARMOR_MODELER_ALLOW_NAMESPACES (comma-separated names, `*` for all), VARMOR_MODELER_NAMESPACE_SELECTOR,
 * VARMOR_MODELER_EXCLUDE_NAMESPACES, VARMOR_MODELER_ALLOW_HOST_TARGETS (true/false). None set: the
 * open policy of a one-machine setup.
 */
export function modelingPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): ModelingPolicy {
  const names = ['VARMOR_MODELER_ALLOW_NAMESPACES', 'VARMOR_MODELER_NAMESPACE_SELECTOR', 'VARMOR_MODELER_EXCLUDE_NAMESPACES', 'VARMOR_MODELER_ALLOW_HOST_TARGETS'];
  if (names.every((n) => env[n] === undefined)) return OPEN_POLICY;
  const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const selector = env.VARMOR_MODELER_NAMESPACE_SELECTOR?.trim() || undefined;
  if (selector) parseSelector(selector); // a typo fails at start, not on the first run
  const host = (env.VARMOR_MODELER_ALLOW_HOST_TARGETS ?? 'false').toLowerCase();
  if (!['true', 'false'].includes(host)) throw new Error(`VARMOR_MODELER_ALLOW_HOST_TARGETS=${host}: expected true or false`);
  return {
    namespaces: list(env.VARMOR_MODELER_ALLOW_NAMESPACES),
    excludeNamespaces: list(env.VARMOR_MODELER_EXCLUDE_NAMESPACES),
    ...(selector ? { namespaceSelector: selector } : {}),
    hostTargets: host === 'true',
  };
}
