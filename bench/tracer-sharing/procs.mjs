// What is running: the processes, BPF programs and maps the tracer-sharing benchmark counts (run.mjs).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './numbers.mjs';

/** The counters for one run of the benchmark: `tracerReal` is the loader binary, `pinRoot` the level's pin root. */
export function processInspector({ tracerReal, pinRoot }) {
  const TRACER_REAL = tracerReal;
  const PIN_ROOT = pinRoot;
  /** pid → { ppid, comm } of every process. */
  function procTable() {
    const table = new Map();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const ppid = Number(stat.slice(close + 2).split(' ')[1]);
        table.set(Number(d), { ppid, comm });
      } catch {
        // gone meanwhile
      }
    }
    return table;
  }

  function exeOf(pid) {
    try {
      return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
    } catch {
      return undefined;
    }
  }

  function rssKiB(pid) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }

  /** RSS of a process's mmaps of BPF maps (an mmapable array, a ring buffer): kernel memory counted in the map memory too. */
  function bpfMmapKiB(pid) {
    try {
      let kib = 0;
      let bpf = false;
      for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
        if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) bpf = line.includes('anon_inode:bpf-map');
        else if (bpf && line.startsWith('Rss:')) kib += Number(line.split(/\s+/)[1]);
      }
      return kib;
    } catch {
      return 0;
    }
  }

  function descendants(table, root) {
    const children = new Map();
    for (const [pid, p] of table) {
      if (!children.has(p.ppid)) children.set(p.ppid, []);
      children.get(p.ppid).push(pid);
    }
    const out = new Set();
    const stack = [root];
    while (stack.length) for (const c of children.get(stack.pop()) ?? []) if (!out.has(c)) {
          out.add(c);
          stack.push(c);
        }
    return out;
  }

  const isTracer = (pid, p) => p.comm === 'varmor-tracer' || exeOf(pid) === TRACER_REAL;

  /** The dev process's varmor-tracer processes: loaders, and the resolver helpers they fork. */
  function tracerProcs(devPid) {
    const table = procTable();
    const mine = devPid ? descendants(table, devPid) : new Set();
    const loaders = [];
    const helpers = [];
    let elsewhere = 0;
    for (const [pid, p] of table) {
      if (!isTracer(pid, p)) continue;
      if (!mine.has(pid)) {
        elsewhere++;
        continue;
      }
      const parent = table.get(p.ppid);
      (parent && isTracer(p.ppid, parent) ? helpers : loaders).push(pid);
    }
    return { loaders, helpers, elsewhere, table, mine };
  }

  /** The BPF programs and maps the processes hold open (fds and links; /proc/PID/fdinfo). */
  function bpfHeldBy(pids) {
    const progs = new Set();
    const maps = new Set();
    for (const pid of pids) {
      let fds;
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
          if (!target.startsWith('anon_inode:bpf')) continue;
          const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
          const prog = /^prog_id:\s+(\d+)/m.exec(info);
          const map = /^map_id:\s+(\d+)/m.exec(info);
          if (prog) progs.add(Number(prog[1]));
          if (map) maps.add(Number(map[1]));
        } catch {
          // closed meanwhile
        }
      }
    }
    return { progs, maps };
  }

  function bpftool(what) {
    return JSON.parse(execFileSync('bpftool', [what, 'show', '-j'], { maxBuffer: 256 << 20, encoding: 'utf8' }) || '[]');
  }

  /** One snapshot of everything counted. `baseIds`: the map and program ids of the level's baseline. */
  function resources(devPid, baseIds) {
    const progs = bpftool('prog');
    const maps = bpftool('map');
    const tr = tracerProcs(devPid);
    const tracing = progs.filter((p) => p.type === 'tracing');
    const newProgs = baseIds ? tracing.filter((p) => !baseIds.progs.has(p.id)) : [];
    const newMaps = baseIds ? maps.filter((m) => !baseIds.maps.has(m.id)) : [];
    const byName = (xs, val) => {
      const o = {};
      for (const x of xs) {
        const k = `${x.type}:${x.name ?? '?'}`;
        o[k] ??= { count: 0, bytes: 0, maxEntries: [] };
        o[k].count++;
        o[k].bytes += val(x);
        if (x.type === 'ringbuf' && !o[k].maxEntries.includes(x.max_entries)) o[k].maxEntries.push(x.max_entries);
      }
      for (const v of Object.values(o)) if (!v.maxEntries.length) delete v.maxEntries;
      return o;
    };
    // What the agent itself holds: its tracers' (and its own) BPF fds, and the maps its programs use.
    const held = bpfHeldBy([...(devPid ? [devPid] : []), ...tr.loaders, ...tr.helpers]);
    const heldProgs = progs.filter((p) => held.progs.has(p.id));
    for (const p of heldProgs) for (const id of p.map_ids ?? []) held.maps.add(id);
    const heldMaps = maps.filter((m) => held.maps.has(m.id));
    const devRss = devPid ? rssKiB(devPid) : 0;
    const tracerRss = [...tr.loaders, ...tr.helpers].map((pid) => ({ pid, role: tr.loaders.includes(pid) ? 'loader' : 'helper', rssKiB: rssKiB(pid), bpfMmapKiB: bpfMmapKiB(pid) }));
    // Other children of dev (the embedded Temporal server): reported, not counted as the agent.
    const others = [...tr.mine].filter((pid) => !tr.loaders.includes(pid) && !tr.helpers.includes(pid)).map((pid) => ({ pid, comm: tr.table.get(pid)?.comm, rssKiB: rssKiB(pid) }));
    let pinsLeft = 0;
    try {
      const walk = (d) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else pinsLeft++;
        }
      };
      walk(PIN_ROOT);
    } catch {
      // no pin root yet
    }
    return {
      at: new Date().toISOString(),
      loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
      tracers: tr.loaders.length,
      tracerHelpers: tr.helpers.length,
      tracersElsewhere: tr.elsewhere,
      tracingPrograms: tracing.length,
      tracingProgramsByName: byName(tracing, () => 0),
      maps: maps.length,
      mapBytes: maps.reduce((a, m) => a + (m.bytes_memlock ?? 0), 0),
      newPrograms: byName(newProgs, () => 0),
      newMaps: byName(newMaps, (m) => m.bytes_memlock ?? 0),
      newMapBytes: newMaps.reduce((a, m) => a + (m.bytes_memlock ?? 0), 0),
      agentPrograms: heldProgs.length,
      agentTracingPrograms: heldProgs.filter((p) => p.type === 'tracing').length,
      agentMaps: heldMaps.length,
      agentMapBytes: heldMaps.reduce((a, m) => a + (m.bytes_memlock ?? 0), 0),
      agentMapsByName: byName(heldMaps, (m) => m.bytes_memlock ?? 0),
      // Loaded by anything else on the machine (leftover pinned tracers, other people's tests): noise.
      otherTracingPrograms: tracing.length - heldProgs.filter((p) => p.type === 'tracing').length,
      devRssKiB: devRss,
      tracerRss,
      agentRssKiB: devRss + tracerRss.reduce((a, t) => a + t.rssKiB, 0),
      otherChildren: others,
      pinsUnderPinRoot: pinsLeft,
      ids: { progs: new Set(tracing.map((p) => p.id)), maps: new Set(maps.map((m) => m.id)) },
    };
  }
  /** Agent RSS sampled every `everyMs` while a phase runs (Node's RSS moves with its GC): medians. */
  function rssSampler(devPid, everyMs = 2000) {
    const samples = [];
    const take = () => {
      const tr = tracerProcs(devPid);
      const dev = rssKiB(devPid);
      const tracers = [...tr.loaders, ...tr.helpers].reduce((a, pid) => a + rssKiB(pid), 0);
      samples.push({ dev, tracers, agent: dev + tracers });
    };
    take();
    const timer = setInterval(take, everyMs);
    return {
      stop() {
        clearInterval(timer);
        take();
        const med = (k) => median(samples.map((x) => x[k]));
        return { samples: samples.length, devKiB: med('dev'), tracersKiB: med('tracers'), agentKiB: med('agent'), agentMinKiB: Math.min(...samples.map((x) => x.agent)), agentMaxKiB: Math.max(...samples.map((x) => x.agent)) };
      },
    };
  }

  const plain = (r) => {
    const { ids: _ids, ...rest } = r;
    return rest;
  };

  return { procTable, exeOf, isTracer, tracerProcs, bpftool, resources, rssSampler, plain };
}
