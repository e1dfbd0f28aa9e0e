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
  /** At most this many bound connections (default DEFAULT_LDAP_CONNECTIONS); 1 shares a single one. */
  connections?: number;
}

/**
 * One, from measurement (scripts/bench/ldap-pool.ts, figures in docs/providers/openldap.md): against slapd on a
 * 2-core machine, more connections gained nothing reliable with ten jobs in flight (×1.00 to ×1.35 over runs)
 * and lost with twenty (×0.69 to ×0.91): the CPU, not the connection, was the limit, and one connection
 * batches more replies per read. A pool pays where the directory has cores to spare across a network, and
 * slapd runs at most half its threads for one connection (8 of 16): raise `connections` there, and measure.
 */
export const DEFAULT_LDAP_CONNECTIONS = 1;

/** How long an extra connection that could not be opened is not tried again while others still work. */
const EXTRA_CONNECTION_COOLDOWN_MS = 30_000;

interface Slot {
  /** The bound connection, as handed out (see boundOnly). */
  client: Client | null;
  connecting: Promise<Client> | null;
  /** Operations running on (or waiting for) this slot's connection. */
  busy: number;
  /** Until when this slot is not opened again, after failing to open while another slot served. */
  cooldownUntil: number;
}

interface Lease {
  slot: Slot;
  client: Client;
}

/**
 * A small pool of bound connections per provider, reused across jobs: binding per call would cost a TLS
 * handshake and a bind round trip each time. ldapts multiplexes operations by message id, so concurrent jobs
 * can share a connection; the pool opens another one (up to `connections`) only when every open one is busy,
 * so a quiet provider holds one connection and a busy one spreads its jobs over several. A broken connection
 * is dropped and the next job that needs it binds again.
 */
export class LdapConnection {
  private readonly slots: Slot[];
  private closed = false;

  constructor(private readonly options: LdapConnectionOptions) {
    const size = Math.max(1, options.connections ?? DEFAULT_LDAP_CONNECTIONS);
    this.slots = Array.from({ length: size }, () => ({
      client: null,
      connecting: null,
      busy: 0,
      cooldownUntil: 0,
    }));
  }

  /** The connections a provider entry (activeDirectory or openLdap) describes. */
  static forProvider(config: LdapConnectionOptions): LdapConnection {
    const { url, bindDN, bindPassword, startTls, tls, timeoutMs, connections } = config;
    return new LdapConnection({ url, bindDN, bindPassword, startTls, tls, timeoutMs, connections });
  }

  /** Runs `fn` with a bound client; maps LDAP, socket and TLS failures to DirectoryError. */
  async use<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const lease = await this.acquire();
    try {
      return await fn(lease.client);
    } catch (e) {
      throw await this.failed(lease, e);
    } finally {
      lease.slot.busy--;
    }
  }

  /**
   * One write, fenced by the engine: `guard.beforeWrite` runs once a connection is bound and chosen, right
   * before the request goes out, so nothing (not even a reconnect) lies between the fence and the write. Its
   * error is the engine's verdict, not a directory failure: it reaches the caller untouched and keeps the
   * connection.
   */
  async write(
    guard: AttemptGuard,
    stateBefore: AccountState,
    request: (client: Client) => Promise<void>,
  ): Promise<void> {
    const lease = await this.acquire();
    try {
      guard.signal.throwIfAborted();
      await guard.beforeWrite(stateBefore);
      try {
        await request(lease.client);
      } catch (e) {
        throw await this.failed(lease, e);
      }
    } finally {
      lease.slot.busy--;
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

  /** Unbinds every connection; one still being opened is unbound as soon as it is. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        await slot.connecting?.catch(() => undefined);
        const c = slot.client;
        slot.client = null;
        if (c) await c.unbind().catch(() => undefined);
      }),
    );
  }

  /**
   * A bound connection for one operation, counted as busy until the caller is done. An idle open connection
   * is preferred, then opening another one, then the least busy open one.
   */
  private async acquire(): Promise<Lease> {
    if (this.closed) throw closedError();
    for (const slot of this.slots) {
      // Closed by the server (idle timeout, restart): ldapts would reconnect it unbound on the next request.
      if (slot.client && !slot.client.isBound) void this.forget(slot, slot.client);
    }
    const open = this.slots.filter((s) => s.client);
    const idle = open.find((s) => s.busy === 0);
    const now = Date.now();
    let slot =
      idle ??
      this.slots.find((s) => !s.client && !s.connecting && s.cooldownUntil <= now) ??
      leastBusy(open.length ? open : this.slots.filter((s) => s.connecting)) ??
      this.slots[0];
    const refused = new Set<Slot>();
    for (;;) {
      slot.busy++;
      try {
        return { slot, client: slot.client ?? (await this.connectSlot(slot)) };
      } catch (e) {
        slot.busy--;
        if (!(e instanceof DirectoryError) || !e.transient) throw e;
        // A directory that refuses one more connection (a per-client limit) keeps serving on the ones it
        // has, or is about to have.
        refused.add(slot);
        const others = this.slots.filter((s) => !refused.has(s) && (s.client || s.connecting));
        const next = leastBusy(others.filter((s) => s.client)) ?? leastBusy(others);
        if (!next) throw e;
        slot.cooldownUntil = Date.now() + EXTRA_CONNECTION_COOLDOWN_MS;
        slot = next;
      }
    }
  }

  private connectSlot(slot: Slot): Promise<Client> {
    slot.connecting ??= this.connect()
      .then((client) => (slot.client = client))
      .finally(() => (slot.connecting = null));
    return slot.connecting;
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
    if (this.closed) {
      await client.unbind().catch(() => undefined);
      throw closedError();
    }
    return boundOnly(client);
  }

  /**
   * Maps a failure. A transient one other than the server's own answer (reset, time-out) may mean a broken
   * connection, so that connection is not used again; a busy or unavailable answer came over a working one.
   */
  private async failed(lease: Lease, e: unknown): Promise<DirectoryError> {
    const mapped = mapLdapError(e);
    if (mapped.transient && !(e instanceof ResultCodeError)) await this.forget(lease.slot, lease.client);
    return mapped;
  }

  private async forget(slot: Slot, client: Client): Promise<void> {
    if (slot.client === client) slot.client = null;
    await client.unbind().catch(() => undefined);
  }
}

const REQUESTS = new Set<string | symbol>([
  'add',
  'compare',
  'del',
  'exop',
  'modify',
  'modifyDN',
  'search',
  'searchPaginated',
]);

/**
 * The client a lease hands out. ldapts quietly reconnects a lost connection on the next request, unbound: a
 * search would then run anonymously and a modify fail as if the service account lacked rights. A request on
 * a connection that is no longer bound fails as transient instead, and the pool replaces the connection.
 */
function boundOnly(client: Client): Client {
  return new Proxy(client, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (!REQUESTS.has(prop)) return method.bind(target);
      return (...args: unknown[]) =>
        target.isBound
          ? method.apply(target, args)
          : Promise.reject(
              transientError(DirectoryErrorCodes.unreachable, 'the connection to the directory was lost'),
            );
    },
  });
}

function leastBusy(slots: Slot[]): Slot | undefined {
  return slots.reduce<Slot | undefined>((best, s) => (!best || s.busy < best.busy ? s : best), undefined);
}

const closedError = () =>
  transientError(DirectoryErrorCodes.unreachable, 'connection closed (shutting down)');

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
