import {
  constants,
  createHash,
  generateKeyPairSync,
  KeyObject,
  randomUUID,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import { EmulatorRequest, EmulatorResponse, json, stsError } from './responses';

export interface AppRegistration {
  displayName: string;
  clientId: string;
  /** Service principal object id in the tenant (the token's oid). */
  objectId: string;
  secrets: string[];
  certificates: X509Certificate[];
  /** Application permissions (app roles) granted with admin consent on Microsoft Graph. */
  roles: string[];
}

export interface Tenant {
  id: string;
  domain: string;
}

export interface IssuedTokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  appid: string;
  oid: string;
  tid: string;
  roles: string[];
  idtyp: 'app';
  ver: '1.0';
  uti: string;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * The Microsoft identity platform's v2.0 endpoints as msal-node uses them for the client-credentials grant:
 * OpenID discovery, instance discovery, the JWKS and the token endpoint, with Entra's error answers for bad
 * client credentials.
 */
export class SecurityTokenService {
  private readonly signingKey: KeyObject;
  private readonly publicKey: KeyObject;
  readonly keyId = randomUUID().replace(/-/g, '');
  private readonly issued: string[] = [];
  /** Token ids (uti) that no longer pass Graph, as if they had expired or been revoked. */
  private readonly invalidated = new Set<string>();
  tokenLifetimeSeconds = 3599;

  constructor(
    private readonly tenant: Tenant,
    private readonly apps: AppRegistration[],
    private readonly origin: () => string,
    private readonly graphBaseUrl: () => string,
  ) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.signingKey = privateKey;
    this.publicKey = publicKey;
  }

  private tenantMatches(segment: string): boolean {
    const s = segment.toLowerCase();
    return s === this.tenant.id || s === this.tenant.domain.toLowerCase();
  }

  handle(req: EmulatorRequest): EmulatorResponse | null {
    const host = this.origin();
    if (req.method === 'GET' && req.path === '/common/discovery/instance') {
      // Answers as the global endpoint does for a host it does not list: the host is its own alias.
      const authority = new URL(req.query.get('authorization_endpoint') ?? host);
      return json(200, {
        tenant_discovery_endpoint: `${authority.origin}/${this.tenant.id}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [
          { preferred_network: authority.host, preferred_cache: authority.host, aliases: [authority.host] },
        ],
      });
    }
    let m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(req.path);
    if (m && req.method === 'GET') {
      if (!this.tenantMatches(m[1])) return this.tenantNotFound(m[1]);
      const t = this.tenant.id;
      return json(200, {
        token_endpoint: `${host}/${t}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        jwks_uri: `${host}/${t}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${host}/${t}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: `${host}/oidc/userinfo`,
        authorization_endpoint: `${host}/${t}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${host}/${t}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${host}/${t}/oauth2/v2.0/logout`,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid'],
        kerberos_endpoint: `${host}/${t}/kerberos`,
        tenant_region_scope: 'EU',
        cloud_instance_name: new URL(host).host,
        cloud_graph_host_name: new URL(this.graphBaseUrl()).host,
        msgraph_host: new URL(this.graphBaseUrl()).host,
      });
    }
    m = /^\/([^/]+)\/discovery\/v2\.0\/keys$/.exec(req.path);
    if (m && req.method === 'GET') {
      const jwk = this.publicKey.export({ format: 'jwk' });
      return json(200, {
        keys: [{ kty: 'RSA', use: 'sig', kid: this.keyId, x5t: this.keyId, n: jwk.n, e: jwk.e }],
      });
    }
    m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(req.path);
    if (m && req.method === 'POST') return this.token(m[1], new URLSearchParams(req.rawBody), req);
    return null;
  }

  private tenantNotFound(segment: string): EmulatorResponse {
    return stsError(
      400,
      'invalid_request',
      90002,
      `Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      this.origin(),
    );
  }

  private token(tenantSegment: string, form: URLSearchParams, req: EmulatorRequest): EmulatorResponse {
    const host = this.origin();
    const correlation = req.headers['client-request-id'];
    const err = (status: number, error: string, code: number, text: string) =>
      stsError(status, error, code, text, host, correlation);
    if (!this.tenantMatches(tenantSegment)) return this.tenantNotFound(tenantSegment);
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials') {
      return err(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grant}'.`,
      );
    }
    const clientId = form.get('client_id') ?? '';
    const app = this.apps.find((a) => a.clientId === clientId.toLowerCase());
    if (!app) {
      return err(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.tenant.domain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    const resource = this.graphBaseUrl();
    const scope = form.get('scope') ?? '';
    const scopes = scope.split(' ').filter(Boolean);
    if (!scopes.includes(`${resource}/.default`)) {
      return err(
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }

    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (!app.secrets.includes(secret)) {
        return err(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
        );
      }
    } else if (assertion !== null) {
      if (form.get('client_assertion_type') !== JWT_BEARER) {
        return err(
          400,
          'invalid_request',
          50027,
          'Invalid JWT token. Client assertion type is missing or not valid.',
        );
      }
      const failure = this.verifyAssertion(
        app,
        assertion,
        `${host}/${this.tenant.id}/oauth2/v2.0/token`,
        tenantSegment,
      );
      if (failure) return err(401, 'invalid_client', failure.code, failure.text);
    } else {
      return err(
        401,
        'invalid_client',
        7000216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
      );
    }

    const now = Math.floor(Date.now() / 1000);
    const claims: IssuedTokenClaims = {
      aud: resource,
      iss: `https://sts.windows.net/${this.tenant.id}/`,
      iat: now,
      nbf: now,
      exp: now + this.tokenLifetimeSeconds,
      appid: app.clientId,
      oid: app.objectId,
      tid: this.tenant.id,
      roles: app.roles,
      idtyp: 'app',
      ver: '1.0',
      uti: randomUUID(),
    };
    this.issued.push(claims.uti);
    return json(200, {
      token_type: 'Bearer',
      expires_in: this.tokenLifetimeSeconds,
      ext_expires_in: this.tokenLifetimeSeconds,
      access_token: this.signJwt({ typ: 'JWT', alg: 'RS256', x5t: this.keyId, kid: this.keyId }, claims),
    });
  }

  private signJwt(header: object, payload: object): string {
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), this.signingKey))}`;
  }

  /**
   * private_key_jwt (https://learn.microsoft.com/entra/identity-platform/certificate-credentials): the x5t
   * (SHA-1) or x5t#S256 header names the registered certificate, whose public key must verify the RS256/PS256
   * signature; aud is the token endpoint, iss and sub the client id, and exp/nbf bound its lifetime.
   */
  private verifyAssertion(
    app: AppRegistration,
    jwt: string,
    tokenEndpoint: string,
    tenantSegment: string,
  ): { code: number; text: string } | null {
    const parts = jwt.split('.');
    if (parts.length !== 3) return { code: 50027, text: 'JWT token is invalid or malformed.' };
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return { code: 50027, text: 'JWT token is invalid or malformed.' };
    }
    const x5t = typeof header.x5t === 'string' ? header.x5t : undefined;
    const x5t256 = typeof header['x5t#S256'] === 'string' ? (header['x5t#S256'] as string) : undefined;
    const cert = app.certificates.find((c) =>
      x5t256 !== undefined
        ? b64url(createHash('sha256').update(c.raw).digest()) === x5t256
        : b64url(createHash('sha1').update(c.raw).digest()) === x5t,
    );
    const presented = Buffer.from(x5t256 ?? x5t ?? '', 'base64url')
      .toString('hex')
      .toUpperCase();
    if (!cert) {
      return {
        code: 700027,
        text: `Client assertion failed signature validation. (Reason - The key was not found., Thumbprint of key used by client: '${presented}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.)`,
      };
    }
    const data = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2], 'base64url');
    const alg = header.alg;
    const ok =
      alg === 'RS256'
        ? verify('sha256', data, cert.publicKey, signature)
        : alg === 'PS256'
          ? verify(
              'sha256',
              data,
              {
                key: cert.publicKey,
                padding: constants.RSA_PKCS1_PSS_PADDING,
                saltLength: constants.RSA_PSS_SALTLEN_AUTO,
              },
              signature,
            )
          : false;
    if (!ok) {
      return {
        code: 700027,
        text: `Client assertion failed signature validation. (Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${presented}')`,
      };
    }
    const now = Math.floor(Date.now() / 1000);
    const audiences = [tokenEndpoint, tokenEndpoint.replace(`/${this.tenant.id}/`, `/${tenantSegment}/`)];
    if (typeof payload.aud !== 'string' || !audiences.includes(payload.aud)) {
      return {
        code: 700212,
        text: `No matching federated identity record found for presented assertion audience '${String(payload.aud)}'.`,
      };
    }
    if (payload.iss !== app.clientId || payload.sub !== app.clientId) {
      return {
        code: 700021,
        text: "Client assertion application identifier doesn't match 'client_id' parameter.",
      };
    }
    if (
      typeof payload.exp !== 'number' ||
      payload.exp < now ||
      (typeof payload.nbf === 'number' && payload.nbf > now + 300)
    ) {
      return { code: 700024, text: 'Client assertion is not within its valid time range.' };
    }
    return null;
  }

  /** Graph's check of a bearer token: our signature, not expired, not revoked, audience the Graph base URL. */
  validateAccessToken(token: string): { claims: IssuedTokenClaims } | { error: string } {
    const parts = token.split('.');
    if (parts.length !== 3) return { error: 'IDX14100: JWT is not well formed.' };
    const data = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (!verify('sha256', data, this.publicKey, Buffer.from(parts[2], 'base64url'))) {
      return { error: 'Invalid signature' };
    }
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as IssuedTokenClaims;
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp <= now || this.invalidated.has(claims.uti)) {
      return { error: 'Lifetime validation failed, the token is expired.' };
    }
    if (claims.aud !== this.graphBaseUrl() || claims.tid !== this.tenant.id)
      return { error: 'Invalid audience.' };
    return { claims };
  }

  /** Every token issued so far stops working at Graph (what an expired or revoked token looks like). */
  invalidateIssuedTokens(): void {
    for (const uti of this.issued) this.invalidated.add(uti);
  }
}
