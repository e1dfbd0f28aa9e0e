import { readFileSync } from 'node:fs';
import {
  AuthError,
  ClientConfigurationError,
  ConfidentialClientApplication,
  Configuration,
  LogLevel,
  ServerError,
} from '@azure/msal-node';
import { EntraIdProviderConfig } from '@app/config';
import { AppLogger } from '@app/logging';
import { DirectoryError, DirectoryErrorCodes, permanentError, transientError } from '../directory-error';

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/**
 * App-only tokens for Microsoft Graph through msal-node's ConfidentialClientApplication. msal keeps the token in
 * its in-memory cache and only goes to the token endpoint when the cached one is missing or near expiry, so
 * callers ask for a token on every request.
 */
export class EntraTokenProvider {
  private readonly app: ConfidentialClientApplication;
  private readonly scopes: string[];
  /** Set when Graph refused a token: the next acquisition bypasses msal's cache. */
  private refreshBefore?: string;
  private lastToken?: string;
  private inFlight?: Promise<string>;

  constructor(
    config: EntraIdProviderConfig,
    graphBaseUrl: string,
    private readonly timeoutMs: number,
    logger: AppLogger,
  ) {
    const authorityHost = (config.authorityHost ?? DEFAULT_AUTHORITY_HOST).replace(/\/+$/, '');
    const msalConfig: Configuration = {
      auth: {
        clientId: config.clientId,
        authority: `${authorityHost}/${config.tenantId}`,
        // The authority comes from the operator's configuration, not from user input, so it is trusted as given.
        // Without this msal would validate it through instance discovery at login.microsoftonline.com, which
        // air-gapped sovereign clouds (and Azure Stack) cannot reach.
        knownAuthorities: [new URL(authorityHost).host],
        ...credential(config),
      },
      system: {
        loggerOptions: {
          piiLoggingEnabled: false,
          logLevel: LogLevel.Warning,
          loggerCallback: (level, message) => {
            if (level <= LogLevel.Warning) logger.warn('msal', { message });
          },
        },
      },
    };
    this.app = new ConfidentialClientApplication(msalConfig);
    this.scopes = [`${graphBaseUrl}/.default`];
  }

  /** A valid access token, from msal's cache when it holds one. */
  async getToken(): Promise<string> {
    // Concurrent callers share one acquisition, so a burst of jobs never races several token requests.
    this.inFlight ??= this.acquire().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** The next getToken asks Entra ID for a new token (a provider test must see the roles granted now). */
  forceRefresh(): void {
    if (this.lastToken) this.refreshBefore = this.lastToken;
  }

  /** Graph refused this token (expired early, revoked, keys rolled): the next getToken fetches a fresh one. */
  invalidate(token: string): void {
    if (token === this.lastToken) this.refreshBefore = token;
  }

  private async acquire(): Promise<string> {
    const skipCache = this.refreshBefore !== undefined && this.refreshBefore === this.lastToken;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            transientError(
              DirectoryErrorCodes.timeout,
              `token request to Entra ID timed out after ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      );
    });
    try {
      const result = await Promise.race([
        this.app.acquireTokenByClientCredential({ scopes: this.scopes, skipCache }),
        timeout,
      ]);
      if (!result?.accessToken) {
        throw transientError('tokenUnavailable', 'Entra ID returned no access token');
      }
      this.refreshBefore = undefined;
      this.lastToken = result.accessToken;
      return result.accessToken;
    } catch (e) {
      throw mapMsalError(e);
    } finally {
      clearTimeout(timer);
    }
  }
}

function credential(
  config: EntraIdProviderConfig,
): Pick<Configuration['auth'], 'clientSecret' | 'clientCertificate'> {
  if (config.clientSecret) return { clientSecret: config.clientSecret };
  if (!config.certificate) throw new Error(`provider ${config.id}: clientSecret or certificate is required`);
  const { thumbprint, privateKeyFile } = config.certificate;
  const hex = thumbprint.replace(/[\s:]/g, '');
  let pem: string;
  try {
    pem = readFileSync(privateKeyFile, 'utf8');
  } catch (e) {
    throw new Error(
      `provider ${config.id}: certificate.privateKeyFile ${privateKeyFile} cannot be read: ${(e as Error).message}`,
      { cause: e },
    );
  }
  // The file may be a bundle (key plus certificate, as exported for the portal upload); msal needs the key only.
  const key = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(
    pem,
  )?.[0];
  if (!key)
    throw new Error(
      `provider ${config.id}: certificate.privateKeyFile ${privateKeyFile} holds no unencrypted PEM private key`,
    );
  // The portal shows the SHA-1 thumbprint (40 hex digits, sent as x5t with RS256); a SHA-256 one (64 digits) is
  // sent as x5t#S256 with PS256, which Entra also accepts.
  if (/^[0-9a-f]{40}$/i.test(hex)) return { clientCertificate: { thumbprint: hex, privateKey: key } };
  if (/^[0-9a-f]{64}$/i.test(hex)) return { clientCertificate: { thumbprintSha256: hex, privateKey: key } };
  throw new Error(
    `provider ${config.id}: certificate.thumbprint must be a SHA-1 (40) or SHA-256 (64) hex thumbprint`,
  );
}

/** The first line of an AADSTS description: says what is wrong without trace ids or anything secret. */
function aadstsReason(message: string): string | undefined {
  return /AADSTS\d+:[^\r\n]*/.exec(message)?.[0].trim();
}

function mapMsalError(e: unknown): DirectoryError {
  if (e instanceof DirectoryError) return e;
  if (e instanceof ServerError) {
    const reason = aadstsReason(e.errorMessage) ?? e.errorCode;
    const status = e.status ?? 0;
    if (e.errorCode === 'invalid_client' || e.errorCode === 'unauthorized_client') {
      return permanentError(
        DirectoryErrorCodes.invalidCredentials,
        `Entra ID refused the app's credentials: ${reason}`,
      );
    }
    if (status === 429 || status >= 500 || e.errorCode === 'temporarily_unavailable') {
      return transientError(
        DirectoryErrorCodes.unreachable,
        `Entra ID token endpoint unavailable: ${reason}`,
      );
    }
    return permanentError(
      'invalidConfiguration',
      `Entra ID refused the token request (${e.errorCode}): ${reason}`,
    );
  }
  if (e instanceof ClientConfigurationError) {
    return permanentError(
      'invalidConfiguration',
      `msal configuration error: ${e.errorCode}: ${e.errorMessage}`,
    );
  }
  if (e instanceof AuthError) {
    // network_error, endpoints_resolution_error, openid_config_error: the authority could not be reached or
    // did not answer as expected, which a later attempt may not see.
    return transientError(
      DirectoryErrorCodes.unreachable,
      `cannot reach Entra ID: ${e.errorCode}: ${e.errorMessage}`,
    );
  }
  return transientError(
    DirectoryErrorCodes.unreachable,
    `cannot reach Entra ID: ${(e as Error)?.message ?? String(e)}`,
  );
}
