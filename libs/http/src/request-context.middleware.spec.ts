import { EventEmitter } from 'node:events';
import type { ArgumentsHost } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppLogger } from '@app/logging';
import { AppMetrics } from '@app/metrics';
import { ErrorEnvelopeFilter } from './error.filter';
import { acceptRequestId, requestContextMiddleware, routePattern } from './request-context.middleware';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('acceptRequestId', () => {
  it.each(['abc', 'req-2024.11_23:17/42', '!'.repeat(128), 'a~Z'])('keeps %p', (id) => {
    expect(acceptRequestId(id)).toBe(id);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['too long', 'a'.repeat(129)],
    ['with a space', 'a b'],
    ['with CR LF (a forged header or log line)', 'a\r\nSet-Cookie: x'],
    ['non-ASCII', 'café'],
    ['repeated (an array)', ['a', 'b']],
  ])('replaces one %s with a new UUID', (_why, given) => {
    expect(acceptRequestId(given)).toMatch(UUID);
  });
});

/** Just enough of Express for the middleware: headers in, headers and the 'close' event out. */
function fakeExchange(over: Partial<Request> = {}) {
  const headers: Record<string, string> = {};
  const res = Object.assign(new EventEmitter(), {
    statusCode: 200,
    writableFinished: true,
    headersSent: false,
    setHeader: (k: string, v: string) => (headers[k.toLowerCase()] = v),
    status(code: number) {
      this.statusCode = code;
      return this;
    },
    json() {
      return this;
    },
  });
  const req = { method: 'GET', headers: {}, originalUrl: '/', url: '/', baseUrl: '', ...over };
  return { req: req as unknown as Request, res: res as unknown as Response & EventEmitter, headers };
}

describe('requestContextMiddleware', () => {
  const setup = () => {
    const lines: string[] = [];
    const logger = new AppLogger('api', 'debug', (l) => lines.push(l));
    const metrics = new AppMetrics();
    return {
      logger,
      metrics,
      entries: () => lines.map((l) => JSON.parse(l)),
      mw: requestContextMiddleware({ logger, metrics }),
    };
  };

  it('puts the id on the response and on the lines of the request, a 500 with its stack', () => {
    const { logger, mw, entries } = setup();
    const { req, res, headers } = fakeExchange({
      headers: { 'x-request-id': 'given-1' },
      route: { path: '/api/v1/tasks/:id' },
      originalUrl: '/api/v1/tasks/42?token=sekret',
    } as Partial<Request>);
    const filter = new ErrorEnvelopeFilter(logger);
    const host = {
      switchToHttp: () => ({ getResponse: () => res, getRequest: () => req }),
    } as unknown as ArgumentsHost;
    const next: NextFunction = () => filter.catch(new Error('kaboom'), host);
    mw(req as never, res, next);
    res.emit('close');

    expect(headers['x-request-id']).toBe('given-1');
    const [failed, access] = entries();
    expect(failed).toMatchObject({ requestId: 'given-1', level: 'error', msg: 'request failed' });
    expect(failed.error.stack).toContain('kaboom');
    expect(access).toMatchObject({
      requestId: 'given-1',
      msg: 'request',
      method: 'GET',
      route: '/api/v1/tasks/:id',
      path: '/api/v1/tasks/42',
      status: 500,
    });
    expect(JSON.stringify(entries())).not.toContain('sekret');
  });

  it('counts a caller that hung up before the answer as 499, under the unmatched route when none matched', async () => {
    const { mw, metrics, entries } = setup();
    const { req, res } = fakeExchange({ originalUrl: '/nowhere/9f1c' });
    (res as unknown as { writableFinished: boolean }).writableFinished = false;
    mw(req as never, res, () => undefined);
    res.emit('close');
    expect(entries()[0]).toMatchObject({ status: 499, route: 'unmatched' });
    const text = await metrics.render();
    expect(text).toContain('are_http_requests_total{method="GET",route="unmatched",status="499"} 1');
    expect(text).not.toContain('9f1c');
  });

  it('names the API key by its name only', () => {
    const { mw, entries } = setup();
    const { req, res } = fakeExchange();
    Object.assign(req, {
      principal: { name: 'soar', keyId: 'k1' },
      headers: { authorization: 'Bearer are_x' },
    });
    mw(req as never, res, () => undefined);
    res.emit('close');
    expect(entries()[0].keyName).toBe('soar');
    expect(JSON.stringify(entries())).not.toContain('are_x');
  });
});

describe('routePattern', () => {
  it('joins a router mount path to the route, and never falls back to the URL', () => {
    expect(routePattern({ baseUrl: '/v', route: { path: '/:id' } } as unknown as Request)).toBe('/v/:id');
    expect(routePattern({ baseUrl: '', url: '/secret/1' } as unknown as Request)).toBe('unmatched');
  });
});
