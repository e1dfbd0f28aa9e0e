import { setTimeout as delay } from 'node:timers/promises';
import { EntraIdProviderConfig } from '@app/config';
import { AccountIdentifier } from '@app/domain';
import { AdapterContext } from '../adapter-context';
import {
  AccountState,
  AttemptGuard,
  DirectoryAdapter,
  DisableOutcome,
  EnableOutcome,
  ResolvedAccount,
  ResolveOptions,
} from '../directory-adapter';
import { DirectoryError, DirectoryErrorCodes, permanentError, transientError } from '../directory-error';
import { CheckList, ProviderCheck, unverifiedJwtClaims } from '../provider-check';
import { RateGate } from '../rate-gate';
import { GraphBatcher } from './graph-batcher';
import { graphFailure, retryAfterMs } from './graph-errors';
import { GraphTransport } from './graph-transport';
import { GraphRequest, GraphResponse } from './graph-types';
import { EntraTokenProvider } from './token-provider';

export const DEFAULT_GRAPH_BASE_URL = 'https://graph.microsoft.com';
const DEFAULT_TIMEOUT_MS = 10_000;
/** The engine's time-out of one attempt when the provider sets none (TargetRunner). */
const ATTEMPT_TIMEOUT_MS = 30_000;
const SELECT =
  '$select=id,userPrincipalName,mail,accountEnabled,onPremisesSyncEnabled,' +
  'onPremisesSecurityIdentifier,onPremisesDomainName,onPremisesSamAccountName';
const READ_PERMISSION = 'User.Read.All';
const ENABLE_DISABLE_PERMISSION = 'User.EnableDisableAccount.All';
const REVOKE_PERMISSION = 'User.RevokeSessions.All';
/** Application permissions that include each right (Microsoft Graph permissions reference). */
const MAY_ENABLE_DISABLE = [ENABLE_DISABLE_PERMISSION, 'User.ReadWrite.All', 'Directory.ReadWrite.All'];
const MAY_REVOKE = [REVOKE_PERMISSION, 'User.ReadWrite.All', 'Directory.ReadWrite.All'];
// Graph is eventually consistent across replicas: a read right after a write can still show the old value.
const READ_BACK_DELAYS_MS = [0, 250, 750, 1500];
/**
 * Revocation is retried here rather than by the engine because, after a disable landed, the engine's retry
 * would find the account disabled and could no longer tell a half-done attempt from a finished one. Kept short:
 * the job holds a worker slot meanwhile.
 */
const REVOKE_ATTEMPTS = 3;
const REVOKE_BACKOFF_MS = [200, 800];
/** A longer Retry-After is not waited out inside the job; the failure is reported instead. */
const MAX_REVOKE_RETRY_AFTER_MS = 5_000;
export const SESSION_REVOCATION_FAILED = 'sessionRevocationFailed';
/** Tries of one request that Graph throttled with a Retry-After short enough to sit out inside the target. */
const THROTTLED_TRIES = 5;
/** Graph's advice when a 429 carries no Retry-After is to back off; one second, then the gate's own pacing. */
const DEFAULT_THROTTLE_WAIT_MS = 1_000;

/** A write to send again after a short 429: the guard is asked again right before it, as before every write. */
interface WriteRetry {
  guard: AttemptGuard;
  state: AccountState;
}

/**
 * Graph throttles reads and writes by separate quotas (the "Resource unit" and "Write" quotas of the identity
 * and access service) and names the one exceeded in x-ms-throttle-scope (`<Scope>/<Read|Write|ReadWrite>/…`).
 */
type GraphLimit = 'read' | 'write';
const limitOf = (method: string): GraphLimit => (method === 'GET' ? 'read' : 'write');

function throttledLimits(res: GraphResponse, method: string): GraphLimit[] {
  const scope = res.headers['x-ms-throttle-scope'] ?? '';
  const limit = scope.split('/')[1]?.toLowerCase();
  if (limit === 'read') return ['read'];
  if (limit === 'write') return ['write'];
  if (limit === 'readwrite') return ['read', 'write'];
  return [limitOf(method)];
}

interface GraphUser {
  id: string;
  userPrincipalName: string | null;
  mail: string | null;
  accountEnabled: boolean | null;
  onPremisesSyncEnabled: boolean | null;
  onPremisesSecurityIdentifier?: string | null;
  onPremisesDomainName?: string | null;
  onPremisesSamAccountName?: string | null;
}

/** Entra ID through Microsoft Graph v1.0 with an app-only token (CONTRACT §9). */
export class EntraIdAdapter implements DirectoryAdapter {
  readonly kind = 'entraId' as const;
  readonly id: string;
  /**
   * Graph sends no remaining-quota headers, so this paces by 429s alone: after one, nothing more of that quota
   * goes out until Retry-After has passed, and the queue starts no new target meanwhile.
   */
  readonly pacer: RateGate;
  private readonly batcher: GraphBatcher;
  private readonly tokens: EntraTokenProvider;
  private readonly protectedAccounts: ReadonlySet<string>;

  constructor(
    config: EntraIdProviderConfig,
    private readonly context: AdapterContext,
  ) {
    this.id = config.id;
    // A third of the attempt's time-out (the engine's default is 30 s): what a target may sit out inside.
    this.pacer = new RateGate({}, (config.timeoutMs ?? ATTEMPT_TIMEOUT_MS) / 3, true);
    const graphBaseUrl = (config.graphBaseUrl ?? DEFAULT_GRAPH_BASE_URL).replace(/\/+$/, '');
    const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.tokens = new EntraTokenProvider(config, graphBaseUrl, timeoutMs, context.logger);
    this.batcher = new GraphBatcher(new GraphTransport(graphBaseUrl, this.tokens, timeoutMs));
    this.protectedAccounts = new Set((config.protectedAccounts ?? []).map(normalise));
  }

  async resolve(account: AccountIdentifier, options?: ResolveOptions): Promise<ResolvedAccount | null> {
    let user: GraphUser | null;
    if (account.kind === 'guid') {
      user = await this.getUser(account.value);
    } else if (account.kind === 'email') {
      // A sign-in name is usually the UPN; where mail differs from it, the mail address is what the analyst has.
      user = (await this.getUser(account.value)) ?? (await this.findByMail(account.value));
    } else {
      return null;
    }
    if (!user) return null;
    const synced = user.onPremisesSyncEnabled === true;
    // The on-premises SID is recorded so that the engine can tie this user to the AD object of the same task.
    const identifiers = [
      ...new Set(
        [user.id, user.userPrincipalName, user.mail, user.onPremisesSecurityIdentifier].filter(
          (v): v is string => !!v,
        ),
      ),
    ];
    const listed =
      options?.checkProtection === false
        ? undefined
        : identifiers.find((i) => this.protectedAccounts.has(normalise(i)));
    if (synced) {
      this.context.logger.debug('Entra ID user is synced from on-premises AD', {
        provider: this.id,
        userId: user.id,
        onPremisesDomainName: user.onPremisesDomainName ?? null,
        onPremisesSamAccountName: user.onPremisesSamAccountName ?? null,
      });
    }
    return {
      objectId: user.id,
      objectRef: user.id,
      identifiers,
      disabled: user.accountEnabled === false,
      ...(listed
        ? { protectedReason: `${listed} is listed in protectedAccounts of provider ${this.id}` }
        : {}),
      ...(synced
        ? {
            syncedFromOnPremises: {
              sid: user.onPremisesSecurityIdentifier ?? null,
              domain: user.onPremisesDomainName ?? null,
            },
          }
        : {}),
    };
  }

  async disable(account: ResolvedAccount, guard: AttemptGuard): Promise<DisableOutcome> {
    const before = await this.requireUser(account.objectRef);
    if (before.accountEnabled === false) {
      // Revoked again on purpose: the account is part of an incident, revoking is idempotent, and it completes a
      // previous attempt whose disable went through but whose revocation failed.
      await this.revokeAfterDisable(before.id, guard);
      return 'alreadyDisabled';
    }
    await guard.beforeWrite('enabled');
    await this.setAccountEnabled(before.id, false, { guard, state: 'enabled' });
    // Revoking before the disable is visible would let the user sign in again at a replica that still has the
    // account enabled and get fresh tokens that the revocation no longer covers.
    await this.readBack(before.id, false, guard.signal);
    await this.revokeAfterDisable(before.id, guard);
    return 'disabled';
  }

  async enable(account: ResolvedAccount, guard: AttemptGuard): Promise<EnableOutcome> {
    const before = await this.requireUser(account.objectRef);
    if (before.accountEnabled === true) return 'alreadyEnabled';
    await guard.beforeWrite('disabled');
    await this.setAccountEnabled(before.id, true, { guard, state: 'disabled' });
    await this.readBack(before.id, true, guard.signal);
    return 'enabled';
  }

  async revokeSessions(account: ResolvedAccount, guard: AttemptGuard): Promise<void> {
    const user = await this.requireUser(account.objectRef);
    const failure = await this.revokeWithRetries(user.id, guard, stateOf(user));
    if (failure) throw failure;
    this.context.logger.info('Entra ID sign-in sessions revoked', { provider: this.id, userId: user.id });
  }

  async close(): Promise<void> {
    this.batcher.drain();
  }

  /**
   * A fresh token (a wrong secret or certificate is named by Entra's AADSTS reason), one user read through Graph,
   * and the application permissions the token carries in its `roles` claim: read without verifying, since it is
   * our own token and only reported on, never trusted. Nothing is written.
   */
  async test(): Promise<ProviderCheck[]> {
    const checks = new CheckList();
    let token: string;
    try {
      this.tokens.forceRefresh();
      token = await this.tokens.getToken();
    } catch (e) {
      const err = e instanceof DirectoryError ? e : transientError('unexpected', String(e));
      if (err.transient) {
        checks.fail('reachable', err.message);
        return checks.notChecked(
          ['authenticated', 'readAccounts', 'changeAccounts', 'revokeSessions'],
          'reachable',
        );
      }
      checks.pass('reachable', 'the Entra ID token endpoint answered');
      checks.fail('authenticated', err.message);
      return checks.notChecked(['readAccounts', 'changeAccounts', 'revokeSessions'], 'authenticated');
    }
    checks.pass('reachable', 'the Entra ID token endpoint answered');
    checks.pass('authenticated', 'obtained an app-only token for Microsoft Graph');
    try {
      const res = await this.call({ method: 'GET', url: '/users?$top=1&$select=id' });
      if (res.status !== 200) throw graphFailure(res, 'listing users', READ_PERMISSION);
      checks.pass('readAccounts', 'listed users through Microsoft Graph');
    } catch (e) {
      checks.fail('readAccounts', (e as Error).message);
      return checks.notChecked(['changeAccounts', 'revokeSessions'], 'readAccounts');
    }
    const claims = unverifiedJwtClaims(token);
    const roles = Array.isArray(claims?.roles) ? (claims.roles as unknown[]).map(String) : null;
    if (roles === null) {
      const why = 'the access token is not a JWT with a roles claim, so its permissions cannot be read';
      checks.undecided('changeAccounts', why).undecided('revokeSessions', why);
      return checks.result();
    }
    const granted = roles.length ? roles.join(', ') : 'none';
    const right = (anyOf: string[], what: string, needed: string) => {
      const held = anyOf.find((r) => roles.includes(r));
      return held
        ? { ok: true, message: `may ${what} (${held})` }
        : {
            ok: false,
            message: `may not ${what}: the app lacks the ${needed} application permission with admin consent (its token carries: ${granted})`,
          };
    };
    const change = right(MAY_ENABLE_DISABLE, 'enable and disable users', ENABLE_DISABLE_PERMISSION);
    const revoke = right(MAY_REVOKE, "revoke users' sign-in sessions", REVOKE_PERMISSION);
    checks.add('changeAccounts', change.ok, change.message);
    checks.add('revokeSessions', revoke.ok, revoke.message);
    return checks.result();
  }

  /**
   * One Graph call through the batcher. A 401 gets one more try with a token fetched past msal's cache (the
   * cached one may have been revoked or outlived its keys); a second 401 is the caller's to map as permanent.
   */
  private async call(req: GraphRequest, write?: WriteRetry): Promise<GraphResponse> {
    const res = await this.paced(req, write);
    if (res.status !== 401) return res;
    this.context.logger.warn('Graph refused the access token; retrying once with a fresh one', {
      provider: this.id,
    });
    return this.paced(req, write);
  }

  /**
   * One request through the pacer. A 429 blocks the quota it names for its Retry-After; a read, or a write whose
   * guard agrees again, is then sent once more if that wait is short, else the 429 is the caller's to map (and
   * the engine pauses the queue for it).
   */
  private async paced(req: GraphRequest, write?: WriteRetry): Promise<GraphResponse> {
    const limit = limitOf(req.method);
    const since = Date.now();
    for (let tries = 1; ; tries++) {
      await this.pacer.acquire(limit, write?.guard.signal, since);
      if (tries > 1) await write?.guard.beforeWrite(write.state);
      const res = await this.batcher.submit(req);
      if (res.status !== 429) {
        this.pacer.passed(limit);
        return res;
      }
      const wait = retryAfterMs(res.headers) ?? DEFAULT_THROTTLE_WAIT_MS;
      for (const l of throttledLimits(res, req.method)) this.pacer.block(l, wait);
      const retryable = limit === 'read' || write !== undefined;
      if (!retryable || tries >= THROTTLED_TRIES || wait > this.pacer.maxInlineWaitMs) return res;
    }
  }

  private async getUser(idOrUpn: string): Promise<GraphUser | null> {
    const res = await this.call({ method: 'GET', url: `${userPath(idOrUpn)}?${SELECT}` });
    if (res.status === 200) return res.body as GraphUser;
    if (res.status === 404) return null;
    throw graphFailure(res, 'reading the user', READ_PERMISSION);
  }

  private async findByMail(mail: string): Promise<GraphUser | null> {
    const filter = encodeURIComponent(`mail eq '${odataString(mail)}'`);
    const res = await this.call({ method: 'GET', url: `/users?$filter=${filter}&${SELECT}` });
    if (res.status !== 200) throw graphFailure(res, 'searching users by mail', READ_PERMISSION);
    const users = ((res.body as { value?: GraphUser[] }).value ?? []) as GraphUser[];
    if (users.length > 1) {
      throw permanentError(
        DirectoryErrorCodes.ambiguousAccount,
        `${users.length} Entra ID users have the mail address ${mail}: ${users.map((u) => u.id).join(', ')}`,
      );
    }
    return users[0] ?? null;
  }

  private async requireUser(id: string): Promise<GraphUser> {
    const user = await this.getUser(id);
    if (!user) throw permanentError(DirectoryErrorCodes.notFound, `Entra ID user ${id} no longer exists`);
    return user;
  }

  private async setAccountEnabled(id: string, enabled: boolean, write: WriteRetry): Promise<void> {
    const res = await this.call(
      { method: 'PATCH', url: userPath(id), body: { accountEnabled: enabled } },
      write,
    );
    if (res.status === 204 || res.status === 200) return;
    throw graphFailure(res, enabled ? 'enabling the user' : 'disabling the user', ENABLE_DISABLE_PERMISSION);
  }

  /**
   * The account is disabled by now, so a revocation that fails is reported as a warning rather than failing the
   * target: failing it would make the engine retry a disable that already holds. The guard's refusal is not a
   * revocation failure and propagates.
   */
  private async revokeAfterDisable(id: string, guard: AttemptGuard): Promise<void> {
    const failure = await this.revokeWithRetries(id, guard, 'disabled');
    if (!failure) return;
    this.context.logger.warn('Entra ID user disabled but its sessions were not revoked', {
      provider: this.id,
      userId: id,
      code: failure.code,
    });
    guard.warn({
      code: SESSION_REVOCATION_FAILED,
      // A 403's message already names the permission the app lacks (graphFailure quotes REVOKE_PERMISSION).
      message:
        `Entra ID user ${id} IS disabled, but revoking its sign-in sessions failed, so sessions and tokens ` +
        `issued before may stay usable until they expire. ${failure.message}`,
    });
  }

  /**
   * POST revokeSignInSessions, retried while Graph's failure is transient. Answers the last failure rather than
   * throwing it, so that callers can tell it from the guard's refusal, which is thrown.
   */
  private async revokeWithRetries(
    id: string,
    guard: AttemptGuard,
    state: AccountState,
  ): Promise<DirectoryError | undefined> {
    for (let attempt = 1; ; attempt++) {
      await guard.beforeWrite(state);
      let failure: DirectoryError;
      try {
        await this.postRevoke(id, { guard, state });
        return undefined;
      } catch (e) {
        failure =
          e instanceof DirectoryError ? e : transientError('unexpected', `revoking sessions: ${String(e)}`);
      }
      if (!failure.transient || attempt >= REVOKE_ATTEMPTS) return failure;
      const wait = failure.retryAfterMs ?? REVOKE_BACKOFF_MS[attempt - 1];
      if (wait > MAX_REVOKE_RETRY_AFTER_MS) return failure;
      await delay(wait, undefined, { signal: guard.signal });
    }
  }

  private async postRevoke(id: string, write: WriteRetry): Promise<void> {
    const res = await this.call({ method: 'POST', url: `${userPath(id)}/revokeSignInSessions` }, write);
    // Documented as 200 {"value": true}; Graph's known-issues page says it has also answered 204.
    if (res.status === 200 || res.status === 204) return;
    throw graphFailure(res, "revoking the user's sign-in sessions", REVOKE_PERMISSION);
  }

  private async readBack(id: string, expected: boolean, signal: AbortSignal): Promise<void> {
    for (const wait of READ_BACK_DELAYS_MS) {
      if (wait) await delay(wait, undefined, { signal });
      const user = await this.requireUser(id);
      if (user.accountEnabled === expected) return;
    }
    throw transientError(
      DirectoryErrorCodes.verificationFailed,
      `Entra ID accepted accountEnabled=${expected} for ${id} but still reads it back as ${!expected}`,
    );
  }
}

function stateOf(user: GraphUser): AccountState {
  return user.accountEnabled === false ? 'disabled' : 'enabled';
}

function normalise(s: string): string {
  return s.trim().toLowerCase();
}

/**
 * /users/{id | userPrincipalName}, percent-encoded (guest UPNs hold '#'). Graph documents the /users('…') form
 * for UPNs starting with '$', which the plain segment would make look like a system query option.
 */
function userPath(idOrUpn: string): string {
  if (idOrUpn.startsWith('$')) return `/users('${encodeURIComponent(odataString(idOrUpn))}')`;
  return `/users/${encodeURIComponent(idOrUpn)}`;
}

/** An OData string literal's content: a single quote is written twice. */
function odataString(value: string): string {
  return value.replace(/'/g, "''");
}
