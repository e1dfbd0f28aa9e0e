import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppLogger, runWithRequestContext } from '@app/logging';
import type { AppMetrics } from '@app/metrics';

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** Visible ASCII only: the id goes into a response header and log lines, where CR, LF or spaces could forge. */
const VALID_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** Requests that matched no route: their URLs must not become label values (ids, probes, tokens). */
export const UNMATCHED_ROUTE = 'unmatched';
/** nginx's "client closed request": the caller hung up before the answer was written. */
const CLIENT_CLOSED = 499;
const MAX_LOGGED_PATH = 512;

/** The caller's X-Request-Id when it is 1 to 128 visible ASCII characters; otherwise a new UUID. */
export function acceptRequestId(given: unknown): string {
  return typeof given === 'string' && VALID_REQUEST_ID.test(given) ? given : randomUUID();
}

interface RoutedRequest extends Request {
  principal?: { name?: string };
}

/**
 * The first middleware of the API. Gives each request its id (echoed on every response, errors included),
 * runs the rest of the request inside that id's log context, and when the response is done writes one access
 * log line and counts the request by its route pattern.
 */
export function requestContextMiddleware(deps: { logger: AppLogger; metrics?: AppMetrics }) {
  const logger = deps.logger.child('http');
  return (req: RoutedRequest, res: Response, next: NextFunction): void => {
    const requestId = acceptRequestId(req.headers['x-request-id']);
    const started = process.hrtime.bigint();
    res.setHeader(REQUEST_ID_HEADER, requestId);
    // 'close' comes after 'finish' for an answered request, and alone when the caller hung up first.
    res.once('close', () => {
      const durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED;
      const route = routePattern(req);
      deps.metrics?.httpRequest(req.method, route, status, durationSeconds);
      const fields = {
        requestId,
        method: req.method,
        route,
        path: pathWithoutQuery(req.originalUrl ?? req.url),
        status,
        durationMs: Math.round(durationSeconds * 1e4) / 10,
        ...(req.principal?.name ? { keyName: req.principal.name } : {}),
      };
      if (status >= 500) logger.warn('request', fields);
      else logger.info('request', fields);
    });
    runWithRequestContext({ requestId }, next);
  };
}

/**
 * The route Express matched (`/api/v1/tasks/:id`), never the URL. Express keeps `req.route` after the handler
 * ran; a request no route matched (404s, Swagger's static files) has none.
 */
export function routePattern(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return UNMATCHED_ROUTE;
  return (req.baseUrl ?? '') + path;
}

/** Query strings may carry secrets (a callback token, a key pasted into a URL): the path alone is logged. */
function pathWithoutQuery(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path;
}
