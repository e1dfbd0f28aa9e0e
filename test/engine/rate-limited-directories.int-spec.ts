import { entraIdProvider, EntraEmulator, startEntraEmulator } from '../emulators/entra-id';
import { OktaEmulator, startOktaEmulator } from '../emulators/okta';
import { startEngine, TestEngine } from '../harness/engine';

const ACCOUNTS = 100;
const account = (i: number) => `paced${String(i).padStart(4, '0')}@corp.example`;
const oktaId = (i: number) => `00upaced${String(i).padStart(12, '0')}`;

/**
 * Okta with Okta's shape of limits (a fixed window per endpoint family, X-Rate-Limit-* on every answer), made
 * short and tight so that 100 Disables need several windows: one lifecycle call per target, 20 per window.
 */
const OKTA_WINDOW_MS = 2_000;
const OKTA_LIMITS = { 'user-get': 60, 'user-lifecycle': 20, 'user-sessions': 20 };
/**
 * Graph's shape: per-app token buckets answering 429 with Retry-After. A Disable makes two writes and five
 * requests in all, so writes bind: 5 per second, well under what the engine does unthrottled here.
 */
const GRAPH_THROTTLE = {
  writes: { limit: 10, periodMs: 2_000 },
  resourceUnits: { limit: 40, periodMs: 2_000 },
};

/**
 * A bulk far beyond what the directories' rate limits admit at once: the engine waits for the limits instead
 * of failing targets, so every target succeeds, every user is disabled, and no target spends more than an
 * attempt or two however many windows the bulk takes.
 */
describe('engine: Okta and Entra ID at the pace of their rate limits', () => {
  let okta: OktaEmulator;
  let entra: EntraEmulator;
  let engine: TestEngine;
  const entraIds: string[] = [];

  beforeAll(async () => {
    okta = await startOktaEmulator({
      fixture: {
        users: Array.from({ length: ACCOUNTS }, (_, i) => ({
          id: oktaId(i),
          status: 'ACTIVE' as const,
          sessions: 1,
          profile: { login: account(i), email: account(i) },
        })),
      },
      rateLimitWindowMs: OKTA_WINDOW_MS,
      rateLimits: OKTA_LIMITS,
    });
    entra = await startEntraEmulator({ throttle: GRAPH_THROTTLE });
    for (let i = 0; i < ACCOUNTS; i++)
      entraIds.push(entra.users.add({ userPrincipalName: account(i), mail: account(i) }).id);
    engine = await startEngine({
      label: 'ratelimited',
      providers: [
        { id: 'okta', kind: 'okta', orgUrl: okta.orgUrl, token: okta.apiToken, concurrency: 10 },
        entraIdProvider(entra, { concurrency: 10 }),
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await engine?.stop();
    await okta?.stop();
    await entra?.stop();
  });

  it(`ends ${ACCOUNTS} Disables successful on both, every user suspended or disabled`, async () => {
    const ids = await createDisables(engine, ACCOUNTS);
    const tasks = [];
    for (const id of ids) tasks.push(await engine.waitForTask(id, 240_000));

    const failed = tasks.flatMap((t) => t.targets.filter((x) => x.status !== 'succeeded'));
    expect(failed).toEqual([]);
    expect(tasks.map((t) => t.status)).toEqual(tasks.map(() => 'successful'));
    for (let i = 0; i < ACCOUNTS; i++) {
      expect(okta.users.get(oktaId(i))).toMatchObject({ status: 'SUSPENDED', sessions: 0 });
      expect(entra.users.get(entraIds[i])?.accountEnabled).toBe(false);
      expect(entra.users.sessionRevocations(entraIds[i])).toBeGreaterThanOrEqual(1);
    }

    // The limits did bind: Okta needed one window per 20 suspends, Graph answered 429s (sat out by the targets).
    const suspends = okta.requests.filter((r) => r.path.endsWith('/lifecycle/suspend') && r.status === 200);
    expect(suspends).toHaveLength(ACCOUNTS);
    const windows = new Set(suspends.map((r) => Math.floor((r.receivedAt - suspends[0].receivedAt) / 2_000)));
    expect(windows.size).toBeGreaterThanOrEqual(ACCOUNTS / OKTA_LIMITS['user-lifecycle'] - 1);
    expect(entra.requests.all().some((r) => r.status === 429)).toBe(true);

    // Okta's headers let the engine stay inside every window: not one 429 from Okta.
    expect(okta.requests.filter((r) => r.status === 429)).toEqual([]);
    // Waiting for a limit is not an attempt: targets were claimed once (a second only if Graph's Retry-After
    // outlasted what a target sits out).
    const attempts = tasks.flatMap((t) => t.targets.map((x) => x.attempts));
    expect(Math.max(...attempts)).toBeLessThanOrEqual(2);
    expect(tasks.flatMap((t) => t.targets.filter((x) => x.provider === 'okta' && x.attempts !== 1))).toEqual(
      [],
    );
  }, 300_000);
});

/** One Disable per account through the single-task route, a few at a time. */
async function createDisables(engine: TestEngine, n: number): Promise<string[]> {
  const ids: string[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < n; i = next++) {
        const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
          body: { account: account(i) },
        });
        if (res.status !== 202)
          throw new Error(`create ${account(i)}: ${res.status} ${JSON.stringify(res.body)}`);
        ids[i] = res.body.id;
      }
    }),
  );
  return ids;
}
