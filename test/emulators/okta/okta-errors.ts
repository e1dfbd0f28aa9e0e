import { randomBytes } from 'node:crypto';

/** Okta's error body, field for field (developer.okta.com/docs/reference/error-codes). */
export interface OktaErrorBody {
  errorCode: string;
  errorSummary: string;
  errorLink: string;
  errorId: string;
  errorCauses: { errorSummary: string }[];
}

export interface EmulatedError {
  status: number;
  body: OktaErrorBody;
}

// Okta's errorId values look like `oae` followed by 22 url-safe characters; support quotes them.
function errorId(): string {
  return 'oae' + randomBytes(16).toString('base64url').slice(0, 22);
}

export function oktaError(
  status: number,
  code: string,
  summary: string,
  causes: string[] = [],
): EmulatedError {
  return {
    status,
    body: {
      errorCode: code,
      errorSummary: summary,
      // Okta puts the code itself in errorLink.
      errorLink: code,
      errorId: errorId(),
      errorCauses: causes.map((errorSummary) => ({ errorSummary })),
    },
  };
}

export const invalidToken = () => oktaError(401, 'E0000011', 'Invalid token provided');
export const accessDenied = () =>
  oktaError(403, 'E0000006', 'You do not have permission to perform the requested action');
export const userNotFound = (key: string) =>
  oktaError(404, 'E0000007', `Not found: Resource not found: ${key} (User)`);
export const pathNotFound = () => oktaError(404, 'E0000008', 'The requested path was not found');
export const rateLimited = () =>
  oktaError(429, 'E0000047', 'API call exceeded rate limit due to too many requests.');
export const internalError = () => oktaError(500, 'E0000009', 'Internal Server Error');
/** The exact summary Okta uses for a lifecycle call in the wrong state is unconfirmed; the code and status are. */
export const wrongState = (operation: string, status: string) =>
  oktaError(400, 'E0000001', `Api validation failed: ${operation}`, [
    `${operation}: this operation is not allowed for a user with status ${status}`,
  ]);
export const invalidSearch = (detail: string) =>
  oktaError(400, 'E0000031', 'Invalid search criteria.', [detail]);
