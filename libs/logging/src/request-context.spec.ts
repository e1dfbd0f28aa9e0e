import { AppLogger } from './app-logger';
import { currentRequestContext, runWithRequestContext } from './request-context';

describe('request context on log lines', () => {
  const capture = () => {
    const lines: string[] = [];
    const logger = new AppLogger('test', 'debug', (l) => lines.push(l));
    return { logger, entries: () => lines.map((l) => JSON.parse(l)) };
  };

  it('adds the requestId of the request being served to every line, through awaits and timers', async () => {
    const { logger, entries } = capture();
    await runWithRequestContext({ requestId: 'r-1' }, async () => {
      logger.info('first');
      await new Promise((r) => setImmediate(r));
      logger.child('store').warn('after an await');
      await new Promise<void>((r) =>
        setTimeout(() => {
          logger.error('in a timer', { error: new Error('boom') });
          r();
        }, 0),
      );
    });
    logger.info('outside');
    const [first, awaited, timer, outside] = entries();
    expect(first).toMatchObject({ requestId: 'r-1', msg: 'first' });
    expect(awaited).toMatchObject({ requestId: 'r-1', context: 'store' });
    expect(timer).toMatchObject({ requestId: 'r-1', error: { message: 'boom' } });
    expect(timer.error.stack).toContain('boom');
    expect(outside).not.toHaveProperty('requestId');
  });

  it('keeps concurrent requests apart', async () => {
    const { logger, entries } = capture();
    const serve = (id: string) =>
      runWithRequestContext({ requestId: id }, async () => {
        for (let i = 0; i < 3; i++) {
          await new Promise((r) => setImmediate(r));
          logger.info('step', { expected: id });
        }
      });
    await Promise.all([serve('a'), serve('b'), serve('c')]);
    expect(entries()).toHaveLength(9);
    for (const e of entries()) expect(e.requestId).toBe(e.expected);
    expect(currentRequestContext()).toBeUndefined();
  });

  it('still redacts secrets on lines that carry a requestId', () => {
    const { logger, entries } = capture();
    runWithRequestContext({ requestId: 'r-2' }, () => logger.info('call', { apiKey: 'are_secret' }));
    expect(entries()[0]).toMatchObject({ requestId: 'r-2', apiKey: '[redacted]' });
  });
});
