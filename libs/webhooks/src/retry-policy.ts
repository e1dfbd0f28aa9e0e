/**
 * What one attempt's result means for its delivery. Pure, so the rules are unit-tested without a network.
 */

/** A receiver's Retry-After never pushes the next attempt further than this: the schedule must still end. */
export const MAX_RETRY_AFTER_MS = 6 * 3_600_000;
/** Up to +10 % on each wait, so deliveries that failed together do not all come back at the same instant. */
const JITTER = 0.1;

export type AttemptErrorCode =
  | 'httpStatus'
  | 'redirectNotFollowed'
  | 'endpointGone'
  | 'timeout'
  | 'networkError'
  | 'destinationNotAllowed'
  | 'invalidUrl'
  | 'signingKeyUnavailable';

/** What the HTTP client saw. */
export type AttemptResult =
  | { kind: 'response'; statusCode: number; retryAfter?: string }
  | {
      kind: 'error';
      code: 'timeout' | 'networkError' | 'destinationNotAllowed' | 'invalidUrl';
      message: string;
    }
  | { kind: 'notSent'; code: 'signingKeyUnavailable'; message: string };

export interface AttemptVerdict {
  /** succeeded: done; retry: pending again at nextAttemptAt; failed: final. */
  status: 'succeeded' | 'retry' | 'failed';
  statusCode: number | null;
  error: { code: AttemptErrorCode; message: string } | null;
  nextAttemptAt: Date | null;
  /** A 410 Gone: the receiver asks never to be called again (Standard Webhooks). */
  disableDestination: boolean;
}

/**
 * @param attemptInRound attempts made so far since the delivery was created or last redelivered by hand,
 *   this one included (1 for the first).
 * @param scheduleMs the waits before the 2nd, 3rd… attempts.
 */
export function judgeAttempt(
  result: AttemptResult,
  attemptInRound: number,
  scheduleMs: readonly number[],
  now: Date,
  random: () => number = Math.random,
): AttemptVerdict {
  const retry = (
    error: { code: AttemptErrorCode; message: string },
    statusCode: number | null,
    retryAfterMs: number | null,
  ): AttemptVerdict => {
    const wait = nextWaitMs(attemptInRound, scheduleMs, retryAfterMs, random);
    if (wait === null) {
      return {
        status: 'failed',
        statusCode,
        error: { code: error.code, message: `${error.message}; gave up after ${attemptInRound} attempts` },
        nextAttemptAt: null,
        disableDestination: false,
      };
    }
    return {
      status: 'retry',
      statusCode,
      error,
      nextAttemptAt: new Date(now.getTime() + wait),
      disableDestination: false,
    };
  };
  const final = (
    error: { code: AttemptErrorCode; message: string },
    statusCode: number | null,
    disable = false,
  ): AttemptVerdict => ({
    status: 'failed',
    statusCode,
    error,
    nextAttemptAt: null,
    disableDestination: disable,
  });

  switch (result.kind) {
    case 'response': {
      const s = result.statusCode;
      if (s >= 200 && s < 300) {
        return {
          status: 'succeeded',
          statusCode: s,
          error: null,
          nextAttemptAt: null,
          disableDestination: false,
        };
      }
      if (s === 410)
        return final(
          { code: 'endpointGone', message: 'HTTP 410 Gone: the destination is disabled' },
          s,
          true,
        );
      const retryAfterMs = parseRetryAfter(result.retryAfter, now);
      if (s >= 300 && s < 400) {
        return retry(
          { code: 'redirectNotFollowed', message: `HTTP ${s}: redirects are not followed` },
          s,
          retryAfterMs,
        );
      }
      return retry({ code: 'httpStatus', message: `HTTP ${s}` }, s, retryAfterMs);
    }
    case 'error':
      // A refused destination or a URL we cannot send to will not change by waiting; an operator fixes the
      // configuration and redelivers.
      if (result.code === 'destinationNotAllowed' || result.code === 'invalidUrl') {
        return final({ code: result.code, message: result.message }, null);
      }
      return retry({ code: result.code, message: result.message }, null, null);
    case 'notSent':
      // A key missing from this process's configuration may be there after a fix and a restart.
      return retry({ code: result.code, message: result.message }, null, null);
  }
}

/** The wait before the next attempt, or null when the schedule is exhausted. */
export function nextWaitMs(
  attemptInRound: number,
  scheduleMs: readonly number[],
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number | null {
  if (attemptInRound > scheduleMs.length) return null;
  const scheduled = Math.round(scheduleMs[attemptInRound - 1] * (1 + JITTER * random()));
  if (retryAfterMs === null) return scheduled;
  return Math.max(scheduled, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. Anything else is ignored. */
export function parseRetryAfter(value: string | undefined, now: Date): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return null;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now.getTime());
}

/** The whole time the schedule keeps trying after the first attempt, without jitter. */
export function scheduleSpanMs(scheduleMs: readonly number[]): number {
  return scheduleMs.reduce((a, b) => a + b, 0);
}
