import { DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS, loadWebhookConfig } from '@app/config';
import {
  judgeAttempt,
  MAX_RETRY_AFTER_MS,
  nextWaitMs,
  parseRetryAfter,
  scheduleSpanMs,
} from './retry-policy';

const HOUR = 3_600_000;
const now = new Date('2026-01-01T00:00:00Z');
const noJitter = () => 0;

describe('retry schedule', () => {
  it('by default keeps retrying for at least 24 hours (CONTRACT §8), as Svix does', () => {
    expect(scheduleSpanMs(DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS)).toBeGreaterThanOrEqual(24 * HOUR);
    expect(DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS).toEqual([
      5_000,
      300_000,
      1_800_000,
      2 * HOUR,
      5 * HOUR,
      10 * HOUR,
      10 * HOUR,
    ]);
    expect(loadWebhookConfig({}).retryScheduleMs).toEqual(DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS);
  });

  it('walks the schedule, then gives up', () => {
    const schedule = [100, 200];
    expect(nextWaitMs(1, schedule, null, noJitter)).toBe(100);
    expect(nextWaitMs(2, schedule, null, noJitter)).toBe(200);
    expect(nextWaitMs(3, schedule, null, noJitter)).toBeNull();
    // Jitter only lengthens a wait, by at most 10 %.
    expect(nextWaitMs(1, schedule, null, () => 0.999)).toBeLessThanOrEqual(110);
  });

  it('honours Retry-After when it asks for longer, within a cap', () => {
    expect(nextWaitMs(1, [100], 1_000, noJitter)).toBe(1_000);
    expect(nextWaitMs(1, [5_000], 1_000, noJitter)).toBe(5_000);
    expect(nextWaitMs(1, [100], 30 * 24 * HOUR, noJitter)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('1', now)).toBe(1_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});

describe('judgeAttempt', () => {
  const schedule = [1_000, 2_000];
  const judge = (r: Parameters<typeof judgeAttempt>[0], n = 1) => judgeAttempt(r, n, schedule, now, noJitter);

  it('2xx is delivered', () => {
    expect(judge({ kind: 'response', statusCode: 204 })).toMatchObject({
      status: 'succeeded',
      statusCode: 204,
      error: null,
    });
  });

  it('3xx, 4xx, 5xx, timeouts and network errors are retried on the schedule', () => {
    expect(judge({ kind: 'response', statusCode: 302 })).toMatchObject({
      status: 'retry',
      error: { code: 'redirectNotFollowed' },
      nextAttemptAt: new Date(now.getTime() + 1_000),
    });
    expect(judge({ kind: 'response', statusCode: 500 })).toMatchObject({
      status: 'retry',
      error: { code: 'httpStatus' },
    });
    expect(judge({ kind: 'response', statusCode: 400 }, 2)).toMatchObject({
      status: 'retry',
      nextAttemptAt: new Date(now.getTime() + 2_000),
    });
    expect(judge({ kind: 'error', code: 'timeout', message: 't' })).toMatchObject({
      status: 'retry',
      error: { code: 'timeout' },
    });
    expect(judge({ kind: 'error', code: 'networkError', message: 'n' })).toMatchObject({ status: 'retry' });
    expect(judge({ kind: 'response', statusCode: 503, retryAfter: '5' })).toMatchObject({
      nextAttemptAt: new Date(now.getTime() + 5_000),
    });
  });

  it('gives up after the last scheduled attempt', () => {
    const v = judge({ kind: 'response', statusCode: 500 }, 3);
    expect(v).toMatchObject({ status: 'failed', nextAttemptAt: null, error: { code: 'httpStatus' } });
    expect(v.error?.message).toMatch(/gave up after 3 attempts/);
  });

  it('410 Gone ends the delivery and disables the destination', () => {
    expect(judge({ kind: 'response', statusCode: 410 })).toMatchObject({
      status: 'failed',
      disableDestination: true,
      error: { code: 'endpointGone' },
    });
  });

  it('a refused destination is final: waiting will not change the policy', () => {
    expect(judge({ kind: 'error', code: 'destinationNotAllowed', message: 'd' })).toMatchObject({
      status: 'failed',
      disableDestination: false,
      error: { code: 'destinationNotAllowed' },
    });
  });
});
