import { DirectoryError, DirectoryErrorCodes, permanentError, transientError } from '../directory-error';
import { GraphResponse, graphErrorOf } from './graph-types';

/** Graph's answer to a PATCH of a property that on-premises AD masters (microsoft-graph-docs issue #7301). */
const ON_PREMISES_MASTERED = /on-premises mastered Directory Sync objects/i;

/**
 * Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). Graph's throttling page shows fractional seconds
 * (`Retry-After: 2.128`), which Date.parse would otherwise read as a date.
 */
export function retryAfterMs(headers: Record<string, string>, now = Date.now()): number | undefined {
  const v = headers['retry-after'];
  if (v === undefined) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.ceil(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The DirectoryError for a Graph answer that is not a success. `what` names the operation for the message,
 * `permission` the application permission it needs (quoted in 403 messages so the operator knows what to grant).
 */
export function graphFailure(res: GraphResponse, what: string, permission: string): DirectoryError {
  const { code, message, requestId } = graphErrorOf(res);
  const detail = `${code}: ${message}${requestId ? ` (request-id ${requestId})` : ''}`;
  const status = res.status;
  if (status === 429) {
    return transientError(
      DirectoryErrorCodes.rateLimited,
      `Graph throttled ${what}: ${detail}`,
      retryAfterMs(res.headers),
    );
  }
  if (status === 401) {
    return permanentError(
      DirectoryErrorCodes.invalidCredentials,
      `Graph refused the app's access token for ${what} even after a fresh token: ${detail}`,
    );
  }
  if (status === 403) {
    return permanentError(
      DirectoryErrorCodes.insufficientRights,
      `Graph denied ${what}: ${detail}. The app registration needs the ${permission} application permission with admin consent (and, for privileged users, a directory role that may change them).`,
    );
  }
  if (status === 404)
    return permanentError(
      DirectoryErrorCodes.notFound,
      `${what}: the user no longer exists in Entra ID (${detail})`,
    );
  if (status === 400 && ON_PREMISES_MASTERED.test(message)) {
    return permanentError(
      'managedOnPremises',
      `${what}: the user is synced from on-premises Active Directory, so Entra ID refuses the change; disable or enable it in Active Directory (configure an activeDirectory provider to have it done there).`,
    );
  }
  if (status === 408 || status >= 500) {
    return transientError(
      'graphUnavailable',
      `Graph could not complete ${what} (HTTP ${status}): ${detail}`,
      retryAfterMs(res.headers),
    );
  }
  return permanentError('graphRequestFailed', `Graph refused ${what} (HTTP ${status}): ${detail}`);
}
