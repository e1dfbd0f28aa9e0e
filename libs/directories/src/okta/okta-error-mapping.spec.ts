import { OktaApiError } from '@okta/okta-sdk-nodejs';
import { mapOktaError, rateLimitWaitMs } from './okta-error-mapping';
import { searchEquals } from './okta-search';
import { OktaTokenEndpointError } from './okta-token-error';

const apiError = (status: number, errorCode: string, headers: Record<string, string> = {}) =>
  new OktaApiError(
    'https://example.okta.com/api/v1/users/x',
    status,
    { errorCode, errorSummary: 'summary', errorLink: errorCode, errorId: 'oae1', errorCauses: [] },
    // The SDK hands over node-fetch Headers; a Map has the same get().
    new Map(Object.entries(headers)) as never,
  );

describe('Okta error mapping', () => {
  it.each([
    [401, 'E0000011', 'invalidCredentials', false],
    [403, 'E0000006', 'insufficientRights', false],
    [403, 'E0000038', 'wrongState', false],
    [404, 'E0000007', 'notFound', false],
    [400, 'E0000001', 'wrongState', false],
    [400, 'E0000003', 'invalidRequest', false],
    [500, 'E0000009', 'serverError', true],
    [503, 'E0000010', 'serverError', true],
  ])('HTTP %i %s becomes %s (transient: %s)', (status, code, expected, transient) => {
    expect(mapOktaError(apiError(status, code))).toMatchObject({ code: expected, transient });
  });

  it('waits from X-Rate-Limit-Reset minus the Date header plus one second', () => {
    const date = 'Tue, 01 Jul 2025 12:00:00 GMT';
    const reset = String(Date.parse(date) / 1000 + 30);
    const err = mapOktaError(apiError(429, 'E0000047', { 'x-rate-limit-reset': reset, date }));
    expect(err).toMatchObject({ code: 'rateLimited', transient: true, retryAfterMs: 31_000 });
  });

  it('uses the local clock without a Date header and a minute without a reset header', () => {
    const now = 1_750_000_000_000;
    expect(rateLimitWaitMs(new Map([['x-rate-limit-reset', String(now / 1000 + 10)]]), now)).toBe(11_000);
    expect(rateLimitWaitMs(new Map(), now)).toBe(60_000);
  });

  it('maps token endpoint refusals by status, keeping OAuth error text', () => {
    const refused = mapOktaError(
      new OktaTokenEndpointError(401, 'invalid_client', 'bad signature', new Map()),
    );
    expect(refused).toMatchObject({ code: 'invalidCredentials', transient: false });
    expect(refused.message).toContain('invalid_client');
    expect(mapOktaError(new OktaTokenEndpointError(503, undefined, undefined, new Map()))).toMatchObject({
      transient: true,
    });
  });

  it('maps node-fetch network failures and timeouts as transient', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), {
      name: 'FetchError',
      type: 'system',
      code: 'ECONNREFUSED',
    });
    const timeout = Object.assign(new Error('network timeout'), {
      name: 'FetchError',
      type: 'request-timeout',
    });
    expect(mapOktaError(refused)).toMatchObject({ code: 'directoryUnreachable', transient: true });
    expect(mapOktaError(timeout)).toMatchObject({ code: 'timeout', transient: true });
  });
});

describe('Okta search expressions', () => {
  it('quotes values as JSON strings, so quotes and backslashes cannot end the string', () => {
    expect(searchEquals('profile.email', 'a"b\\c@example.com')).toBe(
      'profile.email eq "a\\"b\\\\c@example.com"',
    );
  });
});
