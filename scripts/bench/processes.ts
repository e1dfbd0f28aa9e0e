import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProviderConfig } from '@app/config';
import { FaultEngine } from '../../test/faults/harness/fault-engine';
import { buildIfStale } from '../../test/faults/harness/processes';
import type { BenchOptions } from './options';

/**
 * The engine as it is deployed: the built API and one worker as two processes (`node dist/apps/…/main.js`),
 * started by the fault suite's harness on a database and queue prefix of their own. Separate processes are
 * what lets the bench read each one's memory, and keep the bench's own polling and bookkeeping out of it.
 */
export async function startEngineProcesses(
  providers: ProviderConfig[],
  opts: BenchOptions,
): Promise<{ engine: FaultEngine; cleanup: () => void }> {
  buildIfStale('bench');
  // The harness records what it starts so a crashed run can be cleaned up; the bench keeps that record in a
  // directory of its own and removes it at the end.
  const runDir = mkdtempSync(join(tmpdir(), 'are-bench-run-'));
  process.env.FAULTS_RUN_DIR = runDir;
  if (opts.keepLogs) process.env.FAULTS_KEEP_LOGS = '1';
  const engine = await FaultEngine.start({
    label: 'bench',
    providers,
    workers: 1,
    env: {
      LOG_LEVEL: opts.logLevel,
      // Production's defaults, not the fault suite's quick ones: the reconciler re-adding every unfinished
      // target each second would be load no deployment carries.
      RECONCILE_INTERVAL_MS: '15000',
      WORKER_CONCURRENCY: String(opts.concurrency),
      SHUTDOWN_GRACE_MS: '10000',
    },
  });
  return { engine, cleanup: () => rmSync(runDir, { recursive: true, force: true }) };
}

export interface MemoryPeak {
  /** Highest VmRSS seen by sampling, in bytes. */
  sampledMax: number;
  /** The kernel's high-water mark (VmHWM) since the window began, in bytes; null when it could not be reset. */
  highWater: number | null;
}

/**
 * The resident memory of some processes over a window: VmRSS sampled every `intervalMs`, and the kernel's own
 * peak (VmHWM), which catches a spike between two samples. VmHWM counts from the process's start unless it is
 * reset (writing 5 to /proc/<pid>/clear_refs), which the window does at its start so that the peak belongs to
 * this window and not to an earlier bulk.
 */
export class MemoryWindow {
  private readonly max = new Map<number, number>();
  private readonly reset = new Map<number, boolean>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: Record<string, number>,
    intervalMs = 100,
  ) {
    for (const pid of Object.values(pids)) {
      this.reset.set(pid, resetHighWater(pid));
      this.max.set(pid, vmKb(pid, 'VmRSS') ?? 0);
    }
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    for (const pid of Object.values(this.pids)) {
      const kb = vmKb(pid, 'VmRSS');
      if (kb !== null && kb > (this.max.get(pid) ?? 0)) this.max.set(pid, kb);
    }
  }

  /** Stops sampling; the peak of each named process. */
  end(): Record<string, MemoryPeak> {
    clearInterval(this.timer);
    this.sample();
    const out: Record<string, MemoryPeak> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const hwm = this.reset.get(pid) ? vmKb(pid, 'VmHWM') : null;
      out[name] = {
        sampledMax: (this.max.get(pid) ?? 0) * 1024,
        highWater: hwm === null ? null : hwm * 1024,
      };
    }
    return out;
  }
}

function vmKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function resetHighWater(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The larger of the two readings: the figure to hold against a memory limit. */
export function peakBytes(p: MemoryPeak): number {
  return Math.max(p.sampledMax, p.highWater ?? 0);
}
