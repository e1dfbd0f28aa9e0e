import { formatRateLimit, parseRateLimit } from './rate-limit';

describe('rate limits as operators write them', () => {
  it.each([
    ['1000/1h', { max: 1000, windowSeconds: 3600 }],
    ['60/m', { max: 60, windowSeconds: 60 }],
    [' 10 / 30s ', { max: 10, windowSeconds: 30 }],
    ['5000/1d', { max: 5000, windowSeconds: 86_400 }],
  ])('parses %s', (spec, limit) => {
    expect(parseRateLimit(spec, 'limit')).toEqual(limit);
  });

  it.each(['', '1000', '0/1h', '10/0h', '-1/1h', '10/1w', '1e3/1h', '10/1h/2'])(
    'refuses %j with 400',
    (spec) => {
      expect(() => parseRateLimit(spec, 'limit')).toThrow(
        expect.objectContaining({ httpStatus: 400, code: 'invalidLimit' }),
      );
    },
  );

  it('writes a limit back the way it was given', () => {
    expect(formatRateLimit({ max: 1000, windowSeconds: 3600 })).toBe('1000/1h');
    expect(formatRateLimit({ max: 10, windowSeconds: 90 })).toBe('10/90s');
  });
});
