import { isDatabaseUnavailable, toEnvelope } from './error.filter';

describe('database outages answer 503, not 500', () => {
  it.each([
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    ],
    [
      'an admin shutdown',
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    ],
    [
      'a query whose session was killed mid-transaction',
      Object.assign(new Error('released'), { name: 'QueryRunnerAlreadyReleasedError' }),
    ],
    [
      'the same, from the provider',
      Object.assign(new Error('released'), { name: 'QueryRunnerProviderAlreadyReleasedError' }),
    ],
    [
      'a driver that lost its pool',
      Object.assign(new Error('Driver not Connected'), { name: 'TypeORMError' }),
    ],
    ['a wrapped pg error', Object.assign(new Error('x'), { driverError: { code: '08006' } })],
  ])('%s', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
    const { status, headers, body } = toEnvelope(error);
    expect(status).toBe(503);
    expect(headers).toEqual({ 'Retry-After': '5' });
    expect(body.error.code).toBe('databaseUnavailable');
  });

  it('leaves a query error that is the request’s own fault alone', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('invalid input syntax'), { code: '22P02' }))).toBe(
      false,
    );
    expect(toEnvelope(new Error('bug')).status).toBe(500);
  });
});
