import { declaredFamilies, parsePrometheusText, sampleValue } from '../../../test/harness/prometheus';
import { AppMetrics } from './app-metrics';
import { metricsAuthorized } from './metrics-auth';

const scrape = async (m: AppMetrics) => parsePrometheusText(await m.render());

describe('AppMetrics', () => {
  it('exports the CONTRACT §10 families and the process metrics under the are_ prefix', async () => {
    const text = await new AppMetrics().render();
    const families = declaredFamilies(text);
    expect(Object.fromEntries(families)).toMatchObject({
      are_tasks_created_total: 'counter',
      are_tasks_completed_total: 'counter',
      are_target_duration_seconds: 'histogram',
      are_target_attempts_total: 'counter',
      are_directory_errors_total: 'counter',
      are_queue_jobs: 'gauge',
      are_http_requests_total: 'counter',
      are_http_request_duration_seconds: 'histogram',
      are_webhook_deliveries_total: 'counter',
      are_reconciler_requeued_total: 'counter',
      are_process_cpu_user_seconds_total: 'counter',
      are_nodejs_eventloop_lag_seconds: 'gauge',
    });
    expect([...families.keys()].every((name) => name.startsWith('are_'))).toBe(true);
  });

  it('lets two applications of one process (the API and a worker) keep registries of their own', async () => {
    const api = new AppMetrics();
    const worker = new AppMetrics();
    api.taskCreated('disableAccount');
    expect(sampleValue(await scrape(api), 'are_tasks_created_total', { action: 'disableAccount' })).toBe(1);
    expect(sampleValue(await scrape(worker), 'are_tasks_created_total', { action: 'disableAccount' })).toBe(
      0,
    );
  });

  it('starts task counters at zero for every action and final status, so a first increment is seen', async () => {
    const samples = await scrape(new AppMetrics());
    for (const status of ['successful', 'partiallySuccessful', 'unsuccessful'])
      expect(sampleValue(samples, 'are_tasks_completed_total', { action: 'enableAccount', status })).toBe(0);
    expect(sampleValue(samples, 'are_tasks_completed_total', { status: 'inProgress' })).toBeUndefined();
  });

  it('folds label values that are not short words into "other": no id, account or token becomes a series', async () => {
    const m = new AppMetrics();
    m.directoryError('ldap', 'connection refused: 10.0.0.1');
    m.directoryError('ldap', 'x'.repeat(65));
    m.httpRequest('BREW', '/api/v1/tasks/:id', 200, 0.01);
    m.httpRequest('get', 'GET /x?token=abc', 404, 0.01);
    const samples = await scrape(m);
    expect(sampleValue(samples, 'are_directory_errors_total', { provider: 'ldap', code: 'other' })).toBe(2);
    expect(
      sampleValue(samples, 'are_http_requests_total', { method: 'other', route: '/api/v1/tasks/:id' }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'are_http_requests_total', { method: 'GET', route: 'other', status: '404' }),
    ).toBe(1);
    expect(await m.render()).not.toContain('token=abc');
  });

  it('records an attempt once, with its duration, outcome and result', async () => {
    const m = new AppMetrics();
    m.declareProviders(['ldap']);
    const timer = m.targetAttempt('ldap', 'openLdap');
    timer.end('succeeded', 'disabled');
    timer.end('failed');
    m.targetAttempt('ldap', 'openLdap').end('retried');
    const samples = await scrape(m);
    const labels = { provider: 'ldap', kind: 'openLdap' };
    expect(
      sampleValue(samples, 'are_target_duration_seconds_count', { ...labels, outcome: 'disabled' }),
    ).toBe(1);
    expect(sampleValue(samples, 'are_target_duration_seconds_count', { ...labels, outcome: 'retried' })).toBe(
      1,
    );
    expect(sampleValue(samples, 'are_target_attempts_total', { provider: 'ldap', result: 'succeeded' })).toBe(
      1,
    );
    expect(sampleValue(samples, 'are_target_attempts_total', { provider: 'ldap', result: 'failed' })).toBe(0);
    expect(sampleValue(samples, 'are_target_attempts_total', { provider: 'ldap', result: 'waited' })).toBe(0);
  });

  it('reads queue counts at scrape time; a paused or rate-limited queue reports its waiting jobs as paused', async () => {
    const m = new AppMetrics();
    m.readQueueJobsFrom(async () => [
      {
        provider: 'okta',
        counts: { waiting: 5, active: 2, delayed: 1, failed: 0 },
        paused: false,
        rateLimitedMs: 30_000,
      },
      {
        provider: 'ldap',
        counts: { waiting: 3, active: 1, delayed: 0, failed: 4 },
        paused: false,
        rateLimitedMs: 0,
      },
    ]);
    const samples = await scrape(m);
    const q = (provider: string, state: string) =>
      sampleValue(samples, 'are_queue_jobs', { provider, state });
    expect([q('okta', 'waiting'), q('okta', 'paused'), q('okta', 'active')]).toEqual([0, 5, 2]);
    expect([q('ldap', 'waiting'), q('ldap', 'paused'), q('ldap', 'failed')]).toEqual([3, 0, 4]);
    expect(sampleValue(samples, 'are_queue_rate_limited_seconds', { provider: 'okta' })).toBe(30);
  });

  it('leaves the queue series out, and still answers, when Redis does not', async () => {
    const m = new AppMetrics();
    m.readQueueJobsFrom(() => Promise.reject(new Error('ECONNREFUSED')));
    m.readTasksInProgressFrom(async () => [{ action: 'disableAccount', count: 2, oldestAgeSeconds: 90 }]);
    const samples = await scrape(m);
    expect(sampleValue(samples, 'are_queue_jobs')).toBeUndefined();
    expect(sampleValue(samples, 'are_tasks_in_progress', { action: 'disableAccount' })).toBe(2);
    expect(sampleValue(samples, 'are_tasks_in_progress', { action: 'enableAccount' })).toBe(0);
    expect(sampleValue(samples, 'are_task_oldest_in_progress_seconds', { action: 'disableAccount' })).toBe(
      90,
    );
  });
});

describe('metricsAuthorized', () => {
  const token = 'a-metrics-token-0123456789';
  it('lets every scrape in without METRICS_TOKEN', () => {
    expect(metricsAuthorized(undefined, null)).toBe(true);
  });
  it('wants the exact bearer token when METRICS_TOKEN is set', () => {
    expect(metricsAuthorized(`Bearer ${token}`, token)).toBe(true);
    expect(metricsAuthorized(`bearer ${token}`, token)).toBe(true);
    expect(metricsAuthorized(undefined, token)).toBe(false);
    expect(metricsAuthorized(`Bearer ${token}x`, token)).toBe(false);
    expect(metricsAuthorized(token, token)).toBe(false);
    expect(metricsAuthorized(['Bearer', token], token)).toBe(false);
  });
});
