import { stringify } from 'yaml';
import { sumCounters, type BehaviorSet, type Counters } from './behavior.js';
import { dynamicResult, objectName, profileName, type ArmorProfileModel, type ModelStatus } from './armorprofilemodel.js';
import { advise, countVerdicts, type Verdict, type VerdictCounts } from './advisor.js';
import type { Context } from './context.js';
import { appArmorProfile, type ProfileRule, type Skipped } from './apparmor.js';
import { convergence, type Convergence } from './convergence.js';
import { generalise, type AppliedRule } from './generalise.js';
import { networkPolicy, type NetworkExplain, type NetworkInput } from './networkpolicy.js';
import { renderReportMarkdown } from './report-md.js';
import { allowedNames, seccompProfile, type SeccompExplain, type SeccompProfile } from './seccomp.js';
import { syscallSources, type SyscallSources } from './sources.js';
import { adviseSecurityContext, type SecurityContextAdvice } from './security-context.js';
import { spoAppArmorProfile, spoSeccompProfile } from './spo.js';
import { ALL_ARCHES, type Arch } from './syscalls.js';

/** Why a window ended: its duration reached, converged, stopped by a user, the target gone. */
export type WindowEnd = 'duration' | 'converged' | 'stopped' | 'target-gone';

/** Everything the outputs of one modeling run are made from; no I/O. */
export interface OutputInput {
  /** Target namespace and name, as vArmor names profiles. */
  namespace: string;
  name: string;
  target: string;
  behaviors: BehaviorSet;
  counters: Counters;
  arches: Arch[];
  window: { start: number; end: number; ended?: WindowEnd };
  nodes: NodeOutcome[];
  batches: number;
  timings: Record<string, number>;
  /** What behavior cannot show (privileged, dind, needsSaToken, ...); undefined flags are undeclared. */
  context?: Context;
  /** Paths the pod makes writable (volumes, emptyDir): writes there keep readOnlyRootFilesystem. */
  writablePaths?: string[];
  /** Malformed input lines the collectors skipped, a few of them. */
  samples?: string[];
  /** Objects under the run's batches that did not verify and were not merged. */
  integrity?: Integrity;
  /** Profile mode; default enforce. */
  mode?: 'enforce' | 'complain';
  /** A snapshot while the window goes on: the report says so and the model is not ready. */
  interim?: boolean;
  /** Convergence intervals; default the window in 20, converged after 3 quiet ones. */
  convergence?: { interval?: number; quietIntervals?: number };
  /** Kubernetes targets: the workload's pod selector and the addresses the API resolved, for its NetworkPolicy. */
  network?: NetworkInput;
}

export interface NodeOutcome {
  node: string;
  state: 'completed' | 'failed';
  reason?: string;
  message?: string;
  at: number;
}

/** What the merge read back from the store: merged when sealed by our keyring, else refused and counted. */
export interface Integrity {
  verified: number;
  refused: number;
  /** Refused objects by reason: unsealed, unknown-key, bad-mac, unreadable. */
  refusedBy: Record<string, number>;
  /** The first refused keys, for the operator to look at. */
  refusedKeys: string[];
}

export interface OutputFile {
  name: string;
  content: string;
}

export interface Outputs {
  files: OutputFile[];
  model: ArmorProfileModel;
  report: Report;
}

export interface Report {
  /** A snapshot taken while the window went on (model snapshot), not the window's final model. */
  interim?: boolean;
  target: string;
  profile: string;
  /** `ended`: why the window ended, where the run knows (duration, converged, stopped, target-gone). */
  window: { start: string; end: string; seconds: number; ended?: WindowEnd };
  nodes: NodeOutcome[];
  batches: number;
  /** Objects in the store that did not verify: refused, not merged. */
  integrity: Integrity;
  counts: Record<string, number>;
  /** Collector counters summed over nodes: lost records, truncated paths, rejected log lines, ... */
  counters: Record<string, number>;
  /** A few malformed input lines the collectors skipped (sanitised), to show what was rejected. */
  rejectedSamples: string[];
  timings: Record<string, number>;
  /** Context the user declared for the advice. */
  context: Context;
  /** Generalisation rules applied, with examples. */
  generalisation: AppliedRule[];
  /** The AppArmor profile, every rule with the behaviors behind it. */
  appArmor: { mode: 'enforce' | 'complain'; rules: ExplainedRule[]; skipped: Skipped[] };
  /**
   * The recording architecture's profile: syscalls allowed (by name or for some arguments), rules,
   * and how each narrowable syscall is allowed; `arches`: every architecture's profile in brief,
   * with the recorded syscalls it has no counterpart for.
   */
  seccomp: { arch: Arch; syscalls: number; rules: number } & SeccompExplain & { arches: Record<string, { syscalls: number; rules: number; unmapped: string[] }> };
  /** The syscalls by collector: the tracer's against the audit log's, and what each missed. */
  sources: { syscalls: SyscallSources };
  advice: { counts: VerdictCounts; verdicts: Verdict[] };
  securityContext: SecurityContextAdvice;
  convergence: Convergence;
  /** Behaviors the Security Profiles Operator AppArmorProfile cannot express. */
  spo: { omitted: string[] };
  /** Kubernetes targets: the NetworkPolicy's rules explained, and what it leaves out. */
  network?: NetworkExplain;
}

export type ExplainedRule = Omit<ProfileRule, 'text'> & { rule: string };

function status(nodes: NodeOutcome[]): ModelStatus {
  const failed = nodes.filter((n) => n.state === 'failed');
  const s: ModelStatus = {
    desiredNumber: nodes.length,
    completedNumber: nodes.length - failed.length,
    ready: nodes.length > failed.length,
  };
  if (failed.length > 0) {
    s.conditions = failed.map((n) => ({
      type: 'Ready',
      status: 'False',
      lastTransitionTime: new Date(n.at).toISOString(),
      reason: n.reason ?? 'Failed',
      message: n.message ?? '',
      nodeName: n.node,
    }));
  }
  return s;
}

/** Syscalls a profile allows (by name or for some arguments) and its rules (one per name and argument set). */
function sizeOf(p: SeccompProfile): { syscalls: number; rules: number } {
  return { syscalls: allowedNames(p).length, rules: p.syscalls.reduce((n, r) => n + r.names.length, 0) };
}

export function buildOutputs(input: OutputInput): Outputs {
  const profile = profileName(input.namespace, input.name);
  const mode = input.mode ?? 'enforce';
  const context = input.context ?? {};
  const generalised = generalise(input.behaviors);
  const result = dynamicResult(generalised.set, profile);
  const appArmor = appArmorProfile(generalised.set, { name: profile, mode });
  // One profile per architecture from the same recording; seccomp.json is the recording nodes' own.
  const primary = input.arches[0] ?? ALL_ARCHES[0]!;
  const byArch = new Map(ALL_ARCHES.map((a) => [a, seccompProfile(generalised.set, a)]));
  const { profile: seccomp, explain: seccompExplain } = byArch.get(primary)!;
  const seccompJson = JSON.stringify(seccomp, null, 2) + '\n';
  const metadata = {
    name: objectName(profile),
    namespace: input.namespace,
    labels: { 'app.kubernetes.io/managed-by': 'varmor-modeler' },
  };
  const model: ArmorProfileModel = {
    apiVersion: 'crd.varmor.org/v1beta1',
    kind: 'ArmorProfileModel',
    metadata,
    storageType: 'CRDInternal',
    data: {
      dynamicResult: result,
      staticResult: {},
      profile: { name: profile, enforcer: 'AppArmorSeccomp', mode, appArmor: appArmor.text, seccomp: JSON.stringify(seccomp) },
    },
    // a snapshot is not the model to load yet
    status: input.interim ? { ...status(input.nodes), ready: false } : status(input.nodes),
  };
  const counts: Record<string, number> = {};
  for (const [category, items] of Object.entries(input.behaviors)) counts[category] = Object.keys(items ?? {}).length;
  // The advice reads raw paths: generalisation only widens what the profile allows.
  const verdicts = advise(input.behaviors, context);
  const spoMeta = { name: metadata.name, labels: metadata.labels };
  const spoAppArmor = spoAppArmorProfile(generalised.set, spoMeta, mode === 'enforce' ? 'Enforce' : 'Complain');
  const report: Report = {
    ...(input.interim ? { interim: true } : {}),
    target: input.target,
    profile,
    window: {
      start: new Date(input.window.start).toISOString(),
      end: new Date(input.window.end).toISOString(),
      seconds: Math.round((input.window.end - input.window.start) / 1000),
      ...(input.window.ended ? { ended: input.window.ended } : {}),
    },
    nodes: input.nodes,
    batches: input.batches,
    integrity: input.integrity ?? { verified: input.batches, refused: 0, refusedBy: {}, refusedKeys: [] },
    counts,
    counters: sumCounters(input.counters),
    rejectedSamples: input.samples ?? [],
    timings: input.timings,
    context,
    generalisation: generalised.applied,
    appArmor: { mode, rules: appArmor.rules.map(({ text, ...rest }) => ({ rule: text, ...rest })), skipped: appArmor.skipped },
    seccomp: {
      arch: primary,
      ...sizeOf(seccomp),
      ...seccompExplain,
      arches: Object.fromEntries([...byArch].map(([a, g]) => [a, { ...sizeOf(g.profile), unmapped: g.explain.unmapped }])),
    },
    sources: { syscalls: syscallSources(input.behaviors) },
    advice: { counts: countVerdicts(verdicts), verdicts },
    securityContext: adviseSecurityContext(input.behaviors, { writablePaths: input.writablePaths, arches: input.arches, localhostProfile: `${profile}.json` }),
    convergence: convergence(input.behaviors, { start: input.window.start, end: input.window.end, ...input.convergence }),
    spo: { omitted: spoAppArmor.omitted },
  };
  const network = input.network ? networkPolicy(input.behaviors, input.network, { name: metadata.name, namespace: metadata.namespace, labels: metadata.labels }) : undefined;
  if (network) report.network = network.explain;
  const yaml = (o: unknown) => stringify(o, { lineWidth: 0 });
  return {
    model,
    report,
    files: [
      { name: 'armorprofilemodel.yaml', content: yaml(model) },
      { name: 'apparmor.profile', content: appArmor.text },
      { name: 'seccomp.json', content: seccompJson },
      ...[...byArch].map(([a, g]) => ({ name: `seccomp.${a}.json`, content: JSON.stringify(g.profile, null, 2) + '\n' })),
      { name: 'spo-seccompprofile.yaml', content: yaml(spoSeccompProfile(seccomp, spoMeta)) },
      { name: 'spo-apparmorprofile.yaml', content: yaml(spoAppArmor.resource) },
      ...(network ? [{ name: 'networkpolicy.yaml', content: yaml(network.policy) }] : []),
      { name: 'report.json', content: JSON.stringify(report, null, 2) + '\n' },
      { name: 'report.md', content: renderReportMarkdown(report) },
    ],
  };
}
