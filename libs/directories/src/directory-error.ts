/**
 * A failure a directory adapter understood. `transient` decides whether the engine retries; `retryAfterMs`
 * (from Retry-After or X-Rate-Limit-Reset) tells it how long the directory asked us to wait, and makes the
 * worker pause that provider's queue rather than only this job.
 */
export class DirectoryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly transient: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DirectoryError';
  }
}

export const transientError = (code: string, message: string, retryAfterMs?: number) =>
  new DirectoryError(code, message, true, retryAfterMs);

export const permanentError = (code: string, message: string) => new DirectoryError(code, message, false);

/** Error codes shared across adapters, so that results read the same whatever the directory. */
export const DirectoryErrorCodes = {
  ambiguousAccount: 'ambiguousAccount',
  invalidCredentials: 'invalidCredentials',
  insufficientRights: 'insufficientRights',
  unreachable: 'directoryUnreachable',
  timeout: 'timeout',
  tlsError: 'tlsError',
  rateLimited: 'rateLimited',
  wrongState: 'wrongState',
  verificationFailed: 'verificationFailed',
  notFound: 'notFound',
} as const;
