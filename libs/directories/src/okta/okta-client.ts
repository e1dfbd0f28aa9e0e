import { readFileSync } from 'node:fs';
import { Client, DefaultRequestExecutor } from '@okta/okta-sdk-nodejs';
import { OktaProviderConfig } from '@app/config';
import { RateGate } from '../rate-gate';
import { rateLimitWaitMs } from './okta-error-mapping';
import { oktaBucketOf, oktaBucketReading } from './okta-rate-limits';
import { OktaTokenEndpointError } from './okta-token-error';

/** Enough to read users and suspend / unsuspend / unlock them and clear their sessions. */
export const OKTA_OAUTH_SCOPES = ['okta.users.read', 'okta.users.manage'];
export const DEFAULT_OKTA_TIMEOUT_MS = 30_000;
const TOKEN_PATH = '/oauth2/v1/token';
type RequestOptions = Parameters<DefaultRequestExecutor['fetch']>[0];

interface FetchResponse {
  ok: boolean;
  status: number;
  headers: { get(name: string): string | null };
  clone(): { json(): Promise<unknown> };
}

/**
 * The SDK's OAuth class reads the token response without checking its status (src/oauth.js calls
 * `Http.errorFilter` on the module object, where it is undefined, in v8.1), so a refused client assertion, a
 * 429 or a 5xx from the token endpoint is cached as if it were a token and every later call fails with a
 * misleading 401. This executor turns such answers into an error with the real status; a 400 `use_dpop_nonce`
 * passes through, since the SDK's DPoP handshake relies on reading it.
 */
class TokenCheckingRequestExecutor extends DefaultRequestExecutor {
  constructor(
    config: ConstructorParameters<typeof DefaultRequestExecutor>[0],
    private readonly gate?: RateGate,
  ) {
    super(config);
  }

  /**
   * Every request of the client passes here, the token endpoint's included: the gate holds it back while its
   * Okta bucket is known to be empty, and learns the bucket's state from each answer's X-Rate-Limit-* headers.
   */
  override async fetch(request: RequestOptions): Promise<FetchResponse> {
    const { method, url } = request as { method?: string; url?: string };
    const bucket = oktaBucketOf(method ?? 'GET', String(url ?? ''));
    await this.gate?.acquire(bucket);
    const response = (await super.fetch(request)) as FetchResponse;
    if (this.gate) {
      const reading = oktaBucketReading(response.headers);
      if (reading) this.gate.observe(bucket, reading);
      if (response.status === 429) this.gate.block(bucket, rateLimitWaitMs(response.headers));
    }
    if (response.ok || !String(request.url ?? '').endsWith(TOKEN_PATH)) return response;
    const body = ((await response
      .clone()
      .json()
      .catch(() => ({}))) ?? {}) as { error?: string; error_description?: string };
    if (response.status === 400 && body.error === 'use_dpop_nonce') return response;
    throw new OktaTokenEndpointError(response.status, body.error, body.error_description, response.headers);
  }
}

/**
 * One SDK client per provider. Three SDK defaults are changed on purpose:
 * - maxRetries 0: the default executor would sleep until X-Rate-Limit-Reset inside the job and retry; the
 *   adapter's RateGate paces requests by Okta's buckets instead, and a 429 with a long wait pauses the whole
 *   Okta queue (every job shares the org's buckets).
 * - requestTimeout: the SDK has none by default, so a hung connection would hold a worker slot forever.
 * - cacheMiddleware null: the default middleware caches GET /users/{id}, and reading a user back after
 *   suspending it must see Okta's answer, not our own earlier read.
 */
export function createOktaClient(config: OktaProviderConfig, gate?: RateGate): Client {
  const requestExecutor = new TokenCheckingRequestExecutor(
    {
      maxRetries: 0,
      requestTimeout: config.timeoutMs ?? DEFAULT_OKTA_TIMEOUT_MS,
    },
    gate,
  );
  const common = { orgUrl: config.orgUrl, requestExecutor, cacheMiddleware: null };
  if (config.oauth) {
    let privateKey: string;
    try {
      privateKey = readFileSync(config.oauth.privateKeyFile, 'utf8');
    } catch (e) {
      throw new Error(
        `provider ${config.id}: oauth.privateKeyFile ${config.oauth.privateKeyFile} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        { cause: e },
      );
    }
    return new Client({
      ...common,
      authorizationMode: 'PrivateKey',
      clientId: config.oauth.clientId,
      scopes: OKTA_OAUTH_SCOPES,
      privateKey,
      keyId: config.oauth.keyId,
    });
  }
  if (!config.token) throw new Error(`provider ${config.id}: one of token or oauth is required`);
  return new Client({ ...common, authorizationMode: 'SSWS', token: config.token });
}
