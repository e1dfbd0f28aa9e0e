import { randomUUID } from 'node:crypto';

/** A user as the emulator stores it: the properties the adapter reads or writes, plus a few for realism. */
export interface EmulatedUser {
  id: string;
  displayName: string;
  userPrincipalName: string;
  mail: string | null;
  accountEnabled: boolean;
  /** true: synced from on-premises AD; false: was synced, no longer is; null: cloud-only. */
  onPremisesSyncEnabled: boolean | null;
  /** The synced AD account's objectSid (S-1-5-21-…); null for cloud-only users. */
  onPremisesSecurityIdentifier: string | null;
  /** The AD domain's DNS name, as Entra Connect writes it (e.g. corp.contoso.example). */
  onPremisesDomainName: string | null;
  onPremisesSamAccountName: string | null;
  signInSessionsValidFromDateTime: string;
  givenName: string | null;
  surname: string | null;
  jobTitle: string | null;
}

export type UserSeed = Partial<EmulatedUser> & { userPrincipalName: string };

/** The tenant's users plus what the tests need to see that Graph never shows: how often sessions were revoked. */
export class UserDirectory {
  private readonly users = new Map<string, EmulatedUser>();
  private readonly revocations = new Map<string, number>();

  constructor(seeds: UserSeed[] = []) {
    for (const seed of seeds) this.add(seed);
  }

  add(seed: UserSeed): EmulatedUser {
    const user: EmulatedUser = {
      id: (seed.id ?? randomUUID()).toLowerCase(),
      displayName: seed.displayName ?? seed.userPrincipalName.split('@')[0],
      userPrincipalName: seed.userPrincipalName,
      mail: seed.mail ?? null,
      accountEnabled: seed.accountEnabled ?? true,
      onPremisesSyncEnabled: seed.onPremisesSyncEnabled ?? null,
      onPremisesSecurityIdentifier: seed.onPremisesSecurityIdentifier ?? null,
      onPremisesDomainName: seed.onPremisesDomainName ?? null,
      onPremisesSamAccountName: seed.onPremisesSamAccountName ?? null,
      signInSessionsValidFromDateTime: seed.signInSessionsValidFromDateTime ?? '2024-01-01T00:00:00Z',
      givenName: seed.givenName ?? null,
      surname: seed.surname ?? null,
      jobTitle: seed.jobTitle ?? null,
    };
    if (this.find(user.id) || this.find(user.userPrincipalName)) {
      throw new Error(`emulator: user ${user.userPrincipalName} already exists`);
    }
    this.users.set(user.id, user);
    return { ...user };
  }

  /** By object id or userPrincipalName (case-insensitive, as Graph's /users/{id | userPrincipalName}). */
  find(key: string): EmulatedUser | undefined {
    const k = key.toLowerCase();
    return this.users.get(k) ?? [...this.users.values()].find((u) => u.userPrincipalName.toLowerCase() === k);
  }

  /** A copy: tests read state through this, never through the adapter. */
  get(key: string): EmulatedUser | undefined {
    const u = this.find(key);
    return u ? { ...u } : undefined;
  }

  set(key: string, patch: Partial<Omit<EmulatedUser, 'id'>>): EmulatedUser {
    const u = this.find(key);
    if (!u) throw new Error(`emulator: no user ${key}`);
    Object.assign(u, patch);
    return { ...u };
  }

  list(): EmulatedUser[] {
    return [...this.users.values()].map((u) => ({ ...u }));
  }

  revokeSessions(id: string): void {
    const u = this.find(id);
    if (!u) return;
    u.signInSessionsValidFromDateTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.revocations.set(u.id, (this.revocations.get(u.id) ?? 0) + 1);
  }

  /** How many times revokeSignInSessions succeeded for this user. */
  sessionRevocations(key: string): number {
    const u = this.find(key);
    return u ? (this.revocations.get(u.id) ?? 0) : 0;
  }
}
