import { VisionOneHttpError } from './vision-one-errors';
import { decodeSkipToken, encodeSkipToken, parseDateTime, parseListQuery } from './vision-one-query';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    if (e instanceof VisionOneHttpError) {
      expect(e.status).toBe(400);
      expect(e.error.code).toBe('BadRequest');
      return e.error.message;
    }
    throw e;
  }
  throw new Error('accepted');
}

describe('Vision One list query', () => {
  it('defaults to 50 newest tasks by creation time, with no filter', () => {
    expect(parseListQuery({})).toEqual({
      top: 50,
      echo: [['top', '50']],
      search: {
        where: undefined,
        dateField: 'createdAt',
        from: undefined,
        to: undefined,
        beforeSeq: undefined,
      },
    });
  });

  it.each(['50', '100', '200'])('accepts top=%s', (top) => {
    expect(parseListQuery({ top }).top).toBe(Number(top));
  });

  it.each(['0', '10', '51', '1000', '-50', '50.0', '1e2', ' 50', 'fifty', ''])('refuses top=%j', (top) => {
    expect(refusal(() => parseListQuery({ top }))).toContain('top');
  });

  it('refuses a parameter given twice or as an object', () => {
    expect(refusal(() => parseListQuery({ top: ['50', '100'] }))).toContain('top');
    expect(refusal(() => parseListQuery({ filter: { a: '1' } }))).toContain('filter');
  });

  it('repeats what defines the listing in the next link, and bounds the chosen time', () => {
    const q = parseListQuery({
      filter: "status eq 'failed'",
      top: '100',
      startDateTime: '2021-04-05T00:00:00Z',
      endDateTime: '2021-04-06T00:00:00+02:00',
      dateTimeTarget: 'lastActionDateTime',
    });
    expect(q.echo).toEqual([
      ['filter', "status eq 'failed'"],
      ['top', '100'],
      ['startDateTime', '2021-04-05T00:00:00Z'],
      ['endDateTime', '2021-04-06T00:00:00+02:00'],
      ['dateTimeTarget', 'lastActionDateTime'],
    ]);
    expect(q.search.dateField).toBe('updatedAt');
    expect(q.search.from?.toISOString()).toBe('2021-04-05T00:00:00.000Z');
    expect(q.search.to?.toISOString()).toBe('2021-04-05T22:00:00.000Z');
  });

  it('turns a filter syntax error into a 400 that says where', () => {
    expect(refusal(() => parseListQuery({ filter: "status eq 'running' and" }))).toMatch(
      /^Invalid filter at position 24: expected a field name/,
    );
  });

  it('refuses a range that ends before it starts, and an unknown dateTimeTarget', () => {
    expect(
      refusal(() =>
        parseListQuery({ startDateTime: '2021-04-06T00:00:00Z', endDateTime: '2021-04-05T00:00:00Z' }),
      ),
    ).toContain('after');
    expect(refusal(() => parseListQuery({ dateTimeTarget: 'updatedDateTime' }))).toContain('dateTimeTarget');
  });
});

describe('ISO 8601 date-times', () => {
  it.each([
    ['2021-04-05T08:22:37Z', '2021-04-05T08:22:37.000Z'],
    ['2021-04-05T08:22Z', '2021-04-05T08:22:00.000Z'],
    ['2021-04-05T08:22:37.5Z', '2021-04-05T08:22:37.500Z'],
    ['2021-04-05T08:22:37.123456789Z', '2021-04-05T08:22:37.123Z'],
    ['2021-04-05T08:22:37+05:30', '2021-04-05T02:52:37.000Z'],
    ['2021-04-05t08:22:37z', '2021-04-05T08:22:37.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59Z', '9999-12-31T23:59:59.000Z'],
  ])('reads %s', (text, iso) => {
    expect(parseDateTime('startDateTime', text).toISOString()).toBe(iso);
  });

  it.each([
    'yesterday',
    '2021-04-05',
    '2021-04-05T08:22:37',
    '2021-04-05 08:22:37Z',
    '2021-02-29T00:00:00Z',
    '2021-04-31T00:00:00Z',
    '2021-13-01T00:00:00Z',
    '2021-04-05T24:00:00Z',
    '2021-04-05T08:60:00Z',
    '2021-04-05T08:22:60Z',
    '2021-04-05T08:22:37+24:00',
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00+01:00',
    '9999-12-31T23:59:59-01:00',
    '+275760-09-13T00:00:00.000Z',
    '-000001-01-01T00:00:00Z',
    '10000-01-01T00:00:00Z',
    '1617610957',
  ])('refuses %s', (text) => {
    expect(refusal(() => parseDateTime('endDateTime', text))).toContain('endDateTime');
  });
});

describe('skipToken', () => {
  it('round-trips a task sequence number', () => {
    expect(decodeSkipToken(encodeSkipToken('42'))).toBe('42');
    expect(decodeSkipToken(encodeSkipToken('9223372036854775807'))).toBe('9223372036854775807');
  });

  it.each([
    '%%%',
    'abc',
    '',
    encodeSkipToken('0'),
    encodeSkipToken('-1'),
    encodeSkipToken('9223372036854775808'),
    encodeSkipToken('1 OR 1=1'),
    Buffer.from('seq:1').toString('base64'), // padded: not what the engine hands out
  ])('refuses %j', (token) => {
    expect(refusal(() => decodeSkipToken(token))).toContain('skipToken');
  });
});
