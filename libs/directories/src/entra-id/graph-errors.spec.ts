import { graphFailure, retryAfterMs } from './graph-errors';

const body = (code: string, message: string) => ({
  error: { code, message, innerError: { 'request-id': 'r-1' } },
});

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates, and nothing else', () => {
    expect(retryAfterMs({ 'retry-after': '12' })).toBe(12_000);
    // The sample answer on Graph's throttling page.
    expect(retryAfterMs({ 'retry-after': '2.128' })).toBe(2_128);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }, now)).toBe(30_000);
    expect(retryAfterMs({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfterMs({})).toBeUndefined();
  });
});

describe('graphFailure', () => {
  it('recognises Graph refusing to change a user mastered on-premises', () => {
    const e = graphFailure(
      {
        status: 400,
        headers: {},
        body: body(
          'Request_BadRequest',
          'Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.',
        ),
      },
      'disabling the user',
      'User.EnableDisableAccount.All',
    );
    expect(e).toMatchObject({ code: 'managedOnPremises', transient: false });
  });

  it('keeps other 400s permanent and 5xx transient, quoting the request id', () => {
    const bad = graphFailure(
      { status: 400, headers: {}, body: body('Request_BadRequest', 'nope') },
      'x',
      'P',
    );
    expect(bad).toMatchObject({ code: 'graphRequestFailed', transient: false });
    expect(bad.message).toContain('request-id r-1');
    const down = graphFailure({ status: 504, headers: {}, body: undefined }, 'x', 'P');
    expect(down).toMatchObject({ code: 'graphUnavailable', transient: true });
  });
});
