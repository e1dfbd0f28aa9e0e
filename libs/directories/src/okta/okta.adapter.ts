import type { Client, User, UserGetSingleton, UserStatus } from '@okta/okta-sdk-nodejs';
import { OktaProviderConfig } from '@app/config';
import { AccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter, DisableOutcome, EnableOutcome, ResolvedAccount } from '../directory-adapter';
import { DirectoryErrorCodes, permanentError, transientError } from '../directory-error';
import { createOktaClient } from './okta-client';
import { mapOktaError } from './okta-error-mapping';
import { searchEquals } from './okta-search';

type OktaUser = User | UserGetSingleton;

/**
 * Keys that GET /api/v1/users/{key} would not read as a login: `me` is the caller itself (the admin who owns
 * the API token), and `.`/`..` would be folded into the path by URL normalisation. Those go through search.
 */
const NOT_A_PATH_KEY = /^(me|\.{1,2})$/i;

/** Statuses in which the user may still hold sign-in sessions worth clearing even though Okta won't suspend. */
const MAY_HAVE_SESSIONS: ReadonlySet<UserStatus> = new Set(['LOCKED_OUT', 'PASSWORD_EXPIRED', 'RECOVERY']);

/** What re-enabling a user in these statuses would take; all of them mail the user or reset credentials. */
const ENABLE_NEEDS: Partial<Record<UserStatus, string>> = {
  DEPROVISIONED: 'activation (which e-mails the user an activation link)',
  STAGED: 'activation (which e-mails the user an activation link)',
  PROVISIONED: 'reactivation (which e-mails the user a new activation link)',
  RECOVERY: 'the user to finish password recovery, or reactivation',
  PASSWORD_EXPIRED: 'the user to set a new password',
};

/**
 * Okta through @okta/okta-sdk-nodejs (CONTRACT §9). Disable = suspend + clear sessions (never deactivate:
 * that drops app assignments and can only be undone by activation mail). Enable picks the inverse by status.
 */
export class OktaAdapter implements DirectoryAdapter {
  readonly kind = 'okta' as const;
  readonly id: string;
  private readonly log: AppLogger;

  constructor(
    config: OktaProviderConfig,
    context: AdapterContext,
    private readonly client: Client = createOktaClient(config),
  ) {
    this.id = config.id;
    this.log = context.logger;
  }

  async resolve(account: AccountIdentifier): Promise<ResolvedAccount | null> {
    const user = await this.find(account);
    return user ? toResolved(user) : null;
  }

  async disable(account: ResolvedAccount): Promise<DisableOutcome> {
    const user = await this.mustGet(account.objectRef);
    const status = user.status as UserStatus;
    const userId = user.id as string;
    if (status === 'SUSPENDED') {
      // Someone suspended it before us; its sessions may have outlived that, and clearing them is harmless.
      await this.clearSessions(userId);
      return 'alreadyDisabled';
    }
    if (status !== 'ACTIVE') {
      let note = '';
      if (MAY_HAVE_SESSIONS.has(status)) {
        await this.clearSessions(userId);
        note = ' Its sign-in sessions were cleared.';
      }
      throw permanentError(
        DirectoryErrorCodes.wrongState,
        `Okta user is ${status}; Okta suspends only ACTIVE users, so it was left ${status}.${note}`,
      );
    }
    try {
      await this.call(() => this.client.userApi.suspendUser({ userId }));
    } catch (e) {
      if ((e as { code?: string }).code !== DirectoryErrorCodes.wrongState) throw e;
      // The status changed between our read and our call (E0000001).
      const now = (await this.mustGet(userId)).status;
      if (now === 'ACTIVE') throw e;
      if (now !== 'SUSPENDED') {
        throw permanentError(
          DirectoryErrorCodes.wrongState,
          `Okta user is ${now}; Okta suspends only ACTIVE users`,
        );
      }
      await this.clearSessions(userId);
      return 'alreadyDisabled';
    }
    // Suspend first, then clear: the other order would leave a window to sign in again.
    await this.clearSessions(userId);
    await this.expectStatus(userId, 'SUSPENDED', 'suspend');
    this.log.info('okta user suspended and sessions cleared', { userId });
    return 'disabled';
  }

  async enable(account: ResolvedAccount): Promise<EnableOutcome> {
    const user = await this.mustGet(account.objectRef);
    const status = user.status as UserStatus;
    const userId = user.id as string;
    if (status === 'ACTIVE') return 'alreadyEnabled';
    if (status === 'SUSPENDED' || status === 'LOCKED_OUT') {
      const operation = status === 'SUSPENDED' ? 'unsuspend' : 'unlock';
      try {
        await this.call(() =>
          operation === 'unsuspend'
            ? this.client.userApi.unsuspendUser({ userId })
            : this.client.userApi.unlockUser({ userId }),
        );
      } catch (e) {
        if ((e as { code?: string }).code === DirectoryErrorCodes.wrongState) {
          if ((await this.mustGet(userId)).status === 'ACTIVE') return 'alreadyEnabled';
        }
        throw e;
      }
      await this.expectStatus(userId, 'ACTIVE', operation);
      this.log.info(`okta user ${operation === 'unsuspend' ? 'unsuspended' : 'unlocked'}`, {
        userId,
        from: status,
      });
      return 'enabled';
    }
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

  private async clearSessions(userId: string): Promise<void> {
    await this.call(() => this.client.userApi.revokeUserSessions({ userId }));
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

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const mapped = mapOktaError(e);
      if (mapped.code === DirectoryErrorCodes.rateLimited) {
        this.log.warn('okta rate limit reached', { retryAfterMs: mapped.retryAfterMs });
      }
      throw mapped;
    }
  }
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
