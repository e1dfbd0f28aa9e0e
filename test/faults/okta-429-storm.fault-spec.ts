import { FixtureUser, OktaEmulator, startOktaEmulator } from '../emulators/okta';
import { FaultEngine, report } from './harness/fault-engine';

const TASKS = 200;
/**
 * Suspends Okta admits per one-minute window (its lifecycle bucket; reads and session clears have buckets of
 * their own, wide enough here). A Disable makes one, so 200 need a second window: Okta's real shape, where the
 * wait is whatever is left of the minute.
 */
const LIMIT_PER_MINUTE = 150;
const WINDOW_MS = 60_000;
/**
 * 429s on top, as bursts from other API clients cause: X-Rate-Limit-Reset about a second away (the engine
 * waits at least one second whatever the header says), so each burst pauses the queue briefly.
 */
const BURSTS = [
  { method: 'GET', path: '/api/v1/users/*', times: 30 },
  { method: 'POST', path: '/api/v1/users/*/lifecycle/suspend', times: 30 },
  { method: 'DELETE', path: '/api/v1/users/*/sessions', times: 10 },
];

const id = (i: number) => `00ustorm${String(i).padStart(12, '0')}`;

/**
 * 429 storms from Okta: a tight per-minute limit plus bursts of 429s with X-Rate-Limit-Reset (and
 * Retry-After). A 429 pauses the whole Okta queue until the reset instead of failing targets, and waiting
 * out a limit does not use up a target's attempts as fast as failures do; so every task ends successful.
 */
describe('faults: Okta 429 storm', () => {
  let okta: OktaEmulator;
  let engine: FaultEngine;
  const users: FixtureUser[] = Array.from({ length: TASKS }, (_, i) => ({
    id: id(i),
    status: 'ACTIVE',
    sessions: 1,
    profile: { login: `storm${i}@example.com`, email: `storm${i}@example.com` },
  }));

  beforeAll(async () => {
    okta = await startOktaEmulator({
      fixture: {
        tokenOwner: 'admin@example.com',
        users: [
          ...users,
          {
            id: '00ustormADMIN0000001',
            status: 'ACTIVE',
            profile: { login: 'admin@example.com', email: 'admin@example.com' },
          },
        ],
      },
    });
    engine = await FaultEngine.start({
      label: 'okta429',
      providers: [{ id: 'okta', kind: 'okta', orgUrl: okta.orgUrl, token: okta.apiToken }],
      workers: 1,
      env: { WORKER_CONCURRENCY: '10' },
    });
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
    await okta?.stop();
  });

  it(`ends ${TASKS} Okta Disables successful through the storm, every user suspended`, async () => {
    okta.setRateLimits({ 'user-get': 2_000, 'user-lifecycle': LIMIT_PER_MINUTE, 'user-sessions': 1_200 });
    const reset = String(Math.ceil(Date.now() / 1000) + 1);
    for (const b of BURSTS) {
      okta.failNext(b.method, b.path, {
        status: 429,
        times: b.times,
        body: {
          errorCode: 'E0000047',
          errorSummary: 'API call exceeded rate limit due to too many requests.',
          errorLink: 'E0000047',
          errorId: 'oaeStorm',
          errorCauses: [],
        },
        headers: { 'X-Rate-Limit-Reset': reset, 'Retry-After': '1', 'X-Fault': 'burst' },
      });
    }
    const firstRequest = okta.requests.length;
    const started = Date.now();
    const results = await engine.postDisables(users.map((u) => u.profile.login));
    const accepted = results.filter((r) => r.status === 202).map((r) => r.id as string);
    expect(results.filter((r) => r.status !== 202)).toEqual([]);
    // Two windows at least, plus the pauses: well within three minutes.
    await engine.waitAllEnded(accepted, 180_000);
    const stormMs = Date.now() - started;

    const requests = okta.requests.slice(firstRequest);
    const bursts = requests.filter((r) => r.status === 429 && r.responseHeaders['x-fault'] === 'burst');
    const limited = requests.filter((r) => r.status === 429 && r.responseHeaders['x-fault'] !== 'burst');
    const admitted = requests.length - limited.length;
    const suspendsAdmitted = requests.filter((r) => r.bucket === 'user-lifecycle' && r.status !== 429).length;
    const windows = Math.ceil(suspendsAdmitted / LIMIT_PER_MINUTE);
    const c = await engine.counts(accepted);
    const notSuspended = users.filter((u) => okta.users.get(u.id)?.status !== 'SUSPENDED').map((u) => u.id);
    const sessionsLeft = users.filter((u) => (okta.users.get(u.id)?.sessions ?? 0) > 0).length;
    const warnings = await engine.query<{ code: string; n: number }>(
      `SELECT w->>'code' AS code, count(*)::int AS n FROM task_targets, jsonb_array_elements(warnings) w
        WHERE task_id = ANY($1) GROUP BY 1`,
      [accepted],
    );
    report('okta-429', {
      accepted: c.accepted,
      ended: c.ended,
      successful: c.byStatus.successful ?? 0,
      'suspended-in-okta': TASKS - notSuspended.length,
      'failed-targets': c.failedTargets,
      targets: c.targets,
      'okta-requests': requests.length,
      '429-limit': limited.length,
      '429-bursts': bursts.length,
      'retried-targets': c.retriedTargets,
      'max-attempts': c.maxAttempts,
      warnings: Object.fromEntries(warnings.map((w) => [w.code, w.n])),
      'users-with-sessions-left': sessionsLeft,
      'storm-ms': stormMs,
      'theoretical-min-ms': (windows - 1) * WINDOW_MS,
      limit: `${LIMIT_PER_MINUTE}/min`,
      'admitted-requests': admitted,
    });

    expect(c.byStatus).toEqual({ successful: TASKS });
    expect(c.failedTargets).toBe(0);
    expect(notSuspended).toEqual([]);
    expect(c.completedEventsNotOne).toBe(0);
    // The storm really happened: the limit bound (a window ran dry; the engine paces by Okta's headers, so it
    // is rarely refused for it) and the bursts were served.
    expect(windows).toBeGreaterThan(1);
    expect(
      requests.some(
        (r) => r.bucket === 'user-lifecycle' && r.responseHeaders['x-rate-limit-remaining'] === '0',
      ),
    ).toBe(true);
    expect(bursts.length).toBe(BURSTS.reduce((n, b) => n + b.times, 0));
  });
});
