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

/** One error shape everywhere (CONTRACT §5); unknown failures become a 500 that reveals nothing inside. */
@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  constructor(private readonly logger: AppLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = toEnvelope(exception);
    if (status >= 500) this.logger.error('request failed', { error: exception as Error });
    if (!res.headersSent) res.status(status).json(body);
  }
}

export function toEnvelope(exception: unknown): { status: number; body: ErrorEnvelope } {
  if (exception instanceof DomainError) {
    return {
      status: exception.httpStatus,
      body: { error: { code: exception.code, message: exception.message, ...exception.details } },
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
