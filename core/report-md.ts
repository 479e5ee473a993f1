/**
 * report.md: the report for a person. Tables only; long lists are cut with a pointer to report.json.
 * Model content (paths, names) is escaped for Markdown so a file name cannot add rows or markup.
 */
import type { Evidence } from './evidence.js';
import type { Report } from './outputs.js';

const MAX_ROWS = 200;

/** One table cell: control characters spelled out, Markdown specials escaped. */
export function cell(text: string): string {
  return JSON.stringify(text)
    .slice(1, -1)
    .replace(/[|*_`[\]<>#~!()]/g, '\\$&');
}

function table(head: string[], rows: string[][], what = 'rows'): string[] {
  const out = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows.slice(0, MAX_ROWS)) out.push(`| ${r.join(' | ')} |`);
  if (rows.length > MAX_ROWS) out.push('', `${rows.length - MAX_ROWS} more ${what} in report.json.`);
  return out;
}

const BARS = '▁▂▃▄▅▆▇█';

/** A curve in one line of block characters (· for nothing new). */
export function sparkline(curve: number[]): string {
  const max = Math.max(1, ...curve);
  return curve.map((n) => (n === 0 ? '·' : BARS[Math.min(7, Math.floor((n / max) * 7.999))]!)).join('');
}

function ev(e: Evidence | undefined): string {
  if (!e) return '';
  const parts = [cell(e.key)];
  if (e.raw) parts.push(`seen as ${cell(e.raw)}`);
  if (e.first) parts.push(`first ${e.first}`);
  parts.push(`${e.count}×`);
  if (e.processes) parts.push(`by ${cell(e.processes.join(', '))}`);
  return parts.join(', ');
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

const WINDOW_ENDS: Record<NonNullable<Report['window']['ended']>, string> = {
  duration: 'its duration reached',
  converged: 'converged (nothing new for the quiet period)',
  stopped: 'stopped by a user',
  'target-gone': 'the target is gone',
};

export function renderReportMarkdown(r: Report): string {
  const c = r.convergence;
  const out: string[] = [
    `# Behavior model of ${cell(r.target)}${r.interim ? ' (interim snapshot)' : ''}`,
    '',
    ...(r.interim ? ['A snapshot taken while the window goes on: what the store held then. The final model comes when the window ends.', ''] : []),
    ...table(
      ['', ''],
      [
        ['Profile', cell(r.profile)],
        ['Window', `${r.window.start} to ${r.window.end} (${duration(r.window.seconds * 1000)})${r.window.ended ? `, ended: ${WINDOW_ENDS[r.window.ended]}` : ''}`],
        ['Nodes', `${r.nodes.filter((n) => n.state === 'completed').length} of ${r.nodes.length} completed`],
        ['Batches', `${r.batches}${r.integrity.refused ? `; **${r.integrity.refused} refused** (did not verify)` : ''}`],
        ['Convergence', `${c.status}: ${c.quietIntervals} quiet interval(s) of ${duration(c.interval)}, last new behavior ${c.lastNew ?? 'never'}`],
        ['AppArmor', `${r.appArmor.rules.length} rules, mode ${r.appArmor.mode}, ${r.appArmor.skipped.length} behaviors not allowed`],
        ['Seccomp', `${r.seccomp.syscalls} syscalls allowed (${r.seccomp.arch}) in ${r.seccomp.rules} rules, ${r.seccomp.byArgument.length} of them only with the arguments seen`],
        ['Built-in rules', `${r.advice.counts.safe} safe, ${r.advice.counts.unsafe} unsafe, ${r.advice.counts['not-applicable']} not applicable`],
      ],
    ),
    '',
    '## Convergence',
    '',
    'New behaviors per interval (oldest left); converged once the last intervals bring nothing new.',
    '',
    ...table(
      ['Category', 'Behaviors', 'Curve', 'Last new', 'Quiet for', 'Status'],
      Object.entries(c.categories).map(([cat, k]) => [cat, String(k.total), sparkline(k.curve), k.lastNew ?? '', duration(k.quietFor), k.status]),
    ),
    '',
    '## securityContext',
    '',
    ...table(
      ['Field', 'Advice', 'Why', 'Evidence'],
      r.securityContext.lines.map((l) => [cell(l.field), cell(JSON.stringify(l.value)), cell(l.why), l.evidence.slice(0, 3).map(ev).join('; ')]),
    ),
    '',
    '## Built-in rules',
    '',
    ...table(
      ['Rule', 'Verdict', 'Reason', 'First conflict'],
      r.advice.verdicts
        .filter((v) => v.verdict !== 'safe' || v.recommended)
        .map((v) => [cell(v.id), v.verdict + (v.needs ? ` (needs ${v.needs.join(', ')})` : ''), cell(v.reason), ev(v.conflicts[0])]),
      'rules',
    ),
    '',
    `Safe rules already covered by a stronger capability rule: ${r.advice.verdicts.filter((v) => v.coveredBy).length} (see report.json).`,
    '',
    '## Seccomp',
    '',
    `One profile per architecture from this recording (\`seccomp.<arch>.json\`; \`seccomp.json\` is ${r.seccomp.arch}'s). Syscalls allowed only with the arguments seen, and those a rule could narrow that stay allowed by name:`,
    '',
    ...table(
      ['Syscall', 'Allowed', 'Rules'],
      [
        ...r.seccomp.byArgument.map((b) => [b.syscall, cell(b.allows), String(b.rules)]),
        ...r.seccomp.answered.map((a) => [a.syscall, cell(`answered ${a.errno}: ${a.why}`), '1']),
        ...r.seccomp.nameOnly.map((n) => [n.syscall, cell(`by name: ${n.why}`), '1']),
      ],
    ),
    '',
    ...table(
      ['Architecture', 'Syscalls', 'Rules', 'Recorded syscalls it has no counterpart for'],
      Object.entries(r.seccomp.arches).map(([a, s]) => [a, String(s.syscalls), String(s.rules), s.unmapped.join(', ') || 'none']),
    ),
    '',
    '## Generalisation',
    '',
    ...table(
      ['Rule', 'What it does', 'Rewrites', 'Example'],
      r.generalisation.map((g) => [g.id, cell(g.description), String(g.count), g.examples[0] ? `${cell(g.examples[0].from)} → ${cell(g.examples[0].to)}` : '']),
    ),
    '',
    '## AppArmor rules and their evidence',
    '',
    ...table(
      ['Rule', 'Evidence'],
      r.appArmor.rules.map((rule) => [cell(rule.rule), rule.evidence.length ? rule.evidence.slice(0, 3).map(ev).join('; ') : cell(rule.why ?? '')]),
      'rules',
    ),
    '',
  ];
  const src = r.sources.syscalls;
  if (src.audit.length) {
    out.push(
      '## Syscalls by collector',
      '',
      `The BPF tracer saw ${src.bpf.length} syscalls, the audit log ${src.audit.length}. Missed by the audit log: ${src.onlyBpf.length ? src.onlyBpf.join(', ') : 'none'} (and ${src.quiet.join(', ') || 'nothing'} from the quiet set, which the modeling profile does not log). Missed by the tracer: ${src.onlyAudit.length ? src.onlyAudit.join(', ') : 'none'}.`,
      '',
    );
  }
  if (r.network) {
    const n = r.network;
    out.push(
      '## NetworkPolicy',
      '',
      '`networkpolicy.yaml`: egress to what the workload connected and sent to, ingress on the ports it listened on from the peers it accepted (a port with none recorded is open to all).',
      '',
      ...table(['Direction', 'Peer', 'Ports', 'Seen'], [...n.egress.map((e) => ['egress', cell(e.to), e.ports.join(', '), cell(e.seen.slice(0, 3).join('; '))]), ...n.ingress.map((i) => ['ingress', cell(i.from), i.ports.join(', '), cell(i.seen.slice(0, 3).join('; '))])]),
      '',
      ...(n.skipped.length ? [...table(['Left out', 'Why'], n.skipped.map((s) => [cell(s.key), cell(s.why)])), ''] : []),
    );
  }
  if (r.appArmor.skipped.length) {
    out.push('## Behaviors the profile does not allow', '', ...table(['Category', 'Behavior', 'Why'], r.appArmor.skipped.map((s) => [s.category, cell(s.key), cell(s.reason)])), '');
  }
  if (r.integrity.refused) {
    out.push(
      '## Objects refused',
      '',
      `${r.integrity.refused} object(s) under the run's batches did not verify against the keyring and were not merged: written by someone without the key, altered, or copied from elsewhere. The profile is made from the ${r.integrity.verified} that did.`,
      '',
      ...table(['Reason', 'Objects'], Object.entries(r.integrity.refusedBy).map(([k, v]) => [cell(k), String(v)])),
      '',
      ...table(['Refused object'], r.integrity.refusedKeys.map((k) => [cell(k)])),
      '',
    );
  }
  const counters = Object.entries(r.counters);
  if (counters.length) out.push('## Collector counters', '', ...table(['Counter', 'Value'], counters.map(([k, v]) => [cell(k), String(v)])), '');
  return out.join('\n');
}
