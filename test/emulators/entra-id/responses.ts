import { randomUUID } from 'node:crypto';

/** What a handler answers; the server (or the $batch handler) turns it into an HTTP response or a batch item. */
export interface EmulatorResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface EmulatorRequest {
  method: string;
  /** Path without query, e.g. /v1.0/users/abc. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  /** Raw body text (form-encoded for the token endpoint, JSON for Graph). */
  rawBody: string;
  /** Parsed JSON body when the request carried one (batch items pass it already parsed). */
  json?: unknown;
  /** Sequence number of the top-level HTTP request (batch items carry their $batch's). */
  seq?: number;
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

/**
 * Graph's error shape (https://learn.microsoft.com/graph/errors): code, message and an innerError with the date
 * (no fractional seconds, no zone, as Graph writes it) and the request ids.
 */
export function graphError(
  status: number,
  code: string,
  message: string,
  clientRequestId?: string,
): EmulatorResponse {
  const requestId = randomUUID();
  return {
    status,
    headers: { ...JSON_HEADERS, 'request-id': requestId, 'client-request-id': clientRequestId ?? requestId },
    body: {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().slice(0, 19),
          'request-id': requestId,
          'client-request-id': clientRequestId ?? requestId,
        },
      },
    },
  };
}

/** The default body an injected fault carries when the test gives none, as Graph would write it. */
export function defaultFaultBody(status: number, clientRequestId?: string): EmulatorResponse {
  const known: Record<number, [string, string]> = {
    400: ['Request_BadRequest', 'Invalid request.'],
    401: ['InvalidAuthenticationToken', 'Access token has expired or is not yet valid.'],
    403: ['Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'],
    404: ['Request_ResourceNotFound', 'Resource does not exist.'],
    429: ['TooManyRequests', 'Too many requests.'],
    500: ['InternalServerError', 'An internal server error occurred.'],
    502: ['BadGateway', 'Bad gateway.'],
    503: ['ServiceUnavailable', 'The service is temporarily unavailable.'],
    504: ['GatewayTimeout', 'The gateway timed out.'],
  };
  const [code, message] = known[status] ?? ['UnknownError', `HTTP ${status}`];
  return graphError(status, code, message, clientRequestId);
}

/**
 * The STS's OAuth error shape: error, error_description carrying the AADSTS code plus trace/correlation lines,
 * error_codes, timestamp, trace_id, correlation_id, error_uri.
 */
export function stsError(
  status: number,
  error: string,
  aadsts: number,
  description: string,
  authorityHost: string,
  correlationId?: string,
): EmulatorResponse {
  const traceId = randomUUID();
  const correlation = correlationId ?? randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return {
    status,
    headers: JSON_HEADERS,
    body: {
      error,
      error_description: `AADSTS${aadsts}: ${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${timestamp}`,
      error_codes: [aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlation,
      error_uri: `${authorityHost}/error?code=${aadsts}`,
    },
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): EmulatorResponse {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body };
}
