/**
 * The knobs of `npm run bench`, read once from the environment. The defaults are the run the issue asks for
 * (bulks of 5,000 and 10,000 accounts); `BENCH_BULK_SIZES=200 npm run bench` is a quick check that every part
 * still works.
 */
export interface BenchOptions {
  /** Bulk sizes, each run as a Disable then an Enable of that many fresh accounts. */
  bulkSizes: number[];
  /** Tasks posted one after another for the single-task latency. */
  sequential: number;
  /**
   * In-flight operations of the bare ldapts run, and the engine's per-provider worker concurrency: 60, where
   * the worker's batched statements gain the most (docs/decisions.md); the engine's default is 10.
   */
  concurrency: number;
  /** How long one bulk may take before the run gives up. */
  bulkTimeoutMs: number;
  /** The API and worker log level: `info` logs every request, which the polling-free bench does not need. */
  logLevel: string;
  /** Keep the API and worker logs (their directory is printed) instead of deleting them. */
  keepLogs: boolean;
  /** Where the report goes; empty to print only. */
  outFile: string | null;
  /** Accounts of the warm-up bulk a fresh engine runs before the measured ones; 0 for none. */
  warmUp: number;
}

export function benchOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const sizes = (env.BENCH_BULK_SIZES ?? '5000,10000')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => positiveInt('BENCH_BULK_SIZES', s));
  if (!sizes.length) throw new Error('BENCH_BULK_SIZES: give at least one size, e.g. 5000,10000');
  if (sizes.some((n) => n > 10_000)) throw new Error('BENCH_BULK_SIZES: the bulk routes take at most 10,000');
  return {
    bulkSizes: sizes,
    sequential: positiveInt('BENCH_SEQUENTIAL', env.BENCH_SEQUENTIAL ?? '30'),
    concurrency: positiveInt('BENCH_CONCURRENCY', env.BENCH_CONCURRENCY ?? '60'),
    bulkTimeoutMs: positiveInt('BENCH_BULK_TIMEOUT_MS', env.BENCH_BULK_TIMEOUT_MS ?? '900000'),
    logLevel: env.BENCH_LOG_LEVEL || 'warn',
    keepLogs: Boolean(env.BENCH_KEEP_LOGS),
    outFile: env.BENCH_OUT === '' ? null : (env.BENCH_OUT ?? 'docs/benchmarks.md'),
    warmUp:
      env.BENCH_WARMUP === '0'
        ? 0
        : positiveInt('BENCH_WARMUP', env.BENCH_WARMUP ?? String(Math.min(...sizes))),
  };
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got ${raw}`);
  return n;
}
