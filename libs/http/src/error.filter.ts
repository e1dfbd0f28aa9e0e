import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError } from '@app/domain';
import { AppLogger } from '@app/logging';

export interface ErrorEnvelope {
  error: { code: string; message: string; [detail: string]: unknown };
}

const CODES_BY_STATUS: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'notFound',
  405: 'methodNotAllowed',
  409: 'conflict',
  413: 'payloadTooLarge',
  415: 'unsupportedMediaType',
  422: 'unprocessableEntity',
  429: 'tooManyRequests',
};

/** A door that answers errors in its own vendor's shape (Vision One's `{"error": {code, message}}` words). */
type DoorErrorShape = (exception: unknown) => {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
};
const doorShapes: Array<{ path: RegExp; shape: DoorErrorShape }> = [];

/**
 * Lets a door shape the errors raised before its controller runs (malformed JSON, a body too large), which
 * only this global filter sees. Registered by the door's own module when it loads.
 */
export function registerDoorErrorShape(path: RegExp, shape: DoorErrorShape): void {
  doorShapes.push({ path, shape });
}

/** One error shape everywhere (CONTRACT §5); unknown failures become a 500 that reveals nothing inside. */
@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  constructor(private readonly logger: AppLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const path = host.switchToHttp().getRequest<{ path?: string }>().path ?? '';
    const door = doorShapes.find((d) => d.path.test(path));
    if (door) {
      const shaped = door.shape(exception);
      if (shaped.status >= 500 && shaped.status !== 503)
        this.logger.error('request failed', { error: exception as Error });
      if (res.headersSent) return;
      for (const [name, value] of Object.entries(shaped.headers ?? {})) res.setHeader(name, value);
      res.status(shaped.status).json(shaped.body);
      return;
    }
    const { status, body, headers } = toEnvelope(exception);
    if (status === 503)
      this.logger.warn('request refused: dependency unavailable', { code: body.error.code });
    else if (status >= 500) this.logger.error('request failed', { error: exception as Error });
    if (res.headersSent) return;
    for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
    res.status(status).json(body);
  }
}

/** How long a client should wait before trying again while PostgreSQL is unreachable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

export function toEnvelope(exception: unknown): {
  status: number;
  body: ErrorEnvelope;
  headers?: Record<string, string>;
} {
  if (isDatabaseUnavailable(exception)) {
    // CONTRACT §10: an outage is the server's trouble, not a bug: 503 with a time to come back, never 500.
    return {
      status: 503,
      headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
      body: {
        error: {
          code: 'databaseUnavailable',
          message: 'The database is unreachable; nothing was changed. Retry later.',
        },
      },
    };
  }
  if (exception instanceof DomainError) {
    const retryAfter = exception.details.retryAfterSeconds;
    return {
      status: exception.httpStatus,
      body: { error: { code: exception.code, message: exception.message, ...exception.details } },
      ...(typeof retryAfter === 'number' ? { headers: { 'Retry-After': String(retryAfter) } } : {}),
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const message =
      typeof response === 'object' && response && 'message' in response
        ? [(response as { message: unknown }).message].flat().join('; ')
        : exception.message;
    return { status, body: { error: { code: CODES_BY_STATUS[status] ?? 'error', message } } };
  }
  // body-parser errors (malformed JSON, too large) carry their own 4xx status.
  const e = exception as { status?: number; type?: string; message?: string };
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    const message =
      e.type === 'entity.parse.failed'
        ? 'The request body is not valid JSON.'
        : (e.message ?? 'Bad request.');
    return {
      status: e.status,
      body: { error: { code: CODES_BY_STATUS[e.status] ?? 'badRequest', message } },
    };
  }
  return { status: 500, body: { error: { code: 'internalError', message: 'An internal error occurred.' } } };
}

/** pg / PostgreSQL error codes that mean "cannot reach or use the server now", not "your query is wrong". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
  '53300', // too_many_connections
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
]);
const UNAVAILABLE_MESSAGE =
  /Driver not Connected|Connection terminated|timeout exceeded when trying to connect|Connection ended unexpectedly|Client has encountered a connection error|the database system is (starting up|shutting down)/i;

/**
 * What TypeORM throws when the session under a transaction was killed mid-way (it releases the connection on
 * the driver's error event, and the transaction's next query finds it gone).
 */
const UNAVAILABLE_ERROR_NAMES = new Set([
  'QueryRunnerProviderAlreadyReleasedError',
  'QueryRunnerAlreadyReleasedError',
]);

export function isDatabaseUnavailable(e: unknown): boolean {
  for (
    let x = e as { name?: unknown; code?: unknown; message?: unknown; driverError?: unknown } | undefined,
      i = 0;
    x && i < 3;
    i++
  ) {
    if (typeof x.name === 'string' && UNAVAILABLE_ERROR_NAMES.has(x.name)) return true;
    if (typeof x.code === 'string' && UNAVAILABLE_CODES.has(x.code)) return true;
    if (typeof x.message === 'string' && UNAVAILABLE_MESSAGE.test(x.message)) return true;
    x = x.driverError as typeof x;
  }
  return false;
}
