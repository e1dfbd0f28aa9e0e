import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import {
  Client,
  Entry,
  InvalidCredentialsError,
  InsufficientAccessError,
  ResultCodeError,
  SearchOptions,
} from 'ldapts';
import { TlsConfig } from '@app/config';
import { AccountState, AttemptGuard } from '../directory-adapter';
import { DirectoryError, DirectoryErrorCodes, permanentError, transientError } from '../directory-error';

export interface LdapConnectionOptions {
  url: string;
  bindDN: string;
  bindPassword: string;
  startTls?: boolean;
  tls?: TlsConfig;
  timeoutMs?: number;
}

/**
 * One bound connection per provider, reused across jobs: binding per call would cost a TLS handshake and a
 * bind round trip each time. ldapts multiplexes operations by message id, so concurrent jobs share it.
 * A broken connection is dropped and the next call binds again.
 */
export class LdapConnection {
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private closed = false;

  constructor(private readonly options: LdapConnectionOptions) {}

  /** The connection a provider entry (activeDirectory or openLdap) describes. */
  static forProvider(config: LdapConnectionOptions): LdapConnection {
    const { url, bindDN, bindPassword, startTls, tls, timeoutMs } = config;
    return new LdapConnection({ url, bindDN, bindPassword, startTls, tls, timeoutMs });
  }

  /** Runs `fn` with a bound client; maps LDAP, socket and TLS failures to DirectoryError. */
  async use<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.get();
    try {
      return await fn(client);
    } catch (e) {
      const mapped = mapLdapError(e);
      if (mapped.transient) await this.drop(client);
      throw mapped;
    }
  }

  /**
   * One write, fenced by the engine: `guard.beforeWrite` runs once the connection is bound, right before the
   * request goes out, so nothing (not even a reconnect) lies between the fence and the write. Its error is
   * the engine's verdict, not a directory failure: it reaches the caller untouched and keeps the connection.
   */
  async write(
    guard: AttemptGuard,
    stateBefore: AccountState,
    request: (client: Client) => Promise<void>,
  ): Promise<void> {
    const client = await this.get();
    guard.signal.throwIfAborted();
    await guard.beforeWrite(stateBefore);
    try {
      await request(client);
    } catch (e) {
      const mapped = mapLdapError(e);
      if (mapped.transient) await this.drop(client);
      throw mapped;
    }
  }

  /**
   * The one entry a subtree search finds, or null. Two matches fail as `ambiguousAccount` before anything is
   * changed; asking for at most two keeps a broad match from paging through the directory.
   */
  async findUnique(
    baseDN: string,
    options: SearchOptions,
    account: string,
    where: string,
  ): Promise<Entry | null> {
    const entries = await this.use(
      async (client) =>
        (await client.search(baseDN, { scope: 'sub', ...options, sizeLimit: 2 })).searchEntries,
    );
    if (entries.length === 0) return null;
    if (entries.length > 1) {
      throw permanentError(
        DirectoryErrorCodes.ambiguousAccount,
        `"${account}" matches more than one account in ${where} (${entries.map((e) => e.dn).join('; ')}); nothing was changed`,
      );
    }
    return entries[0];
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.client;
    this.client = null;
    if (c) await c.unbind().catch(() => undefined);
  }

  private async get(): Promise<Client> {
    if (this.closed)
      throw transientError(DirectoryErrorCodes.unreachable, 'connection closed (shutting down)');
    if (this.client?.isConnected) return this.client;
    if (!this.connecting) {
      this.connecting = this.connect().finally(() => (this.connecting = null));
    }
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const { bindDN, bindPassword, startTls } = this.options;
    const { client, tlsOptions } = createLdapClient(this.options);
    try {
      if (startTls) await client.startTLS(tlsOptions);
      await client.bind(bindDN, bindPassword);
    } catch (e) {
      await client.unbind().catch(() => undefined);
      throw mapLdapError(e);
    }
    this.client = client;
    return client;
  }

  private async drop(client: Client): Promise<void> {
    if (this.client === client) this.client = null;
    await client.unbind().catch(() => undefined);
  }
}

/** An unbound client for a provider entry, and the TLS options StartTLS needs. */
export function createLdapClient(options: LdapConnectionOptions): {
  client: Client;
  tlsOptions: ConnectionOptions;
} {
  const { url, timeoutMs = 10_000 } = options;
  const tlsOptions = buildTlsOptions(options.tls);
  // ldapts opens a TLS socket whenever tlsOptions are given, whatever the scheme: pass them only for
  // ldaps://, or a plain ldap:// (and StartTLS, which upgrades a plain socket) would fail to connect.
  const implicitTls = /^ldaps:/i.test(url);
  const client = new Client({
    url,
    timeout: timeoutMs,
    connectTimeout: timeoutMs,
    tlsOptions: implicitTls ? tlsOptions : undefined,
    strictDN: false,
  });
  return { client, tlsOptions };
}

/** Whether `e` is the DirectoryError `use`/`write` made of LDAP result `code`. */
export function isLdapResult(e: unknown, code: number): boolean {
  return e instanceof DirectoryError && e.code === `ldapResult${code}`;
}

export function buildTlsOptions(tls: TlsConfig | undefined): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: tls?.rejectUnauthorized ?? true };
  if (tls?.caFile) options.ca = [readFileSync(tls.caFile)];
  return options;
}

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
]);

/**
 * Wrong password and missing rights will not fix themselves: permanent. Certificate problems are permanent
 * too (an operator must act). Network trouble, timeouts and busy/unavailable servers are transient.
 */
export function mapLdapError(e: unknown): DirectoryError {
  if (e instanceof DirectoryError) return e;
  const err = e as Error & { code?: string | number };
  if (e instanceof InvalidCredentialsError) {
    return permanentError(
      DirectoryErrorCodes.invalidCredentials,
      'The directory rejected the service account credentials.',
    );
  }
  if (e instanceof InsufficientAccessError) {
    return permanentError(
      DirectoryErrorCodes.insufficientRights,
      `The service account lacks the rights: ${err.message}`,
    );
  }
  if (e instanceof ResultCodeError) {
    // 51 busy, 52 unavailable, 80 other (Samba uses it for transient internal trouble).
    const transient = [51, 52, 80].includes(e.code);
    return new DirectoryError(`ldapResult${e.code}`, `LDAP error ${e.code}: ${e.message}`, transient);
  }
  const code = typeof err?.code === 'string' ? err.code : '';
  if (TLS_CODES.has(code)) {
    return permanentError(DirectoryErrorCodes.tlsError, `TLS certificate problem (${code}): ${err.message}`);
  }
  if (NETWORK_CODES.has(code))
    return transientError(DirectoryErrorCodes.unreachable, `Directory unreachable (${code}): ${err.message}`);
  if (/timed? ?out/i.test(err?.message ?? ''))
    return transientError(DirectoryErrorCodes.timeout, err.message);
  return transientError(DirectoryErrorCodes.unreachable, err?.message ?? String(e));
}
