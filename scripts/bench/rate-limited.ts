import {
  entraIdProvider,
  GraphThrottleOptions,
  resourceUnitCost,
  startEntraEmulator,
} from '../../test/emulators/entra-id';
import {
  OKTA_DEFAULT_RATE_LIMITS,
  OKTA_RATE_LIMIT_WINDOW_MS,
  OktaRateBucket,
  startOktaEmulator,
} from '../../test/emulators/okta';
import { startEngine, TestEngine } from '../../test/harness/engine';
import type { TaskView } from '@app/engine';
import type { Row } from './report';

export interface RateLimitedOptions {
  /** Default DEFAULT_ACCOUNTS: about 100 s of each limit. */
  accounts?: number;
  /** Okta's buckets per window (default: Okta's "Workforce identity" figures) and the window (default 60 s). */
  okta?: { limits?: Partial<Record<OktaRateBucket, number>>; windowMs?: number };
  /** Graph's throttle (default: GRAPH_THROTTLE). */
  graph?: GraphThrottleOptions;
  /** Prints counts every few seconds while the bulk runs. */
  progress?: boolean;
  /** Worker processes (default 1); each paces its own requests from the rate-limit headers it reads. */
  workers?: number;
}

/**
 * Graph's identity and access service limits for one application+tenant pair (learn.microsoft.com/graph/
 * throttling-limits): 3,000 writes per 2 minutes 30 seconds (20 a second), and 8,000 resource units per 10 s for
 * a tenant of over 500 users. The quotas start spent, as for an app that has been busy: the bulk then meets
 * the steady rate from its first request, which is what a bulk of thousands meets after its first 1,500
 * accounts anyway (a Disable makes two writes), and the least time the limit allows is exactly writes ÷ 20/s.
 */
export const GRAPH_THROTTLE: GraphThrottleOptions = {
  writes: { limit: 3_000, periodMs: 150_000 },
  resourceUnits: { limit: 8_000, periodMs: 10_000 },
  startEmpty: true,
};

const CONCURRENCY = 20;
const account = (i: number) => `rl${String(i).padStart(5, '0')}@bench.example`;
const oktaId = (i: number) => `00urlbench${String(i).padStart(10, '0')}`;

/**
 * Bulk Disable of `accounts` users against the Okta and Entra ID emulators with realistic rate limits, both
 * directories in every task: how long each directory's side took against the least time its limits allow,
 * computed per bucket from the emulator's own request log (requests it admitted ÷ limit × window).
 */
export async function benchRateLimited(opts: RateLimitedOptions): Promise<Row[]> {
  const n = opts.accounts ?? DEFAULT_ACCOUNTS;
  const oktaLimits = { ...OKTA_DEFAULT_RATE_LIMITS, ...(opts.okta?.limits ?? {}) };
  const okta = await startOktaEmulator({
    fixture: {
      users: Array.from({ length: n }, (_, i) => ({
        id: oktaId(i),
        status: 'ACTIVE' as const,
        sessions: 1,
        profile: { login: account(i), email: account(i) },
      })),
    },
    rateLimits: oktaLimits,
    rateLimitWindowMs: opts.okta?.windowMs ?? OKTA_RATE_LIMIT_WINDOW_MS,
  });
  const throttle = opts.graph ?? GRAPH_THROTTLE;
  const entra = await startEntraEmulator({ throttle });
  const entraIds = Array.from(
    { length: n },
    (_, i) => entra.users.add({ userPrincipalName: account(i), mail: account(i) }).id,
  );
  let engine: TestEngine | null = null;
  let ticker: NodeJS.Timeout | undefined;
  try {
    engine = await startEngine({
      label: 'benchrate',
      workers: opts.workers ?? 1,
      providers: [
        { id: 'okta', kind: 'okta', orgUrl: okta.orgUrl, token: okta.apiToken, concurrency: CONCURRENCY },
        entraIdProvider(entra, { concurrency: CONCURRENCY }),
      ],
    });
    // The quotas start (spent, as GRAPH_THROTTLE says) with the bulk, not with the emulator.
    entra.setThrottle(throttle);
    const t0 = Date.now();
    if (opts.progress) {
      ticker = setInterval(() => {
        const o = okta.requests;
        const g = entra.requests.all().filter((r) => r.server === 'graph' && r.path !== '/v1.0/$batch');
        console.log(
          `${((Date.now() - t0) / 1000).toFixed(0)} s: okta suspends ${o.filter((r) => r.path.endsWith('/suspend') && r.status === 200).length}, ` +
            `okta 429 ${o.filter((r) => r.status === 429).length}; graph patches ${g.filter((r) => r.method === 'PATCH' && r.status < 300).length}, graph 429 ${g.filter((r) => r.status === 429).length}`,
        );
      }, 5_000);
    }
    const ids = await createDisables(engine, n);
    const created = Date.now();
    const tasks: TaskView[] = [];
    for (const id of ids) tasks.push(await engine.waitForTask(id, 30 * 60_000));
    const targets = tasks.flatMap((t) => t.targets);
    const failed = (p: string) => targets.filter((t) => t.provider === p && t.status !== 'succeeded').length;
    const maxAttempts = (p: string) =>
      Math.max(...targets.filter((t) => t.provider === p).map((t) => t.attempts));
    const doneOk = (p: string) =>
      n === 0
        ? 0
        : tasks.filter((t) => t.targets.some((x) => x.provider === p && x.status === 'succeeded')).length;

    // Okta: each bucket's admitted requests against its limit.
    const windowMs = okta.rateLimits().windowMs;
    const oktaLast = Math.max(...okta.requests.map((r) => r.at));
    const perBucket = (Object.keys(oktaLimits) as OktaRateBucket[]).map((b) => {
      const admitted = okta.requests.filter((r) => r.bucket === b && r.status !== 429).length;
      return { bucket: b, admitted, minMs: (admitted / oktaLimits[b]) * windowMs };
    });
    const oktaBind = perBucket.reduce((a, b) => (b.minMs > a.minMs ? b : a));
    const oktaElapsed = oktaLast - t0;
    const lastOkta = okta.requests.reduce((a, r) => (r.at > a.at ? r : a));
    // When each window's last lifecycle call went out: shows a window the engine left unused.
    const lifecycleAt = okta.requests
      .filter((r) => r.bucket === oktaBind.bucket && r.status !== 429)
      .map((r) => r.at - t0);
    const oktaWindows = Math.ceil(oktaBind.admitted / oktaLimits[oktaBind.bucket]);

    // Graph: writes and resource units admitted (items of a $batch one by one; the envelope is not throttled).
    const graphReqs = entra.requests
      .all()
      .filter((r) => r.server === 'graph' && r.path !== '/v1.0/$batch' && r.status !== 429);
    const writes = graphReqs.filter((r) => r.method !== 'GET').length;
    const units = graphReqs.reduce(
      (sum, r) => sum + resourceUnitCost(r.method, r.path, new URLSearchParams(r.query)),
      0,
    );
    const graphLast = Math.max(...graphReqs.map((r) => r.time));
    const graphElapsed = graphLast - t0;
    const w = throttle.writes;
    const ru = throttle.resourceUnits;
    const writeMin = w ? (writes / w.limit) * w.periodMs : 0;
    const ruMin = ru ? (units / ru.limit) * ru.periodMs : 0;
    const graphMin = Math.max(writeMin, ruMin);
    const graph429 = entra.requests.all().filter((r) => r.status === 429).length;

    // Every user changed in both directories.
    const oktaSuspended = Array.from({ length: n }, (_, i) => okta.users.get(oktaId(i))?.status).filter(
      (s) => s === 'SUSPENDED',
    ).length;
    const entraDisabled = entraIds.filter((id) => entra.users.get(id)?.accountEnabled === false).length;

    const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const by = (opts.workers ?? 1) > 1 ? `, ${opts.workers} workers` : '';
    return [
      {
        name: `Okta bulk Disable, ${n} accounts${by}, Okta's per-endpoint limits (lifecycle ${oktaLimits['user-lifecycle']}/min)`,
        value:
          `${sec(oktaElapsed)} vs ${sec(oktaBind.minMs)} the limit allows ` +
          `(ratio ${(oktaElapsed / oktaBind.minMs).toFixed(2)})`,
        note:
          `binding bucket ${oktaBind.bucket}: ${oktaBind.admitted} requests at ${oktaLimits[oktaBind.bucket]} per ${sec(windowMs)} ` +
          `(${oktaWindows} windows; a fixed window admits its whole limit at once, so the floor is ${sec((oktaWindows - 1) * windowMs)} + the last window's work); ` +
          `${okta.requests.filter((r) => r.status === 429).length} × 429, ${failed('okta')} failed targets, ` +
          `${oktaBind.bucket} calls at ${sec(Math.min(...lifecycleAt))}..${sec(Math.max(...lifecycleAt))}, ` +
          `last request ${lastOkta.method} ${lastOkta.decodedPath} (${lastOkta.status}), ` +
          `${oktaSuspended}/${n} users SUSPENDED, ${doneOk('okta')} targets succeeded, at most ${maxAttempts('okta')} attempt(s) per target`,
      },
      {
        name: `Entra ID bulk Disable, ${n} accounts${by}, Graph's write quota (3,000 per 150 s per app+tenant)`,
        value:
          `${sec(graphElapsed)} vs ${sec(graphMin)} the limit allows ` +
          `(ratio ${(graphElapsed / graphMin).toFixed(2)})`,
        note:
          `${writes} writes (${sec(writeMin)} at ${w ? (w.limit / w.periodMs) * 1000 : '∞'}/s), ${units} resource units (${sec(ruMin)}); quotas start spent; ` +
          `${graph429} × 429 (sat out inside the target), ${failed('entra')} failed targets, ${entraDisabled}/${n} users disabled, ` +
          `at most ${maxAttempts('entra')} attempt(s) per target`,
      },
      {
        name: `Rate-limited bulk${by}: failed targets (${n} accounts × 2 directories)`,
        value: String(failed('okta') + failed('entra')),
        note: `tasks created in ${sec(created - t0)} (one bulk request)`,
      },
    ];
  } finally {
    clearInterval(ticker);
    await engine?.stop();
    await okta.stop();
    await entra.stop();
  }
}

/** The bulk: one POST of every account to the bulk route (CONTRACT §5), one task per account. */
async function createDisables(engine: TestEngine, n: number): Promise<string[]> {
  const accounts = Array.from({ length: n }, (_, i) => account(i));
  const res = await engine.request('POST', '/api/v1/tasks/disable-accounts', { body: { accounts } });
  if (res.status !== 207) throw new Error(`bulk create: ${res.status} ${JSON.stringify(res.body)}`);
  const items = res.body.items as Array<{
    account: string;
    status: number;
    taskId?: string;
    error?: unknown;
  }>;
  const refused = items.filter((x) => x.status !== 202);
  if (refused.length) throw new Error(`bulk create refused ${refused.length}: ${JSON.stringify(refused[0])}`);
  return items.map((x) => x.taskId as string);
}

/** About 100 s of each limit (Okta: 1,000 lifecycle calls at 600 a minute; Graph: 2,000 writes at 20 a second). */
export const DEFAULT_ACCOUNTS = 1_000;

/** `ts-node scripts/bench/rate-limited.ts [accounts]`: this part of the benchmark alone (BENCH_RATE_WORKERS=2 for two workers). */
if (require.main === module) {
  process.env.LOG_LEVEL = process.env.LOG_LEVEL || 'error';
  const accounts = Number(process.argv[2] || process.env.BENCH_RATE_ACCOUNTS || DEFAULT_ACCOUNTS);
  const workers = Number(process.env.BENCH_RATE_WORKERS || 1);
  benchRateLimited({ accounts, progress: true, workers })
    .then((rows) => {
      for (const r of rows) console.log(`${r.name}\n  ${r.value}\n  ${r.note}`);
      process.exit(0);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
