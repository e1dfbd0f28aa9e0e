import { setTimeout as delay } from 'node:timers/promises';
import { EntraIdProviderConfig } from '@app/config';
import { AccountIdentifier } from '@app/domain';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter, DisableOutcome, EnableOutcome, ResolvedAccount } from '../directory-adapter';
import { DirectoryErrorCodes, permanentError, transientError } from '../directory-error';
import { GraphBatcher } from './graph-batcher';
import { graphFailure } from './graph-errors';
import { GraphTransport } from './graph-transport';
import { GraphRequest, GraphResponse } from './graph-types';
import { EntraTokenProvider } from './token-provider';

export const DEFAULT_GRAPH_BASE_URL = 'https://graph.microsoft.com';
const DEFAULT_TIMEOUT_MS = 10_000;
const SELECT = '$select=id,userPrincipalName,mail,accountEnabled,onPremisesSyncEnabled';
const READ_PERMISSION = 'User.Read.All';
const ENABLE_DISABLE_PERMISSION = 'User.EnableDisableAccount.All';
const REVOKE_PERMISSION = 'User.RevokeSessions.All';
// Graph is eventually consistent across replicas: a read right after a write can still show the old value.
const READ_BACK_DELAYS_MS = [0, 250, 750, 1500];

interface GraphUser {
  id: string;
  userPrincipalName: string | null;
  mail: string | null;
  accountEnabled: boolean | null;
  onPremisesSyncEnabled: boolean | null;
}

/** Entra ID through Microsoft Graph v1.0 with an app-only token (CONTRACT §9). */
export class EntraIdAdapter implements DirectoryAdapter {
  readonly kind = 'entraId' as const;
  readonly id: string;
  private readonly batcher: GraphBatcher;

  constructor(
    config: EntraIdProviderConfig,
    private readonly context: AdapterContext,
  ) {
    this.id = config.id;
    const graphBaseUrl = (config.graphBaseUrl ?? DEFAULT_GRAPH_BASE_URL).replace(/\/+$/, '');
    const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const tokens = new EntraTokenProvider(config, graphBaseUrl, timeoutMs, context.logger);
    this.batcher = new GraphBatcher(new GraphTransport(graphBaseUrl, tokens, timeoutMs));
  }

  async resolve(account: AccountIdentifier): Promise<ResolvedAccount | null> {
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
    const identifiers = [
      ...new Set([user.id, user.userPrincipalName, user.mail].filter((v): v is string => !!v)),
    ];
    return {
      objectId: user.id,
      objectRef: user.id,
      identifiers,
      disabled: user.accountEnabled === false,
      ...(user.onPremisesSyncEnabled === true && this.context.hasActiveDirectory
        ? { managedElsewhere: true }
        : {}),
    };
  }

  async disable(account: ResolvedAccount): Promise<DisableOutcome> {
    const before = await this.requireUser(account.objectRef);
    if (before.accountEnabled === false) {
      // Revoked again on purpose: the account is part of an incident, revoking is idempotent, and it completes a
      // previous attempt whose disable went through but whose revocation failed.
      await this.revokeSessions(before.id);
      return 'alreadyDisabled';
    }
    await this.setAccountEnabled(before.id, false);
    await this.revokeSessions(before.id);
    await this.readBack(before.id, false);
    return 'disabled';
  }

  async enable(account: ResolvedAccount): Promise<EnableOutcome> {
    const before = await this.requireUser(account.objectRef);
    if (before.accountEnabled === true) return 'alreadyEnabled';
    await this.setAccountEnabled(before.id, true);
    await this.readBack(before.id, true);
    return 'enabled';
  }

  async close(): Promise<void> {
    this.batcher.drain();
  }

  /**
   * One Graph call through the batcher. A 401 gets one more try with a token fetched past msal's cache (the
   * cached one may have been revoked or outlived its keys); a second 401 is the caller's to map as permanent.
   */
  private async call(req: GraphRequest): Promise<GraphResponse> {
    const res = await this.batcher.submit(req);
    if (res.status !== 401) return res;
    this.context.logger.warn('Graph refused the access token; retrying once with a fresh one', {
      provider: this.id,
    });
    return this.batcher.submit(req);
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

  private async setAccountEnabled(id: string, enabled: boolean): Promise<void> {
    const res = await this.call({ method: 'PATCH', url: userPath(id), body: { accountEnabled: enabled } });
    if (res.status === 204 || res.status === 200) return;
    throw graphFailure(res, enabled ? 'enabling the user' : 'disabling the user', ENABLE_DISABLE_PERMISSION);
  }

  private async revokeSessions(id: string): Promise<void> {
    const res = await this.call({ method: 'POST', url: `${userPath(id)}/revokeSignInSessions` });
    // Documented as 200 {"value": true}; Graph's known-issues page says it has also answered 204.
    if (res.status === 200 || res.status === 204) return;
    throw graphFailure(res, "revoking the user's sign-in sessions", REVOKE_PERMISSION);
  }

  private async readBack(id: string, expected: boolean): Promise<void> {
    for (const wait of READ_BACK_DELAYS_MS) {
      if (wait) await delay(wait);
      const user = await this.requireUser(id);
      if (user.accountEnabled === expected) return;
    }
    throw transientError(
      DirectoryErrorCodes.verificationFailed,
      `Entra ID accepted accountEnabled=${expected} for ${id} but still reads it back as ${!expected}`,
    );
  }
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
