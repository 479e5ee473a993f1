// The tables of the tracer-sharing benchmark (run.mjs), from its measured levels.
import { mean, MiB, min } from './numbers.mjs';

/** The bystander the benchmark times (run.mjs runs it; the tables name it). */
export const DD_ARGS = ['if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=500000'];

export function summarise(levels) {
  const rows = [];
  const baseAll = [];
  for (const L of levels) {
    const b1 = min(L.baselineBefore.bystander.map((x) => x.ms));
    const b2 = min(L.baselineAfter.bystander.map((x) => x.ms));
    baseAll.push(b1, b2);
    const base = (b1 + b2) / 2;
    const r0 = L.baselineBefore.resources;
    const ra = L.active.resources;
    const by = min(L.active.bystander.map((x) => x.ms));
    const tr = min(L.active.traced.map((x) => x.ms));
    rows.push({
      runs: L.runs,
      baselineMs: base,
      baselineBeforeMs: b1,
      baselineAfterMs: b2,
      bystanderMs: by,
      bystanderRatio: by / base,
      tracedMs: tr,
      tracedRatio: tr / base,
      tracers: ra.tracers,
      tracerHelpers: ra.tracerHelpers,
      tracingPrograms: ra.tracingPrograms,
      tracingProgramsDelta: ra.tracingPrograms - r0.tracingPrograms,
      mapBytesDelta: ra.mapBytes - r0.mapBytes,
      newMapBytes: ra.newMapBytes,
      agentTracingPrograms: ra.agentTracingPrograms,
      agentMapBytes: ra.agentMapBytes,
      agentRssKiB: L.active.rss.agentKiB,
      agentRssDeltaKiB: L.active.rss.agentKiB - L.baselineBefore.rss.agentKiB,
      devRssKiB: L.active.rss.devKiB,
      devRssBaselineKiB: L.baselineBefore.rss.devKiB,
      devRssBaselineAfterKiB: L.baselineAfter.rss.devKiB,
      tracerRssKiB: L.active.rss.tracersKiB,
      agentRssRangeKiB: [L.active.rss.agentMinKiB, L.active.rss.agentMaxKiB],
      tracerBpfMmapKiB: ra.tracerRss.reduce((a, x) => a + x.bpfMmapKiB, 0),
      otherTracingPrograms: [r0.otherTracingPrograms, ra.otherTracingPrograms, L.active.resourcesAfterDd.otherTracingPrograms, L.baselineAfter.resources.otherTracingPrograms],
      readyS: L.ready.readyS,
      stopS: L.stopS,
      leftAfterStop: {
        tracers: L.tracersAfterStop,
        agentTracingPrograms: L.baselineAfter.resources.agentTracingPrograms,
        agentMapBytes: L.baselineAfter.resources.agentMapBytes,
        tracingProgramsDelta: L.baselineAfter.resources.tracingPrograms - r0.tracingPrograms,
        mapBytesDelta: L.baselineAfter.resources.mapBytes - r0.mapBytes,
        pinsUnderPinRoot: L.baselineAfter.resources.pinsUnderPinRoot,
        pinsLeftAfterDev: L.pinsLeftAfterDev,
      },
      loadavg: [L.baselineBefore.resources.loadavg, L.baselineAfter.resources.loadavg],
    });
  }
  const baseline = mean(baseAll);
  const perRun = {};
  if (rows.length >= 2) {
    const a = rows[0];
    const b = rows[rows.length - 1];
    const d = b.runs - a.runs;
    const per = (k) => (b[k] - a[k]) / d;
    perRun.span = `(${b.runs} − ${a.runs}) / ${d}`;
    // figure in the summary <- field of a level's row
    const fields = {
      bystanderMs: 'bystanderMs', tracedMs: 'tracedMs', tracers: 'tracers', tracingPrograms: 'agentTracingPrograms',
      mapBytes: 'agentMapBytes', systemTracingPrograms: 'tracingProgramsDelta', systemMapBytes: 'mapBytesDelta',
      agentRssKiB: 'agentRssKiB', tracerRssKiB: 'tracerRssKiB', devRssKiB: 'devRssKiB', bystanderRatio: 'bystanderRatio', tracedRatio: 'tracedRatio',
    };
    for (const [figure, field] of Object.entries(fields)) perRun[figure] = per(field);
  }
  return { baselineMs: baseline, rows, perRun };
}

export function markdown(result) {
  const { summary: S, meta } = result;
  const f = (x, d = 0) => (x === null || x === undefined ? '—' : Number(x).toFixed(d));
  const sign = (x, d = 0) => (x === null || x === undefined ? '—' : (x >= 0 ? '+' : '−') + Math.abs(x).toFixed(d));
  const lines = [];
  lines.push(`Tracer sharing: ${meta.repo} @ ${meta.commit}${meta.dirty ? ' (with uncommitted changes)' : ''}; ${meta.started} – ${meta.ended} (${f(meta.durationS / 60, 1)} min).`);
  lines.push(`${meta.cpus} CPUs, kernel ${meta.kernel}, Node ${meta.node}. \`dd ${DD_ARGS.join(' ')}\` (dd's own elapsed time), min of ${meta.rounds}; ratios against the mean of the no-run baselines measured before and after each level's runs.`);
  lines.push(`Load (uptime) at start: ${meta.uptimeStart}; at end: ${meta.uptimeEnd}.`);
  if (meta.preexisting.tracingPrograms) {
    lines.push(`Before the benchmark ${meta.preexisting.tracingPrograms} BPF tracing programs were already loaded on the machine (${meta.preexisting.sysExitPrograms} on_sys_exit; ${meta.preexisting.varmorTracers} varmor-tracer processes outside this benchmark): every syscall of the baseline already pays for them.`);
  }
  lines.push('');
  lines.push('| runs | bystander dd ms | × base | traced dd ms | × base | tracer processes | tracing programs: the agent\'s (system Δ) | BPF map MiB: the agent\'s (system Δ) | agent RSS MiB: dev + tracers | ready after s |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  // An agent that loads its tracer before any run has it in the baseline: shown, not assumed away.
  const b0 = result.levels.map((L) => L.baselineBefore);
  const mx = (g) => Math.max(...b0.map(g));
  lines.push(`| 0 | ${f(S.baselineMs)} | 1.00 | — | — | ${mx((x) => x.resources.tracers)} | ${mx((x) => x.resources.agentTracingPrograms)} | ${f(MiB(mx((x) => x.resources.agentMapBytes)), 1)} | ${f(mean(b0.map((x) => x.rss.agentKiB)) / 1024, 1)} = ${f(mean(b0.map((x) => x.rss.devKiB)) / 1024, 1)} + ${f(mean(b0.map((x) => x.rss.tracersKiB)) / 1024, 1)} | — |`);
  for (const r of S.rows) {
    lines.push(`| ${r.runs} | ${f(r.bystanderMs)} | ${f(r.bystanderRatio, 2)} | ${f(r.tracedMs)} | ${f(r.tracedRatio, 2)} | ${r.tracers}${r.tracerHelpers ? ` (+${r.tracerHelpers} helpers)` : ''} | ${r.agentTracingPrograms} (${sign(r.tracingProgramsDelta)}) | ${f(MiB(r.agentMapBytes), 1)} (${sign(MiB(r.mapBytesDelta), 1)}) | ${f(r.agentRssKiB / 1024, 1)} = ${f(r.devRssKiB / 1024, 1)} + ${f(r.tracerRssKiB / 1024, 1)} | ${f(r.readyS, 0)} |`);
  }
  const P = S.perRun;
  if (P.span) {
    lines.push(`| per added run ${P.span} | ${sign(P.bystanderMs, 1)} | ${sign(P.bystanderRatio, 3)} | ${sign(P.tracedMs, 1)} | ${sign(P.tracedRatio, 3)} | ${sign(P.tracers, 2)} | ${sign(P.tracingPrograms, 2)} (${sign(P.systemTracingPrograms, 2)}) | ${sign(MiB(P.mapBytes), 2)} (${sign(MiB(P.systemMapBytes), 2)}) | ${sign(P.agentRssKiB / 1024, 2)} = ${sign(P.devRssKiB / 1024, 2)} ${sign(P.tracerRssKiB / 1024, 2)} | |`);
  }
  lines.push('');
  lines.push('| runs | baseline before / after ms | load before → after | runs started in s | finished after stop s | left after stop: tracers, the agent\'s programs, its map MiB, pins (system Δ programs, map MiB) | pins left after dev stopped | other tracing programs: baseline, runs, after dd, baseline after |');
  lines.push('|---:|---:|---|---:|---:|---|---|---|');
  for (const [i, r] of S.rows.entries()) {
    const L = result.levels[i];
    const left = r.leftAfterStop;
    lines.push(`| ${r.runs} | ${f(r.baselineBeforeMs)} / ${f(r.baselineAfterMs)} | ${r.loadavg[0].join(' ')} → ${r.loadavg[1].join(' ')} | ${f(L.startS, 1)} | ${f(r.stopS, 1)} | ${left.tracers}, ${left.agentTracingPrograms}, ${f(MiB(left.agentMapBytes), 1)}, ${left.pinsUnderPinRoot} (${sign(left.tracingProgramsDelta)}, ${sign(MiB(left.mapBytesDelta), 1)}) | ${left.pinsLeftAfterDev.length ? left.pinsLeftAfterDev.join(', ') : 'none'} | ${r.otherTracingPrograms.join(', ')} |`);
  }
  // What one run's kernel state is made of (the largest level, new maps by name).
  const last = result.levels[result.levels.length - 1];
  if (last) {
    const maps = Object.entries(last.active.resources.agentMapsByName).sort((a, b) => b[1].bytes - a[1].bytes);
    const n = last.runs;
    lines.push('');
    lines.push(`The agent's BPF maps at ${n} runs, by name (bytes_memlock; per run = ÷ ${n}):`);
    lines.push('');
    lines.push('| map | count | MiB | MiB per run |');
    lines.push('|---|---:|---:|---:|');
    for (const [k, v] of maps.slice(0, 16)) lines.push(`| ${k}${v.maxEntries ? ` (max_entries ${v.maxEntries.join(', ')})` : ''} | ${v.count} | ${f(MiB(v.bytes), 2)} | ${f(MiB(v.bytes) / n, 2)} |`);
    const rss = last.active.resources.tracerRss.filter((x) => x.role === 'loader').map((x) => x.rssKiB / 1024);
    const mm = last.active.resources.tracerRss.reduce((a, x) => a + x.bpfMmapKiB, 0) / 1024;
    if (rss.length) lines.push('', `Tracer loader RSS at ${n} runs: min ${f(Math.min(...rss), 1)}, max ${f(Math.max(...rss), 1)}, sum ${f(rss.reduce((a, b) => a + b, 0), 1)} MiB over ${rss.length} process(es); of the tracers' RSS, ${f(mm, 1)} MiB are their mmaps of BPF maps (kernel memory, also in the map memory).`);
  }
  return lines.join('\n') + '\n';
}

