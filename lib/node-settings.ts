import { hostname } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './package.js';

/** The node agent's settings, from its environment (the DaemonSet sets them; docs/kubernetes.md). */

/** Node name: NODE_NAME (set by the DaemonSet through the downward API), else the hostname. */
export function nodeName(): string {
  return process.env.NODE_NAME ?? hostname();
}

/** The tracer loader binary built from bpf/. */
export function tracerPath(): string {
  return process.env.VARMOR_MODELER_TRACER ?? join(PACKAGE_ROOT, 'bpf', 'build', 'varmor-tracer');
}

/** The cgroup hierarchy the tracer finds pods in (its --pod-cgroup): VARMOR_MODELER_POD_CGROUP, default auto. */
export function podCgroup(): string {
  const mode = process.env.VARMOR_MODELER_POD_CGROUP ?? 'auto';
  if (!['auto', 'v2', 'pids', 'memory', 'cpu'].includes(mode)) throw new Error(`VARMOR_MODELER_POD_CGROUP=${mode}: expected auto, v2, pids, memory or cpu`);
  return mode;
}

/**
 * How many runs the node's one tracer takes at once (its --max-targets):
 * VARMOR_MODELER_TRACER_TARGETS, 1..127, default 127; a run beyond it is refused (TracerFull).
 */
export function tracerTargets(): number | undefined {
  const v = process.env.VARMOR_MODELER_TRACER_TARGETS;
  if (v === undefined || v === '') return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > 127) throw new Error(`VARMOR_MODELER_TRACER_TARGETS=${v}: expected 1..127`);
  return Number(v);
}

/** The kubelet's seccomp root the node agent installs modeling-state profiles in: VARMOR_MODELER_KUBELET_SECCOMP_DIR, unset or "" for none. */
export function kubeletSeccompDir(): string | undefined {
  return process.env.VARMOR_MODELER_KUBELET_SECCOMP_DIR || undefined;
}

/** Where tracer state is pinned so it survives collector restarts: VARMOR_MODELER_PIN_ROOT, "" for no pinning. */
export function pinRoot(): string | undefined {
  const root = process.env.VARMOR_MODELER_PIN_ROOT ?? '/sys/fs/bpf/varmor-modeler';
  return root === '' ? undefined : root;
}
