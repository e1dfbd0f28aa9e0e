import { setTimeout as delay } from 'node:timers/promises';
import type { Client, User, UserGetSingleton, UserStatus } from '@okta/okta-sdk-nodejs';
import { OktaProviderConfig } from '@app/config';
import { AccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
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
import { CheckList, ProviderCheck } from '../provider-check';
import { RateGate } from '../rate-gate';
import { createOktaClient, DEFAULT_OKTA_TIMEOUT_MS } from './okta-client';
import { mapOktaError } from './okta-error-mapping';
import { oktaRateGate } from './okta-rate-limits';
import { searchEquals } from './okta-search';

type OktaUser = User | UserGetSingleton;
type Lifecycle = 'suspend' | 'unsuspend' | 'unlock';

export const SESSION_REVOCATION_FAILED = 'sessionRevocationFailed';

/**
 * Keys that GET /api/v1/users/{key} would not read as a login: `me` is the caller itself (the admin who owns
 * the API token), and `.`/`..` would be folded into the path by URL normalisation. Those go through search.
 */
const NOT_A_PATH_KEY = /^(me|\.{1,2})$/i;

/** Statuses in which the user may still hold sign-in sessions worth clearing even though Okta won't suspend. */
const MAY_HAVE_SESSIONS: ReadonlySet<UserStatus> = new Set(['PASSWORD_EXPIRED', 'RECOVERY']);

/** What re-enabling a user in these statuses would take; all of them mail the user or reset credentials. */
const ENABLE_NEEDS: Partial<Record<UserStatus, string>> = {
  DEPROVISIONED: 'activation (which e-mails the user an activation link)',
  STAGED: 'activation (which e-mails the user an activation link)',
  PROVISIONED: 'reactivation (which e-mails the user a new activation link)',
  RECOVERY: 'the user to finish password recovery, or reactivation',
  PASSWORD_EXPIRED: 'the user to set a new password',
};

/**
 * How often a lifecycle step is tried again when someone else changed the user between our read and our call
 * (each round follows the status Okta then reports). Two changes in a row mean a fight with another admin,
 * which a person should look at.
 */
const MAX_STATUS_ROUNDS = 3;
/**
 * Session clearing is retried here, not by the engine: once the suspend holds, an engine retry would read the
 * user SUSPENDED and could not tell a half-done disable from a finished one. Kept short (a worker slot waits).
 */
const CLEAR_ATTEMPTS = 3;
const CLEAR_BACKOFF_MS = [200, 800];
/** Okta's rate-limit reset is usually tens of seconds away: not worth holding the job for. */
const MAX_CLEAR_RETRY_WAIT_MS = 5_000;
/** Tries of one call that Okta answered 429 with a wait short enough to sit out inside the target. */
const RATE_LIMITED_TRIES = 3;

/** A write to try again after a short 429: the guard is asked again right before it, as before every write. */
interface WriteRetry {
  guard: AttemptGuard;
  state: AccountState;
}

/**
 * Standard admin roles that may suspend, unsuspend and unlock users and clear their sessions (Okta's "Standard
 * administrator roles and permissions"); Group Administrators only for the users of the groups they administer.
 * Help Desk Administrators may unlock and clear sessions but not suspend.
 */
const ROLES_THAT_MAY_SUSPEND: Record<string, string> = {
  SUPER_ADMIN: 'Super Administrator',
  ORG_ADMIN: 'Organization Administrator',
  USER_ADMIN: 'Group Administrator (only for the users of the groups it administers)',
};

/**
 * Okta through @okta/okta-sdk-nodejs (CONTRACT §9). Disable = suspend + clear sessions and OAuth tokens
 * (never deactivate: that drops app assignments and can only be undone by activation mail). Enable picks the
 * inverse by status.
 */
export class OktaAdapter implements DirectoryAdapter {
  readonly kind = 'okta' as const;
  readonly id: string;
  /** Paces requests by Okta's buckets; the queue asks it before each target starts. */
  readonly pacer: RateGate;
  private readonly client: Client;
  private readonly log: AppLogger;
  private readonly protectedAccounts: ReadonlySet<string>;
  /** Only an API token (SSWS) belongs to a user; an OAuth service app acts as itself. */
  private readonly tokenHasOwner: boolean;
  private tokenOwnerId?: string;
  private tokenOwnerKnown = false;
  private tokenOwnerLookup?: Promise<string | undefined>;

  constructor(config: OktaProviderConfig, context: AdapterContext, client?: Client) {
    this.id = config.id;
    // A third of the time-out: a wait longer than that would leave the target too little time to finish.
    this.pacer = oktaRateGate((config.timeoutMs ?? DEFAULT_OKTA_TIMEOUT_MS) / 3);
    this.client = client ?? createOktaClient(config, this.pacer);
    this.log = context.logger;
    this.protectedAccounts = new Set((config.protectedAccounts ?? []).map(normalise));
    this.tokenHasOwner = !config.oauth && !!config.token;
  }

  async resolve(account: AccountIdentifier, options?: ResolveOptions): Promise<ResolvedAccount | null> {
    const user = await this.find(account);
    if (!user) return null;
    const resolved = toResolved(user);
    if (options?.checkProtection === false) return resolved;
    const protectedReason = await this.protectedReason(resolved);
    return protectedReason ? { ...resolved, protectedReason } : resolved;
  }

  async disable(account: ResolvedAccount, guard: AttemptGuard): Promise<DisableOutcome> {
    const user = await this.mustGet(account.objectRef);
    const userId = user.id as string;
    let status = user.status as UserStatus;
    let unlocked = false;
    for (let round = 0; round < MAX_STATUS_ROUNDS; round++) {
      if (status === 'SUSPENDED') {
        // Someone suspended it before us; its sessions may have outlived that, and clearing them is harmless.
        await this.clearSessionsAfterSuspend(userId, guard);
        return unlocked ? 'disabled' : 'alreadyDisabled';
      }
      if (status === 'LOCKED_OUT') {
        // A lockout ends by itself (after the policy's unlock time, or by self-service unlock), so it is no
        // disable: Okta suspends only ACTIVE users, hence unlock first and suspend straight after.
        await guard.beforeWrite('enabled');
        const raced = await this.lifecycle(userId, 'unlock', status, { guard, state: 'enabled' });
        unlocked ||= raced === undefined;
        status = raced ?? 'ACTIVE';
        continue;
      }
      if (status !== 'ACTIVE') break;
      await guard.beforeWrite('enabled');
      let raced: UserStatus | undefined;
      try {
        raced = await this.lifecycle(userId, 'suspend', status, { guard, state: 'enabled' });
      } catch (e) {
        if (!unlocked) throw e;
        throw await this.unlockedButNotSuspended(userId, e, guard);
      }
      if (raced === undefined) {
        // Suspend first, then clear: the other order would leave a window to sign in again.
        await this.clearSessionsAfterSuspend(userId, guard);
        await this.expectStatus(userId, 'SUSPENDED', 'suspend');
        this.log.info('okta user suspended and sessions cleared', { userId, unlockedFirst: unlocked });
        return 'disabled';
      }
      status = raced;
    }
    if (status === 'ACTIVE' || status === 'LOCKED_OUT' || status === 'SUSPENDED') throw stillChanging(status);
    throw await this.cannotSuspend(userId, status, unlocked, guard);
  }

  async enable(account: ResolvedAccount, guard: AttemptGuard): Promise<EnableOutcome> {
    const user = await this.mustGet(account.objectRef);
    const userId = user.id as string;
    let status = user.status as UserStatus;
    for (let round = 0; round < MAX_STATUS_ROUNDS; round++) {
      // On a later round, someone else made it ACTIVE meanwhile: enabled, but not by us.
      if (status === 'ACTIVE') return 'alreadyEnabled';
      if (status !== 'SUSPENDED' && status !== 'LOCKED_OUT') break;
      const operation: Lifecycle = status === 'SUSPENDED' ? 'unsuspend' : 'unlock';
      await guard.beforeWrite('disabled');
      const raced = await this.lifecycle(userId, operation, status, { guard, state: 'disabled' });
      if (raced === undefined) {
        await this.expectStatus(userId, 'ACTIVE', operation);
        this.log.info(`okta user ${operation === 'unsuspend' ? 'unsuspended' : 'unlocked'}`, {
          userId,
          from: status,
        });
        return 'enabled';
      }
      status = raced;
    }
    if (status === 'SUSPENDED' || status === 'LOCKED_OUT') throw stillChanging(status);
    // Never activate / reactivate here: both send the user e-mail and restart onboarding, which is not
    // "restore the state from before the incident".
    const needs = ENABLE_NEEDS[status] ?? 'an administrator';
    throw permanentError(
      DirectoryErrorCodes.wrongState,
      `Okta user is ${status}; re-enabling it needs ${needs}, which this engine does not do. Handle it in the Okta admin console.`,
    );
  }

  async close(): Promise<void> {
    // node-fetch opens a connection per request (no keep-alive agent), so nothing is pooled.
  }

  /**
   * One user listed (reachable, credentials accepted, users readable), then the right to change users: the admin
   * roles of the API token's owner (SSWS), or the scopes granted to the OAuth service app. Nothing is written.
   */
  async test(): Promise<ProviderCheck[]> {
    const checks = new CheckList();
    try {
      await this.call(async () => {
        const users = await this.client.userApi.listUsers({ limit: 1 });
        for await (const u of users) if (u) break;
      });
      checks.pass('reachable', 'Okta answered');
      checks.pass(
        'authenticated',
        this.tokenHasOwner ? 'Okta accepted the API token' : 'Okta accepted the OAuth service app',
      );
      checks.pass('readAccounts', 'listed users');
    } catch (e) {
      const err = e as DirectoryError;
      if (err.transient && err.code !== DirectoryErrorCodes.rateLimited) {
        checks.fail('reachable', err.message);
        return checks.notChecked(['authenticated', 'readAccounts', 'changeAccounts'], 'reachable');
      }
      checks.pass('reachable', 'Okta answered');
      if (err.code === DirectoryErrorCodes.insufficientRights) {
        checks.pass('authenticated', 'Okta accepted the credentials');
        checks.fail('readAccounts', `may not list users: ${err.message}`);
        return checks.notChecked(['changeAccounts'], 'readAccounts');
      }
      const what = this.tokenHasOwner ? 'Okta refused the API token' : 'Okta refused the OAuth service app';
      checks.fail(
        'authenticated',
        err.code === DirectoryErrorCodes.invalidCredentials ? `${what}: ${err.message}` : err.message,
      );
      return checks.notChecked(['readAccounts', 'changeAccounts'], 'authenticated');
    }
    const change = await (this.tokenHasOwner ? this.tokenOwnerRights() : this.serviceAppScopes()).catch(
      (e: unknown) => ({ ok: false as boolean | null, message: (e as Error).message }),
    );
    checks.add('changeAccounts', change.ok, change.message);
    return checks.result();
  }

  /** SSWS: the token acts with its owner's admin roles, listed by GET /api/v1/users/{owner}/roles. */
  private async tokenOwnerRights(): Promise<{ ok: boolean | null; message: string }> {
    let ownerId: string;
    try {
      ownerId = (await this.call(() => this.client.userApi.getUser({ userId: 'me' }))).id as string;
    } catch (e) {
      if ((e as DirectoryError).code !== DirectoryErrorCodes.notFound) throw e;
      return {
        ok: null,
        message:
          'the API token belongs to no user (GET /api/v1/users/me: 404), so its admin roles cannot be read',
      };
    }
    const roles: Array<{ type: string; label: string }> = [];
    try {
      await this.call(async () => {
        const assigned = await this.client.roleAssignmentApi.listAssignedRolesForUser({ userId: ownerId });
        for await (const r of assigned) {
          const role = r as { type?: string; label?: string } | null;
          if (role)
            roles.push({ type: String(role.type ?? ''), label: String(role.label ?? role.type ?? '') });
        }
      });
    } catch (e) {
      const err = e as DirectoryError;
      if (err.code !== DirectoryErrorCodes.insufficientRights) throw err;
      return {
        ok: null,
        message: `cannot read the admin roles of the token's owner ${ownerId}: ${err.message}`,
      };
    }
    const names = roles.map((r) => r.label || r.type).join(', ') || 'none';
    const standard = roles.find((r) => ROLES_THAT_MAY_SUSPEND[r.type]);
    if (standard)
      return {
        ok: true,
        message: `the token's owner ${ownerId} is ${ROLES_THAT_MAY_SUSPEND[standard.type]}`,
      };
    if (roles.some((r) => r.type === 'CUSTOM')) {
      return {
        ok: null,
        message: `the token's owner ${ownerId} holds custom admin roles (${names}); check that they may suspend, unsuspend and unlock users and clear their sessions`,
      };
    }
    return {
      ok: false,
      message: `the token's owner ${ownerId} holds no admin role that may suspend users (roles: ${names}); see docs/providers/okta.md`,
    };
  }

  /** OAuth: the scopes Okta granted in the access token's answer (an app lacking one is refused the token). */
  private async serviceAppScopes(): Promise<{ ok: boolean | null; message: string }> {
    const granted = (this.client as unknown as { oauth?: { accessToken?: { scope?: unknown } } }).oauth
      ?.accessToken?.scope;
    const scopes = typeof granted === 'string' ? granted.split(/\s+/).filter(Boolean) : null;
    if (scopes === null) return { ok: null, message: 'the OAuth token answer named no scopes' };
    if (!scopes.includes('okta.users.manage')) {
      return {
        ok: false,
        message: `the service app was not granted okta.users.manage (granted: ${scopes.join(', ') || 'none'})`,
      };
    }
    return {
      ok: true,
      message:
        'the service app was granted okta.users.manage; it also needs an admin role that may suspend users, which its token cannot read (docs/providers/okta.md)',
    };
  }

  /**
   * The failure for a user Okta will not suspend. Users who can still sign in (PASSWORD_EXPIRED, RECOVERY, or
   * one we unlocked) get their sessions cleared first, so that what we could not stop is at least shortened.
   */
  private async cannotSuspend(
    userId: string,
    status: UserStatus,
    unlocked: boolean,
    guard: AttemptGuard,
  ): Promise<DirectoryError> {
    let note = '';
    if (unlocked || MAY_HAVE_SESSIONS.has(status)) {
      await guard.beforeWrite('enabled');
      const failure = await this.tryClearSessions(userId, { guard, state: 'enabled' });
      note = failure
        ? ` Clearing its sessions failed too: ${failure.message}`
        : ' Its sign-in sessions and OAuth tokens were cleared.';
    }
    const was = unlocked
      ? 'was unlocked (it was LOCKED_OUT) so that it could be suspended, and is now '
      : 'is ';
    return permanentError(
      DirectoryErrorCodes.wrongState,
      `Okta user ${was}${status}; Okta suspends only ACTIVE users, so it was left ${status}.${note}`,
    );
  }

  /**
   * We unlocked the user in order to suspend it and the suspend failed: the user can now sign in, which it could
   * not while locked out. Its sessions are cleared (best effort), and the error says so loudly while keeping the
   * suspend's code and transience for the engine.
   */
  private async unlockedButNotSuspended(
    userId: string,
    e: unknown,
    guard: AttemptGuard,
  ): Promise<DirectoryError> {
    const cause = e instanceof DirectoryError ? e : mapOktaError(e);
    this.log.error('okta user unlocked for suspension but not suspended', { userId, code: cause.code });
    await guard.beforeWrite('enabled');
    const cleared = await this.tryClearSessions(userId, { guard, state: 'enabled' });
    return new DirectoryError(
      cause.code,
      `Okta user ${userId} was LOCKED_OUT and has been unlocked so that it could be suspended, but the suspend ` +
        `failed, so the user is now ACTIVE and can sign in (its sessions ${cleared ? `could not be cleared either: ${cleared.message}` : 'were cleared'}): ${cause.message}`,
      cause.transient,
      cause.retryAfterMs,
    );
  }

  private async find(account: AccountIdentifier): Promise<OktaUser | null> {
    switch (account.kind) {
      case 'oktaId':
        return this.getUser(account.value);
      case 'email':
        return (
          (await this.getUser(account.value)) ??
          (await this.searchOne(searchEquals('profile.email', account.value)))
        );
      case 'name':
        return NOT_A_PATH_KEY.test(account.value)
          ? this.searchOne(searchEquals('profile.login', account.value))
          : this.getUser(account.value);
      default:
        // DNs, GUIDs, SIDs and down-level names belong to other directories.
        return null;
    }
  }

  private async protectedReason(account: ResolvedAccount): Promise<string | undefined> {
    const listed = account.identifiers.find((i) => this.protectedAccounts.has(normalise(i)));
    if (listed) return `${listed} is listed in protectedAccounts of provider ${this.id}`;
    const owner = await this.ownerOfApiToken();
    if (owner !== undefined && owner === account.objectRef) {
      return `Okta user ${owner} owns the API token of provider ${this.id}: the token acts as that user, so suspending it could cut this engine off from Okta`;
    }
    return undefined;
  }

  /**
   * The admin user whose API token we use (GET /api/v1/users/me answers that user for an SSWS token). Looked up
   * once. Fails closed: while the owner cannot be read the resolve fails (transient, so the target is retried)
   * rather than risk suspending the engine's own admin. A 404 means the token belongs to no user.
   */
  private async ownerOfApiToken(): Promise<string | undefined> {
    if (!this.tokenHasOwner || this.tokenOwnerKnown) return this.tokenOwnerId;
    this.tokenOwnerLookup ??= this.call(() => this.client.userApi.getUser({ userId: 'me' }))
      .then((me) => me.id as string)
      .catch((e: DirectoryError) => {
        if (e.code === DirectoryErrorCodes.notFound) return undefined;
        this.log.warn('cannot tell which Okta user owns the API token; resolving waits until it is known', {
          provider: this.id,
          code: e.code,
          error: e.message,
        });
        throw e.transient
          ? e
          : transientError(
              e.code,
              `Cannot read the owner of the API token (protected account): ${e.message}`,
            );
      })
      .then((id) => {
        this.tokenOwnerId = id;
        this.tokenOwnerKnown = true;
        return id;
      })
      .finally(() => {
        this.tokenOwnerLookup = undefined;
      });
    return this.tokenOwnerLookup;
  }

  /** GET /api/v1/users/{id or login}; the SDK URL-encodes the key. Not found is null. */
  private async getUser(key: string): Promise<OktaUser | null> {
    try {
      return await this.call(() => this.client.userApi.getUser({ userId: key }));
    } catch (e) {
      if ((e as { code?: string }).code === DirectoryErrorCodes.notFound) return null;
      throw e;
    }
  }

  private async mustGet(userId: string): Promise<OktaUser> {
    const user = await this.getUser(userId);
    if (!user) throw permanentError(DirectoryErrorCodes.notFound, `Okta user ${userId} no longer exists`);
    return user;
  }

  private async searchOne(expression: string): Promise<OktaUser | null> {
    const found: User[] = [];
    await this.call(async () => {
      const users = await this.client.userApi.listUsers({ search: expression, limit: 2 });
      for await (const u of users) {
        if (u) found.push(u);
        if (found.length >= 2) break;
      }
    });
    if (found.length > 1) {
      throw permanentError(
        DirectoryErrorCodes.ambiguousAccount,
        `more than one Okta user matches ${expression} (${found.map((u) => u.id).join(', ')}, ...); name the user by Okta id or login`,
      );
    }
    return found[0] ?? null;
  }

  /**
   * One lifecycle call. Undefined when Okta made the change; when Okta refused it for the user's status
   * (E0000001: someone changed the user since our read), the status it has now, for the caller to follow. A
   * refusal while the status is still `from` is not explained by a race and is thrown as it came.
   */
  private async lifecycle(
    userId: string,
    operation: Lifecycle,
    from: UserStatus,
    write: WriteRetry,
  ): Promise<UserStatus | undefined> {
    try {
      await this.call(() => {
        const api = this.client.userApi;
        if (operation === 'suspend') return api.suspendUser({ userId });
        if (operation === 'unsuspend') return api.unsuspendUser({ userId });
        return api.unlockUser({ userId });
      }, write);
      return undefined;
    } catch (e) {
      if ((e as { code?: string }).code !== DirectoryErrorCodes.wrongState) throw e;
      const now = (await this.mustGet(userId)).status as UserStatus;
      if (now === from) throw e;
      this.log.info(`okta refused ${operation}: the user changed status meanwhile`, { userId, now });
      return now;
    }
  }

  /**
   * The user is suspended by now, so a failure here becomes a warning, not a failed target (an engine retry
   * would redo nothing but this). The guard's refusal is not such a failure and propagates.
   */
  private async clearSessionsAfterSuspend(userId: string, guard: AttemptGuard): Promise<void> {
    const failure = await this.clearSessionsWithRetries(userId, guard, 'disabled');
    if (!failure) return;
    this.log.warn('okta user suspended but its sessions were not cleared', { userId, code: failure.code });
    const remedy =
      failure.code === DirectoryErrorCodes.insufficientRights
        ? ' The API token owner or service app needs an admin role that may clear user sessions (and, for a service app, the okta.users.manage scope).'
        : '';
    guard.warn({
      code: SESSION_REVOCATION_FAILED,
      message:
        `Okta user ${userId} IS suspended, but clearing its sessions and OAuth tokens failed, so sessions and ` +
        `tokens issued before may stay usable until they expire. ${failure.message}.${remedy}`,
    });
  }

  /** DELETE …/sessions, retried while the failure is transient and short; answers the last failure. */
  private async clearSessionsWithRetries(
    userId: string,
    guard: AttemptGuard,
    state: AccountState,
  ): Promise<DirectoryError | undefined> {
    for (let attempt = 1; ; attempt++) {
      await guard.beforeWrite(state);
      const failure = await this.tryClearSessions(userId, { guard, state });
      if (!failure || !failure.transient || attempt >= CLEAR_ATTEMPTS) return failure;
      const wait = failure.retryAfterMs ?? CLEAR_BACKOFF_MS[attempt - 1];
      if (wait > MAX_CLEAR_RETRY_WAIT_MS) return failure;
      await delay(wait, undefined, { signal: guard.signal });
    }
  }

  /**
   * oauthTokens=true revokes the OIDC/OAuth refresh and access tokens Okta issued to the user as well: without
   * it, apps holding a refresh token would keep minting access tokens for the suspended user.
   */
  private async tryClearSessions(userId: string, write: WriteRetry): Promise<DirectoryError | undefined> {
    try {
      await this.call(() => this.client.userApi.revokeUserSessions({ userId, oauthTokens: true }), write);
      return undefined;
    } catch (e) {
      return e as DirectoryError;
    }
  }

  private async expectStatus(userId: string, expected: UserStatus, operation: string): Promise<void> {
    const after = await this.mustGet(userId);
    if (after.status !== expected) {
      throw transientError(
        DirectoryErrorCodes.verificationFailed,
        `Okta accepted ${operation} but reports the user ${after.status}, not ${expected}`,
      );
    }
  }

  /**
   * One SDK call, its failure mapped. A 429 whose wait is short (another client's burst, a short window) is sat
   * out here and the call made again, a write only after its guard agrees again; a longer one is thrown, and
   * the engine pauses the Okta queue for it.
   */
  private async call<T>(fn: () => Promise<T>, write?: WriteRetry): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await fn();
      } catch (e) {
        const mapped = mapOktaError(e);
        if (mapped.code !== DirectoryErrorCodes.rateLimited) throw mapped;
        const wait = mapped.retryAfterMs ?? Number.POSITIVE_INFINITY;
        if (tries >= RATE_LIMITED_TRIES || wait > this.pacer.maxInlineWaitMs) {
          this.log.warn('okta rate limit reached', { retryAfterMs: mapped.retryAfterMs });
          throw mapped;
        }
        await delay(wait, undefined, { signal: write?.guard.signal });
        await write?.guard.beforeWrite(write.state);
      }
    }
  }
}

/** The user's status changed under every lifecycle call we made: worth another attempt later, not a verdict. */
function stillChanging(status: UserStatus): DirectoryError {
  return transientError(
    DirectoryErrorCodes.wrongState,
    `Okta user kept changing status while being changed (now ${status}); another admin or policy may be acting on it`,
  );
}

function normalise(s: string): string {
  return s.trim().toLowerCase();
}

function toResolved(user: OktaUser): ResolvedAccount {
  const id = user.id as string;
  const identifiers = [id, user.profile?.login, user.profile?.email].filter((v): v is string => !!v);
  return {
    objectId: id,
    objectRef: id,
    identifiers: [...new Set(identifiers)],
    disabled: user.status === 'SUSPENDED',
  };
}
