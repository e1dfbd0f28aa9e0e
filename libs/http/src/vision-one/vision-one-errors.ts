import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { AppLogger } from '@app/logging';
import { registerDoorErrorShape, toEnvelope } from '../error.filter';
import type { VisionOneError } from './vision-one-view';

/** Vision One's error codes (Trend's mock-up files) by HTTP status; the ones it does not show follow suit. */
const CODES_BY_STATUS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'AccessDenied',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'UnprocessableEntity',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
};

/** Messages as Trend's mock-up files word them, where they give one per status. */
const MESSAGES_BY_STATUS: Record<number, string> = {
  403: 'Insufficient permissions.',
  404: 'Not found.',
  500: 'Internal server error.',
};

export const visionOneCode = (status: number) =>
  CODES_BY_STATUS[status] ?? (status >= 500 ? 'InternalServerError' : 'BadRequest');

export interface VisionOneErrorBody {
  error: VisionOneError;
}

/** An answer of this door in Vision One's exact shape, thrown by the door itself. */
export class VisionOneHttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: VisionOneError,
  ) {
    super(error.message);
    this.name = 'VisionOneHttpError';
  }
}

/** `disable_400_invalid_format.json`: the whole request is refused, nothing is created. */
export function invalidRequestFormat(detail: string): VisionOneHttpError {
  return new VisionOneHttpError(400, {
    code: 'BadRequest',
    message: 'Invalid request format.',
    innererror: { code: 'invalidBody', message: detail },
  });
}

/** A query parameter (filter, top, dates, skipToken) Vision One would refuse; the message says what and where. */
export function invalidQuery(message: string): VisionOneHttpError {
  return new VisionOneHttpError(400, { code: 'BadRequest', message, innererror: { code: 'invalidQuery' } });
}

/**
 * Any failure in Vision One's words: the native envelope (so a DomainError, a database outage or a bug maps
 * exactly as on the native API) with Vision One's code on top and the native code kept in `innererror`.
 */
export function toVisionOneError(exception: unknown): {
  status: number;
  error: VisionOneError;
  headers: Record<string, string>;
} {
  if (exception instanceof VisionOneHttpError) {
    return { status: exception.status, error: exception.error, headers: {} };
  }
  const envelope = toEnvelope(exception);
  const headers =
    'headers' in envelope ? ((envelope.headers as Record<string, string> | undefined) ?? {}) : {};
  const { status } = envelope;
  const { code, message, ...details } = envelope.body.error;
  if (status === 500) {
    // Nothing about a bug leaves the process.
    return { status, error: { code: 'InternalServerError', message: MESSAGES_BY_STATUS[500] }, headers };
  }
  return {
    status,
    error: {
      code: visionOneCode(status),
      message: MESSAGES_BY_STATUS[status] ?? message,
      innererror: {
        code,
        ...(MESSAGES_BY_STATUS[status] ? { message } : {}),
        ...details,
      },
    },
    headers,
  };
}

// Errors raised before the controller runs (invalid JSON, a body too large) reach only the global filter.
registerDoorErrorShape(/^\/v3\.0\//i, (exception) => {
  const { status, error, headers } = toVisionOneError(exception);
  return { status, body: { error }, headers };
});

export function isServerFault(status: number): boolean {
  return status >= 500 && status !== 503;
}

/** Every answer of the Vision One-style controllers that is not a success is `{"error": {...}}` in Vision One's words. */
@Catch()
export class VisionOneExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: AppLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const { status, error, headers } = toVisionOneError(exception);
    if (status === 503) this.logger.warn('request refused: dependency unavailable', { code: error.code });
    else if (isServerFault(status)) this.logger.error('request failed', { error: exception as Error });
    if (res.headersSent) return;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.status(status).json({ error } satisfies VisionOneErrorBody);
  }
}
