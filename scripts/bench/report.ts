import { cpus, totalmem } from 'node:os';
import { CpuSplit, formatCpuSplit } from './cpu-split';
import type { BulkResult, Latency } from './engine-bulk';
import { percentile } from './engine-bulk';
import type { BenchOptions } from './options';
import { MemoryPeak, peakBytes } from './processes';

/** One line of a section: what the lead's other bench modules return too. */
export interface Row {
  name: string;
  value: string;
  note: string;
}

export interface Section {
  title: string;
  rows: Row[];
}

export interface SizeResult {
  size: number;
  /** Milliseconds of each bare `ldapmodify` run: before the engine's bulks of this size, then after them. */
  ldapmodify: { lock: number[]; unlock: number[] };
  /** Milliseconds of each bare ldapts run. */
  ldapts: { lock: number; unlock: number };
  disable: BulkResult;
  enable: BulkResult;
  memory: { disable: Record<string, MemoryPeak>; enable: Record<string, MemoryPeak> };
  /** Where each bulk's CPU went, by part (see cpu-split.ts). */
  cpu: { disable: CpuSplit; enable: CpuSplit };
}

/** The fresh engine's first bulk, before the measured ones. */
export interface WarmUp {
  disable: BulkResult;
  enable: BulkResult;
}

/** A correctness check of the run: a failed one fails the bench, whatever the speed. */
export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

export interface BenchReport {
  startedAt: Date;
  opts: BenchOptions;
  versions: Record<string, string>;
  sizes: SizeResult[];
  warmUp: WarmUp | null;
  latency: Latency | null;
  sections: Section[];
  checks: Check[];
}

/** The targets (#10). */
export const MIN_SHARE_OF_BARE_WRITES = 1 / 3;
export const MAX_RSS_BYTES = 400 * 2 ** 20;
/** Single-task latency before #10 (the in-process engine, docs/benchmarks.md of 2026-11-22): the bar to stay under. */
export const LATENCY_BEFORE = { p50: 22, p95: 59 };

const perSec = (n: number, ms: number) => (n / ms) * 1000;
/** The bare runs' counterpart of an engine action. */
const bareOp = (action: 'disable' | 'enable') => (action === 'disable' ? 'lock' : 'unlock');
/** The bare `ldapmodify` rate of one action: all its runs' writes over all their time. */
const bareRate = (s: SizeResult, action: 'disable' | 'enable') => {
  const runs = s.ldapmodify[bareOp(action)];
  return perSec(
    s.size * runs.length,
    runs.reduce((a, b) => a + b, 0),
  );
};
/** Each bare `ldapmodify` run's rate, in the order they ran. */
const bareRuns = (s: SizeResult, action: 'disable' | 'enable') =>
  s.ldapmodify[bareOp(action)].map((ms) => fmtRate(perSec(s.size, ms))).join(' / ');
const fmtRate = (r: number) => Math.round(r).toLocaleString('en-US');
const fmtMs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;
const ratio = (r: number) => r.toFixed(2);

export function renderReport(r: BenchReport): string {
  const cpu = cpus();
  const machine = `${cpu.length} cores (${cpu[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const versions = Object.entries(r.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const lines: string[] = [
    '# Benchmarks',
    '',
    'Written by `npm run bench`; every figure below comes from one run of it. PostgreSQL, Redis, slapd, the API',
    'and the worker all share one machine, so the figures compare the parts with each other, not with production',
    'hardware.',
    '',
    `Run: ${r.startedAt.toISOString()} on ${machine}; ${versions}.`,
    `Engine: the built API and one worker as two processes (\`node dist/apps/…/main.js\`), worker concurrency`,
    `${r.opts.concurrency}, provider concurrency ${r.opts.concurrency}, LOG_LEVEL=${r.opts.logLevel}. Sizes: ${r.opts.bulkSizes.join(', ')} accounts.`,
    '',
    '## Bulk Disable and Enable against slapd',
    '',
    '| accounts | action | bare `ldapmodify` | bare ldapts | engine | engine ÷ ldapmodify | engine ÷ ldapts | engine, POST → done | POST answered | peak RSS API / worker |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of r.sizes) {
    for (const action of ['disable', 'enable'] as const) {
      const b = s[action];
      const mod = bareRate(s, action);
      const lts = perSec(s.size, s.ldapts[bareOp(action)]);
      const eng = perSec(b.accounts, b.totalMs);
      const mem = s.memory[action];
      lines.push(
        `| ${s.size.toLocaleString('en-US')} | ${action === 'disable' ? 'Disable' : 'Enable'} | ${fmtRate(mod)} writes/s (${bareRuns(s, action)}) | ${fmtRate(lts)} cycles/s | ${fmtRate(eng)} tasks/s | ${ratio(eng / mod)} | ${ratio(eng / lts)} | ${fmtMs(b.totalMs)} | ${fmtMs(b.created.acceptMs)} | ${mb(peakBytes(mem.api))} / ${mb(peakBytes(mem.worker))} |`,
      );
    }
  }
  lines.push('');
  if (r.warmUp) {
    const w = r.warmUp;
    const same = r.sizes.find((s) => s.size === w.disable.accounts);
    const fresh = (action: 'disable' | 'enable') => {
      const eng = perSec(w[action].accounts, w[action].totalMs);
      const vs = same ? `, ${ratio(eng / bareRate(same, action))} of the bare \`ldapmodify\` rate above` : '';
      return `${action === 'disable' ? 'Disable' : 'Enable'} ${fmtRate(eng)} tasks/s (${fmtMs(w[action].totalMs)}${vs})`;
    };
    lines.push(
      `**A fresh engine's first bulk.** Before the bulks above, the engine just started ran a warm-up bulk of ${w.disable.accounts.toLocaleString('en-US')}`,
      `accounts of their own (\`BENCH_WARMUP\`, 0 for none): ${fresh('disable')}; ${fresh('enable')}. A fresh engine's`,
      'first bulk runs slower than the next on this machine (its processes warm up: docs/decisions.md); the',
      'targets below are for an engine that has run before.',
      '',
    );
  }

  lines.push(
    '## Where a bulk spends its CPU',
    '',
    'CPU time of each part during the bulk (user + system, from /proc), per task, and as a share of the',
    `bulk's wall clock (100% is one core busy throughout; the machine has ${cpus().length}). The part with the most milliseconds`,
    'per task is the one to make cheaper.',
    '',
    '| accounts | action | CPU per task, by part |',
    '| ---: | --- | --- |',
  );
  for (const s of r.sizes) {
    for (const action of ['disable', 'enable'] as const) {
      lines.push(
        `| ${s.size.toLocaleString('en-US')} | ${action === 'disable' ? 'Disable' : 'Enable'} | ${formatCpuSplit(s.cpu[action], s[action].accounts)} |`,
      );
    }
  }
  lines.push('');

  if (r.latency) {
    const { server, client } = r.latency;
    lines.push(
      '## Single-task latency',
      '',
      '| measurement | p50 | p95 | conditions |',
      '| --- | ---: | ---: | --- |',
      `| Disable, POST → final (server: completed_at − created_at) | ${percentile(server, 50)} ms | ${percentile(server, 95)} ms | ${server.length} tasks one after another; before #10 (engine in the bench's own process): p50 ${LATENCY_BEFORE.p50} ms, p95 ${LATENCY_BEFORE.p95} ms |`,
      `| Disable, POST → final (client, polling every 5 ms) | ${percentile(client, 50)} ms | ${percentile(client, 95)} ms | includes HTTP and polling |`,
      '',
    );
  }

  for (const section of r.sections) {
    lines.push(`## ${section.title}`, '', '| measurement | result | conditions |', '| --- | --- | --- |');
    for (const row of section.rows) lines.push(`| ${row.name} | ${row.value} | ${row.note} |`);
    lines.push('');
  }

  lines.push('## Targets', '', '| target | measured | result |', '| --- | --- | --- |');
  for (const t of targets(r)) lines.push(`| ${t.what} | ${t.detail} | ${t.ok ? 'pass' : '**FAIL**'} |`);
  lines.push('');

  lines.push('## Checks', '', 'Correctness of the same run; a failed check fails `npm run bench`.', '');
  for (const c of r.checks) lines.push(`- ${c.ok ? 'ok' : '**FAILED**'}: ${c.what}: ${c.detail}`);
  lines.push('');

  lines.push(
    '## How to read',
    '',
    'Each bulk uses accounts of its own, first locked and unlocked by the bare runs (which leaves them as they',
    'were), then disabled and re-enabled by the engine through the bulk routes. **Bare `ldapmodify`** is the',
    "directory's own pace: one process, one connection, one modify record per account, each waiting for the last.",
    "It runs before the engine's bulks of a size and again after them (both rates in parentheses); the rate",
    "compared with is both runs' writes over both runs' time, because the same run moved by a third from one",
    'minute to the next on a shared 2-core machine.',
    '**Bare ldapts** is the directory work the engine does per account (read the lock, change it, read it back)',
    `with nothing else, ${r.opts.concurrency} accounts in flight on one bound connection. **Engine** counts from the`,
    'POST to the moment PostgreSQL shows no task of the bulk in progress, so it includes accepting the bulk,',
    'queueing, claiming, resolving, writing, reading back and rolling up every task. The ratios are the share of',
    'the bare rate the engine reaches on the same slapd in the same run: the target is at least a third of the',
    "bare write rate, so the engine's own bookkeeping costs at most twice the directory write. Peak RSS is the",
    "larger of VmRSS sampled every 100 ms and the kernel's high-water mark (VmHWM, reset when the bulk starts).",
    'Wall-clock figures move with whatever else the machine is doing; compare figures of one run with each other.',
    '',
    'Knobs: `BENCH_BULK_SIZES` (default `5000,10000`; `BENCH_BULK_SIZES=200` for a quick check), `BENCH_SEQUENTIAL`',
    '(latency tasks, 30), `BENCH_CONCURRENCY` (60: with the batched statements, 610 against 500 tasks/s at 30 on 3,000 accounts, and nothing more at 100 or 200), `BENCH_LOG_LEVEL` (warn), `BENCH_KEEP_LOGS=1` (keep the API and',
    'worker logs), `BENCH_OUT` (the report file, `docs/benchmarks.md`; empty to print only), `BENCH_WARMUP` (accounts',
    "of the fresh engine's first bulk, run before the measured ones; default the smallest size, 0 for none).",
    '',
  );
  return lines.join('\n');
}

/** The targets, judged on this run. */
export function targets(r: BenchReport): Check[] {
  const out: Check[] = [];
  for (const s of r.sizes) {
    for (const action of ['disable', 'enable'] as const) {
      const mod = bareRate(s, action);
      const eng = perSec(s[action].accounts, s[action].totalMs);
      out.push({
        what: `${action === 'disable' ? 'Disable' : 'Enable'} of ${s.size.toLocaleString('en-US')}: ≥ 1/3 of bare slapd writes`,
        ok: eng / mod >= MIN_SHARE_OF_BARE_WRITES,
        detail: `${fmtRate(eng)} ÷ ${fmtRate(mod)} = ${ratio(eng / mod)}`,
      });
    }
  }
  const largest = r.sizes.reduce<SizeResult | null>((a, s) => (a && a.size >= s.size ? a : s), null);
  if (largest) {
    for (const proc of ['api', 'worker'] as const) {
      const peak = Math.max(peakBytes(largest.memory.disable[proc]), peakBytes(largest.memory.enable[proc]));
      out.push({
        what: `${proc === 'api' ? 'API' : 'Worker'} peak RSS during the ${largest.size.toLocaleString('en-US')}-account bulks ≤ 400 MB`,
        ok: peak <= MAX_RSS_BYTES,
        detail: mb(peak),
      });
    }
  }
  if (r.latency) {
    const p50 = percentile(r.latency.server, 50);
    const p95 = percentile(r.latency.server, 95);
    out.push({
      what: `Single-task latency (server) no worse than before #10 (p50 ${LATENCY_BEFORE.p50} ms, p95 ${LATENCY_BEFORE.p95} ms)`,
      ok: p50 <= LATENCY_BEFORE.p50 && p95 <= LATENCY_BEFORE.p95,
      detail: `p50 ${p50} ms, p95 ${p95} ms`,
    });
  }
  return out;
}
