import { DirectoryError, DirectoryErrorCodes, permanentError, transientError } from '../directory-error';
import { OktaTokenEndpointError } from './okta-token-error';

/** Okta-specific codes, beside the shared ones. */
export const OktaErrorCodes = {
  serverError: 'serverError',
  invalidRequest: 'invalidRequest',
} as const;

/** What OktaApiError (JSON body) and HttpError (other bodies) from @okta/okta-sdk-nodejs both carry. */
interface SdkHttpError {
  status: number;
  url?: string;
  errorCode?: string | number;
  errorSummary?: string;
  errorCauses?: { errorSummary?: string }[];
  errorId?: string;
  headers?: unknown;
}

// Okta's limits are per minute; with no usable headers, wait one window rather than hammer.
const FALLBACK_RATE_LIMIT_WAIT_MS = 60_000;
const MIN_RATE_LIMIT_WAIT_MS = 1_000;

function isSdkHttpError(e: unknown): e is SdkHttpError {
  return (
    !!e &&
    typeof e === 'object' &&
    typeof (e as { status?: unknown }).status === 'number' &&
    ['OktaApiError', 'HttpError'].includes((e as { name?: string }).name ?? '')
  );
}

function header(headers: unknown, name: string): string | null {
  if (!headers || typeof headers !== 'object') return null;
  const h = headers as { get?: (n: string) => string | null } & Record<string, unknown>;
  if (typeof h.get === 'function') return h.get(name);
  const key = Object.keys(h).find((k) => k.toLowerCase() === name);
  return key ? String(h[key]) : null;
}

/**
 * Okta's documented wait after a 429: X-Rate-Limit-Reset (epoch seconds) minus the response's Date header,
 * plus one second for the two clocks' sub-second difference (the SDK's DefaultRequestExecutor does the same).
 * Using Okta's own Date rather than our clock keeps a skewed local clock from shortening the pause.
 */
export function rateLimitWaitMs(headers: unknown, now: number = Date.now()): number {
  const reset = Number.parseInt(header(headers, 'x-rate-limit-reset') ?? '', 10);
  if (!Number.isFinite(reset)) return FALLBACK_RATE_LIMIT_WAIT_MS;
  const dateHeader = header(headers, 'date');
  const serverNow = dateHeader ? Date.parse(dateHeader) : Number.NaN;
  const base = Number.isFinite(serverNow) ? serverNow : now;
  return Math.max(MIN_RATE_LIMIT_WAIT_MS, reset * 1000 - base + 1000);
}

function describe(e: SdkHttpError): string {
  const causes = (e.errorCauses ?? []).map((c) => c.errorSummary).filter(Boolean);
  const parts = [`Okta HTTP ${e.status}`];
  if (e.errorCode) parts.push(String(e.errorCode));
  if (e.errorSummary) parts.push(e.errorSummary);
  let text = parts.join(' ');
  if (causes.length) text += ` (${causes.join('; ')})`;
  if (e.errorId) text += ` [errorId ${e.errorId}]`;
  return text;
}

/** Maps anything the SDK throws to a DirectoryError; never includes a token or the private key. */
export function mapOktaError(e: unknown): DirectoryError {
  if (e instanceof DirectoryError) return e;
  if (e instanceof OktaTokenEndpointError) return mapTokenEndpointError(e);
  if (isSdkHttpError(e)) return mapHttpError(e);
  const err = e as { name?: string; type?: string; code?: string; message?: string };
  if (err?.name === 'FetchError' || err?.type === 'system' || err?.type === 'request-timeout') {
    if (err.type === 'request-timeout' || err.type === 'body-timeout') {
      return transientError(
        DirectoryErrorCodes.timeout,
        `Okta did not answer in time: ${err.message ?? ''}`.trim(),
      );
    }
    if (err.code && /CERT|SSL|TLS|SIGNATURE|SELF_SIGNED/i.test(err.code)) {
      return permanentError(DirectoryErrorCodes.tlsError, `TLS failure talking to Okta: ${err.code}`);
    }
    return transientError(
      DirectoryErrorCodes.unreachable,
      `Okta unreachable: ${err.code ?? err.message ?? 'network error'}`,
    );
  }
  if (err?.message && /private key|JWK|PEM/i.test(err.message)) {
    return permanentError(
      DirectoryErrorCodes.invalidCredentials,
      'the OAuth private key cannot be used (expected an RSA or EC key in PEM or JWK form)',
    );
  }
  return transientError('unexpected', `unexpected Okta client failure: ${err?.message ?? String(e)}`);
}

function mapHttpError(e: SdkHttpError): DirectoryError {
  const text = describe(e);
  if (e.status === 429) {
    return transientError(DirectoryErrorCodes.rateLimited, text, rateLimitWaitMs(e.headers));
  }
  if (e.status >= 500) return transientError(OktaErrorCodes.serverError, text);
  switch (e.status) {
    case 401:
      return permanentError(DirectoryErrorCodes.invalidCredentials, text);
    case 403:
      return e.errorCode === 'E0000038'
        ? permanentError(DirectoryErrorCodes.wrongState, text)
        : permanentError(DirectoryErrorCodes.insufficientRights, text);
    case 404:
      return permanentError(DirectoryErrorCodes.notFound, text);
    case 400:
      return e.errorCode === 'E0000001'
        ? permanentError(DirectoryErrorCodes.wrongState, text)
        : permanentError(OktaErrorCodes.invalidRequest, text);
    default:
      return e.status === 408
        ? transientError(DirectoryErrorCodes.timeout, text)
        : permanentError(OktaErrorCodes.invalidRequest, text);
  }
}

function mapTokenEndpointError(e: OktaTokenEndpointError): DirectoryError {
  if (e.status === 429)
    return transientError(DirectoryErrorCodes.rateLimited, e.message, rateLimitWaitMs(e.headers));
  if (e.status >= 500) return transientError(OktaErrorCodes.serverError, e.message);
  return permanentError(
    DirectoryErrorCodes.invalidCredentials,
    `${e.message}. Okta refused the OAuth service app: check oauth.clientId, that the public key registered ` +
      'for the app matches oauth.privateKeyFile (and oauth.keyId), and that okta.users.read and ' +
      'okta.users.manage are granted to it',
  );
}
