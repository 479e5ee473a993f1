// The advice round trip as a table: five Debian servers modelled with `record`, then run in runc
// under all of their advice at once (test/advice/roundtrip.ts). Needs root (BPF, runc).
// Run: npm run -s build && node dist/bench/advice/run.js [PROGRAM...] > table.md (progress on stderr)
import { PROGRAMS } from '../../test/advice/programs.js';
import { deniedSummary, PROBE_CALLS, refusedBySeccomp, RUNTIME_DEFAULT_CAPABILITIES, roundTrip, type ProbeResult, type RoundTrip } from '../../test/advice/roundtrip.js';

const chosen = process.argv.slice(2);
const unknown = chosen.filter((n) => !PROGRAMS.some((p) => p.name === n));
if (unknown.length) {
  process.stderr.write(`unknown program ${unknown.join(', ')}; one of ${PROGRAMS.map((p) => p.name).join(', ')}\n`);
  process.exit(2);
}

/** Which probe calls a profile refused: `clone-newuser, socket-alg` or none. */
const refusedCalls = (p: ProbeResult) => PROBE_CALLS.filter((c) => refusedBySeccomp(p, c)).join(', ') || 'none';

const show = (v: unknown) => (v === undefined ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function row(r: RoundTrip): string[] {
  const v = r.advised;
  const caps = (v['capabilities.add'] as string[] | undefined) ?? [];
  const denied = [...r.served.denied, ...r.served.deniedAtStop];
  const loose = r.trials.map((t) => `${t.change}: ${t.works ? '**works**' : 'fails'}`).join('; ') || 'none left loose';
  return [
    r.program,
    `${r.syscalls.flat} / ${r.syscalls.ours} in ${r.syscalls.rules} rules (${r.syscalls.narrowed.join(' ')} by argument) / ${r.syscalls.runtimeDefault}`,
    `${caps.length ? caps.join(' ') : 'none'} (${caps.length} of ${RUNTIME_DEFAULT_CAPABILITIES.length})`,
    show(v.readOnlyRootFilesystem),
    show(v.runAsNonRoot),
    show(v.allowPrivilegeEscalation),
    show((v.seccompProfile as { type?: string } | undefined)?.type),
    show(v.privileged),
    show(v.hostPID),
    `${r.modelled.requests} → ${r.served.requests}`,
    `${r.served.failures} (${r.logMode.failures})${r.served.runningAtEnd ? '' : ', crashed'}`,
    denied.length ? `${denied.length}: ${deniedSummary(denied)}` : '0',
    r.logMode.wouldRefuse.length ? `${r.logMode.wouldRefuse.length}: ${r.logMode.wouldRefuse.join(', ')}` : '0',
    `${refusedCalls(r.probe.argumentAware)} / ${refusedCalls(r.probe.flat)}`,
    `${r.attack.refused ? 'refused' : '**not refused**'} / ${r.attack.control.allowed ? 'allowed' : '**refused**'}`,
    loose,
    `${r.appArmor.fileRules} file rules; ${r.appArmor.differences.length ? r.appArmor.differences.join('; ') : 'no difference'}`,
  ];
}

const header = [
  'program',
  'syscalls allowed: flat / argument-aware (rules) / RuntimeDefault',
  'capabilities advised (of the runtime default)',
  'readOnlyRootFilesystem',
  'runAsNonRoot',
  'allowPrivilegeEscalation',
  'seccompProfile',
  'privileged',
  'hostPID',
  'requests: modelled → under the advice',
  'failed (log mode: nothing refused)',
  'denied syscalls (notify)',
  'would refuse in log mode (by name or argument)',
  'probe refused: argument-aware / flat',
  '`unshare -U`: profile / control',
  'each loose setting tightened',
  'AppArmor (apparmor_parser -Q -K) vs the model',
];

const rows: string[][] = [];
for (const program of PROGRAMS.filter((p) => !chosen.length || chosen.includes(p.name))) {
  const started = Date.now();
  const r = await roundTrip(program, (line) => process.stderr.write(`${line}\n`));
  process.stderr.write(`${program.name}: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  rows.push(row(r));
}

const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
process.stdout.write([line(header), line(header.map(() => '---')), ...rows.map(line), ''].join('\n'));
