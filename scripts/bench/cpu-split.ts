import { readdirSync, readFileSync } from 'node:fs';

/**
 * Where a bulk's CPU time goes: every process's user+system time (from /proc/<pid>/stat) read before and after
 * a window, summed by part (the API, the worker, PostgreSQL, Redis, slapd, the bench itself). On a machine that
 * runs all of them, this says which part to make cheaper; a rate alone does not.
 */
export class CpuWindow {
  private readonly before: Map<number, Sample>;
  private readonly started = process.hrtime.bigint();

  constructor(private readonly named: Record<string, number>) {
    this.before = sampleAll();
  }

  /** CPU seconds per part during the window, and the window's wall-clock seconds. */
  end(): CpuSplit {
    const after = sampleAll();
    const wallS = Number(process.hrtime.bigint() - this.started) / 1e9;
    const byPid = new Map(Object.entries(this.named).map(([name, pid]) => [pid, name]));
    const parts: Record<string, number> = {};
    for (const [pid, a] of after) {
      const b = this.before.get(pid);
      // A process started inside the window (a PostgreSQL backend) counts from zero.
      const ticks = a.ticks - (b && b.start === a.start ? b.ticks : 0);
      if (ticks <= 0) continue;
      const part = pid === process.pid ? 'bench' : (byPid.get(pid) ?? partOf(a.comm));
      parts[part] = (parts[part] ?? 0) + ticks / CLOCK_TICKS;
    }
    return { wallS, parts };
  }
}

export interface CpuSplit {
  wallS: number;
  parts: Record<string, number>;
}

/** "worker 41% · postgres 30% · …" of the window's wall clock (100% is one core busy the whole time). */
export function formatCpuSplit(split: CpuSplit, perItem?: number): string {
  return Object.entries(split.parts)
    .filter(([, s]) => s / split.wallS >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([part, s]) => {
      const share = `${part} ${Math.round((100 * s) / split.wallS)}%`;
      return perItem ? `${share} (${((1000 * s) / perItem).toFixed(2)} ms/task)` : share;
    })
    .join(' · ');
}

interface Sample {
  comm: string;
  ticks: number;
  start: number;
}

/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK) is not reachable from Node). */
const CLOCK_TICKS = 100;

function partOf(comm: string): string {
  if (comm.startsWith('postgres')) return 'postgres';
  if (comm.startsWith('redis')) return 'redis';
  if (comm === 'slapd') return 'slapd';
  return 'other';
}

function sampleAll(): Map<number, Sample> {
  const out = new Map<number, Sample>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // comm is in parentheses and may hold spaces; the fields after it are space-separated.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      // After comm: state(0) … utime(11) stime(12) … starttime(19).
      out.set(Number(entry), { comm, ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]) });
    } catch {
      // The process ended between readdir and read.
    }
  }
  return out;
}
