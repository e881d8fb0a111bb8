// Peak memory of the browser, sampled from Linux's /proc: every interval, the memory of each process in
// the tree under this Node process (Chromium and its children), leaving out the subtrees of `exclude`
// (the `vite preview` server). Two sums: RSS counts shared pages (Chromium's own code, shared memory)
// once per process, so it overstates the total; PSS (/proc/PID/smaps_rollup) splits each shared page
// among its sharers, so it adds up. The largest single process is reported too.
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcRow { pid: number; ppid: number; rssKiB: number; pssKiB: number; kind: string }

/** pid and ppid from /proc/PID/stat; the command name in parentheses may itself hold spaces and ')'. */
export function parseStat(text: string): { pid: number; ppid: number } | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  const ppid = Number(text.slice(close + 2).split(' ')[1]); // after ") ": state, then ppid
  return Number.isInteger(pid) && Number.isInteger(ppid) ? { pid, ppid } : null;
}

/** Rss and Pss in KiB from /proc/PID/smaps_rollup (null when empty: kernel threads, zombies). */
export function parseRollup(text: string): { rssKiB: number; pssKiB: number } | null {
  const rss = /^Rss:\s+(\d+) kB/m.exec(text);
  const pss = /^Pss:\s+(\d+) kB/m.exec(text);
  return rss && pss ? { rssKiB: Number(rss[1]), pssKiB: Number(pss[1]) } : null;
}

/**
 * Chromium's process role from /proc/PID/cmdline: `--type=renderer` etc.; none is the browser. Arguments
 * are NUL-separated, except in processes forked from the zygote, which rewrite it space-separated.
 */
export function processKind(cmdline: string): string {
  const m = /(?:^|[\0 ])--type=([^\0 ]+)/.exec(cmdline);
  if (m) return m[1];
  return cmdline === '' ? 'unknown' : 'browser';
}

/** pids in the trees under `root` (root not included), without the trees under `exclude`. */
export function descendants(rows: readonly { pid: number; ppid: number }[], root: number, exclude: readonly number[] = []): Set<number> {
  const children = new Map<number, number[]>();
  for (const r of rows) {
    const c = children.get(r.ppid);
    if (c) c.push(r.pid);
    else children.set(r.ppid, [r.pid]);
  }
  const out = new Set<number>();
  const skip = new Set(exclude);
  const todo = [...(children.get(root) ?? [])];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    if (skip.has(pid) || out.has(pid)) continue;
    out.add(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process ended between the listing and the read
  }
};

/** One reading of the tree under `root`: each live process's memory and role. */
export function sampleTree(root: number, exclude: readonly number[]): ProcRow[] {
  const all: { pid: number; ppid: number }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = read(`/proc/${name}/stat`);
    const p = st ? parseStat(st) : null;
    if (p) all.push(p);
  }
  const mine = descendants(all, root, exclude);
  const rows: ProcRow[] = [];
  for (const p of all) {
    if (!mine.has(p.pid)) continue;
    const mem = parseRollup(read(`/proc/${p.pid}/smaps_rollup`) ?? '');
    // Read every time: a process forked from the zygote shows the zygote's command line at first.
    if (mem) rows.push({ ...p, ...mem, kind: processKind(read(`/proc/${p.pid}/cmdline`) ?? '') });
  }
  return rows;
}

export interface PhasePeak {
  /** Highest sums over the tree, MiB. */
  peakRssMiB: number;
  peakPssMiB: number;
  /** The PSS sum by process role at its peak. */
  byKindPssMiB: Record<string, number>;
  /** Highest RSS of one process (the renderer holding the worker and its wasm heap, as a rule). */
  largestProcessMiB: number;
  largestProcessKind: string;
  samples: number;
}

const mib = (kib: number) => Math.round(kib / 102.4) / 10;

/** Folds one sample into a phase's peak. */
export function foldSample(peak: PhasePeak | undefined, rows: readonly ProcRow[]): PhasePeak {
  const p = peak ?? { peakRssMiB: 0, peakPssMiB: 0, byKindPssMiB: {}, largestProcessMiB: 0, largestProcessKind: '', samples: 0 };
  p.samples++;
  p.peakRssMiB = Math.max(p.peakRssMiB, mib(rows.reduce((s, r) => s + r.rssKiB, 0)));
  const pss = mib(rows.reduce((s, r) => s + r.pssKiB, 0));
  if (pss > p.peakPssMiB) {
    p.peakPssMiB = pss;
    const by: Record<string, number> = {};
    for (const r of rows) by[r.kind] = (by[r.kind] ?? 0) + r.pssKiB;
    p.byKindPssMiB = Object.fromEntries(Object.entries(by).map(([k, v]) => [k, mib(v)]));
  }
  for (const r of rows) {
    if (mib(r.rssKiB) > p.largestProcessMiB) {
      p.largestProcessMiB = mib(r.rssKiB);
      p.largestProcessKind = r.kind;
    }
  }
  return p;
}

/**
 * Samples the tree under this process every `intervalMs` until stop(); `phase()` names what the
 * samples that follow belong to (loading, stepping), so each phase gets its own peak.
 */
export function startSampler(exclude: readonly number[], intervalMs: number) {
  const peaks: Record<string, PhasePeak> = {};
  let phase = 'start';
  const tick = () => {
    peaks[phase] = foldSample(peaks[phase], sampleTree(process.pid, exclude));
  };
  const timer = setInterval(tick, intervalMs);
  return {
    phase(name: string) {
      tick(); // the last reading of the phase before
      phase = name;
    },
    stop() {
      clearInterval(timer);
      tick();
      const all = Object.values(peaks);
      return {
        intervalMs,
        source: 'sums of Rss and Pss (/proc/PID/smaps_rollup) over the Chromium process tree',
        peakRssMiB: Math.max(0, ...all.map((p) => p.peakRssMiB)),
        peakPssMiB: Math.max(0, ...all.map((p) => p.peakPssMiB)),
        largestProcessMiB: Math.max(0, ...all.map((p) => p.largestProcessMiB)),
        byPhase: peaks,
      };
    },
  };
}
