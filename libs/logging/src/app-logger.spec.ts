import { AppLogger } from './app-logger';

describe('AppLogger', () => {
  it('writes one JSON line per entry and never writes a secret, however deep', () => {
    const lines: string[] = [];
    const logger = new AppLogger('test', 'debug', (l) => lines.push(l));
    logger.info('provider configured', {
      provider: { id: 'ad', bindPassword: 'hunter2', tls: { caFile: '/ca.pem' } },
      headers: { Authorization: 'Bearer are_abc', 'x-request-id': 'r1' },
      clientSecret: 's3cret',
      list: [{ token: 'tok' }],
    });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]);
    expect(entry).toMatchObject({ level: 'info', context: 'test', msg: 'provider configured' });
    expect(entry.provider.tls.caFile).toBe('/ca.pem');
    expect(entry.headers['x-request-id']).toBe('r1');
    for (const secret of ['hunter2', 'are_abc', 's3cret', 'tok"']) expect(lines[0]).not.toContain(secret);
  });

  it('logs a failed query with its stack but without its bound parameters (they may hold a callback token)', () => {
    const lines: string[] = [];
    const err = Object.assign(new Error('invalid byte sequence'), {
      query: 'INSERT INTO tasks (callback_url) VALUES ($1)',
      parameters: ['https://soar.example/hook?token=sekret-in-url'],
      driverError: Object.assign(new Error('invalid byte sequence'), { code: '22021' }),
    });
    new AppLogger('test', 'error', (l) => lines.push(l)).error('request failed', { error: err });
    const entry = JSON.parse(lines[0]);
    expect(entry.error.stack).toContain('invalid byte sequence');
    expect(entry.error.query).toContain('INSERT INTO tasks');
    expect(lines[0]).not.toContain('sekret-in-url');
  });

  it('drops entries below its level', () => {
    const lines: string[] = [];
    new AppLogger('test', 'warn', (l) => lines.push(l)).info('quiet');
    expect(lines).toEqual([]);
  });
});
