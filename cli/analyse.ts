import { advise, countVerdicts } from '../core/advisor.js';
import { appArmorProfile } from '../core/apparmor.js';
import { diff, renderDiff } from '../core/diff.js';
import { behaviorsFromModel } from '../core/from-model.js';
import { seccompProfile } from '../core/seccomp.js';
import { adviseSecurityContext } from '../core/security-context.js';
import { spoAppArmorProfile, spoSeccompProfile } from '../core/spo.js';
import { archFromNode, type Arch } from '../core/syscalls.js';
import { stringify } from 'yaml';
import { contextFrom, type ContextFlags } from './context-flags.js';
import { readModel } from './model-file.js';
import { oneLine, table } from './table.js';

/** Commands that work on a model file alone, offline: advise, diff, profile. */

export async function adviseCommand(path: string, opts: ContextFlags & { json?: boolean; writable?: string[] }): Promise<string> {
  const model = await readModel(path);
  const set = behaviorsFromModel(model);
  const verdicts = advise(set, contextFrom(opts));
  const sc = adviseSecurityContext(set, { writablePaths: opts.writable ?? [], arches: [hostArch()] });
  if (opts.json) return JSON.stringify({ counts: countVerdicts(verdicts), verdicts, securityContext: sc }, null, 2) + '\n';
  const counts = countVerdicts(verdicts);
  const rows = verdicts.map((v) => [
    v.id,
    v.verdict + (v.recommended ? ' *' : ''),
    oneLine(v.verdict === 'unsafe' ? v.conflicts.slice(0, 2).map((e) => e.key).join(', ') + (v.conflictCount > 2 ? ` (+${v.conflictCount - 2})` : '') : v.reason, 70),
  ]);
  return [
    `Rules for ${model.metadata.namespace}/${model.metadata.name}: ${counts.safe} safe, ${counts.unsafe} unsafe, ${counts['not-applicable']} not applicable (* recommended)`,
    '',
    table(['RULE', 'VERDICT', 'EVIDENCE / REASON'], rows),
    'securityContext:',
    stringify({ securityContext: sc.securityContext, ...sc.pod }).trimEnd(),
    '',
    ...sc.lines.map((l) => `- ${l.field}: ${JSON.stringify(l.value)} — ${l.why}`),
    '',
  ].join('\n');
}

export async function diffCommand(oldPath: string, newPath: string, opts: ContextFlags & { json?: boolean }): Promise<string> {
  const d = diff(await readModel(oldPath), await readModel(newPath), { context: contextFrom(opts) });
  return opts.json ? JSON.stringify(d, null, 2) + '\n' : renderDiff(d);
}

export type ProfileFormat = 'apparmor' | 'seccomp' | 'spo';

export async function profileCommand(path: string, format: ProfileFormat): Promise<string> {
  const model = await readModel(path);
  const set = behaviorsFromModel(model);
  const name = model.data.profile?.name || model.metadata.name;
  // SPO's profiles are cluster-scoped: the model's name already carries its namespace.
  const meta = { name: model.metadata.name };
  const { profile: seccomp } = seccompProfile(set, hostArch());
  switch (format) {
    case 'apparmor':
      return appArmorProfile(set, { name }).text;
    case 'seccomp':
      return JSON.stringify(seccomp, null, 2) + '\n';
    case 'spo':
      return stringify(spoSeccompProfile(seccomp, meta)) + '---\n' + stringify(spoAppArmorProfile(set, meta).resource);
  }
}

function hostArch(): Arch {
  return archFromNode(process.arch);
}
