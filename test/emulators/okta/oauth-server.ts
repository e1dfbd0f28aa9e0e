import { generateKeyPairSync, KeyObject, randomBytes, verify } from 'node:crypto';

/**
 * The org authorization server's token endpoint for an API service app using private-key JWT client
 * authentication (developer.okta.com "Implement OAuth for Okta with a service app"): `POST /oauth2/v1/token`,
 * form-encoded `grant_type=client_credentials`, `scope`, `client_assertion_type=...jwt-bearer`,
 * `client_assertion=<JWT signed with the app's private key>`. The assertion must carry iss = sub = client id,
 * aud = the token endpoint URL, exp at most one hour ahead; a jti may not be used twice.
 * Errors use the OAuth 2.0 shape (`error`, `error_description`), not Okta's E-code shape.
 */
export interface OAuthClientRegistration {
  clientId: string;
  keyId: string;
  publicKey: KeyObject;
  privateKeyPem: string;
  grantedScopes: string[];
}

export interface IssuedToken {
  clientId: string;
  scopes: string[];
  expiresAt: number;
}

export interface OAuthResult {
  status: number;
  body: Record<string, unknown>;
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALGORITHMS: Record<string, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512' };
const TOKEN_LIFETIME_S = 3600;

export function registerServiceApp(grantedScopes: string[]): OAuthClientRegistration {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    clientId: '0oa' + randomBytes(12).toString('hex').slice(0, 17),
    keyId: 'emulator-key-' + randomBytes(4).toString('hex'),
    publicKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    grantedScopes,
  };
}

const oauthError = (status: number, error: string, description: string): OAuthResult => ({
  status,
  body: { error, error_description: description },
});

function decodeSegment(segment: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export class OAuthServer {
  private readonly usedJti = new Set<string>();
  readonly tokens = new Map<string, IssuedToken>();

  constructor(
    private readonly app: OAuthClientRegistration,
    private readonly tokenEndpointUrl: () => string,
  ) {}

  token(form: URLSearchParams): OAuthResult {
    if (form.get('grant_type') !== 'client_credentials') {
      return oauthError(400, 'unsupported_grant_type', 'The authorization grant type is not supported.');
    }
    if (form.get('client_assertion_type') !== ASSERTION_TYPE || !form.get('client_assertion')) {
      return oauthError(401, 'invalid_client', 'Client authentication failed.');
    }
    const failure = this.checkAssertion(form.get('client_assertion') as string);
    if (failure) return oauthError(401, 'invalid_client', failure);

    const requested = (form.get('scope') ?? '').split(' ').filter(Boolean);
    if (requested.length === 0) return oauthError(400, 'invalid_scope', 'The scope parameter is required.');
    const refused = requested.filter((s) => !this.app.grantedScopes.includes(s));
    if (refused.length) {
      return oauthError(400, 'invalid_scope', `The following scopes are not allowed: ${refused.join(', ')}`);
    }
    const accessToken = randomBytes(32).toString('base64url');
    this.tokens.set(accessToken, {
      clientId: this.app.clientId,
      scopes: requested,
      expiresAt: Date.now() + TOKEN_LIFETIME_S * 1000,
    });
    return {
      status: 200,
      body: {
        token_type: 'Bearer',
        expires_in: TOKEN_LIFETIME_S,
        access_token: accessToken,
        scope: requested.join(' '),
      },
    };
  }

  /** The scopes of a live access token, or null when the token is unknown or expired. */
  introspect(accessToken: string): IssuedToken | null {
    const t = this.tokens.get(accessToken);
    return t && t.expiresAt > Date.now() ? t : null;
  }

  /** Test helper: expire every issued token, as an hour passing would. */
  expireAllTokens(): void {
    for (const t of this.tokens.values()) t.expiresAt = 0;
  }

  private checkAssertion(jwt: string): string | null {
    const parts = jwt.split('.');
    if (parts.length !== 3) return 'The client_assertion is not a valid JWT.';
    const header = decodeSegment(parts[0]);
    const claims = decodeSegment(parts[1]);
    if (!header || !claims) return 'The client_assertion is not a valid JWT.';
    const hash = ALGORITHMS[String(header.alg)];
    if (!hash) return `The client_assertion signature algorithm ${String(header.alg)} is not supported.`;
    if (header.kid !== undefined && header.kid !== this.app.keyId) {
      return 'The client_assertion token has a kid which does not identify a public key for the client.';
    }
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2], 'base64url');
    if (!verify(hash, signed, this.app.publicKey, signature)) {
      return 'The client_assertion signature is invalid.';
    }
    if (claims.iss !== this.app.clientId || claims.sub !== this.app.clientId) {
      return 'The client_assertion token is not issued by the client (iss/sub).';
    }
    if (claims.aud !== this.tokenEndpointUrl())
      return 'The audience claim for client_assertion must be the endpoint invoked for the request.';
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp <= now) return 'The client_assertion token is expired.';
    const iat = typeof claims.iat === 'number' ? claims.iat : now;
    if (claims.exp - iat > 3600) return 'The client_assertion token has an expiration too far in the future.';
    if (typeof claims.jti === 'string') {
      if (this.usedJti.has(claims.jti)) return 'The client_assertion token has already been used.';
      this.usedJti.add(claims.jti);
    }
    return null;
  }
}
