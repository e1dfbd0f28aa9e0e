import { EmulatedError, userNotFound, wrongState } from './okta-errors';

export type OktaUserStatus =
  | 'ACTIVE'
  | 'DEPROVISIONED'
  | 'LOCKED_OUT'
  | 'PASSWORD_EXPIRED'
  | 'PROVISIONED'
  | 'RECOVERY'
  | 'STAGED'
  | 'SUSPENDED';

export interface FixtureUser {
  id: string;
  status: OktaUserStatus;
  /** How many live sign-in sessions the user holds; cleared by DELETE /sessions. */
  sessions?: number;
  profile: { login: string; email: string; firstName?: string; lastName?: string; [k: string]: unknown };
  /** Standard admin role types (SUPER_ADMIN, ORG_ADMIN, HELP_DESK_ADMIN…) or CUSTOM, for GET /users/{id}/roles. */
  adminRoles?: string[];
}

export interface Fixture {
  /**
   * Id or login of the admin user who created the emulator's API token: what GET /api/v1/users/me answers
   * with SSWS. Absent or null: the token belongs to no user (see README).
   */
  tokenOwner?: string | null;
  users: FixtureUser[];
}

export interface EmulatedUser {
  id: string;
  status: OktaUserStatus;
  sessions: number;
  /** How many times DELETE /api/v1/users/{id}/sessions reached this user. */
  sessionClears: number;
  /** How many of those carried oauthTokens=true (Okta then also revokes the user's OIDC/OAuth tokens). */
  oauthTokenRevocations: number;
  created: string;
  activated: string | null;
  statusChanged: string | null;
  lastLogin: string | null;
  lastUpdated: string;
  passwordChanged: string | null;
  profile: FixtureUser['profile'];
}

type Lifecycle = 'suspend' | 'unsuspend' | 'unlock' | 'deactivate' | 'activate' | 'reactivate';

/**
 * Okta's lifecycle rules (management API reference, "User lifecycle operations"): which status each operation
 * starts from and where it leads. `activate` with sendEmail=true leaves a password-less user PROVISIONED until
 * the welcome flow completes; the emulator models that as PROVISIONED.
 */
const TRANSITIONS: Record<Lifecycle, { from: OktaUserStatus[]; to: (sendEmail: boolean) => OktaUserStatus }> =
  {
    suspend: { from: ['ACTIVE'], to: () => 'SUSPENDED' },
    unsuspend: { from: ['SUSPENDED'], to: () => 'ACTIVE' },
    unlock: { from: ['LOCKED_OUT'], to: () => 'ACTIVE' },
    deactivate: {
      from: ['ACTIVE', 'LOCKED_OUT', 'PASSWORD_EXPIRED', 'PROVISIONED', 'RECOVERY', 'STAGED', 'SUSPENDED'],
      to: () => 'DEPROVISIONED',
    },
    activate: {
      from: ['STAGED', 'DEPROVISIONED'],
      to: (sendEmail) => (sendEmail ? 'PROVISIONED' : 'ACTIVE'),
    },
    reactivate: { from: ['PROVISIONED', 'RECOVERY'], to: () => 'PROVISIONED' },
  };

export const LIFECYCLE_OPERATIONS = Object.keys(TRANSITIONS) as Lifecycle[];

export class UserStore {
  private readonly users = new Map<string, EmulatedUser>();

  constructor(fixture: Fixture) {
    const created = '2024-01-01T00:00:00.000Z';
    for (const u of fixture.users) {
      this.users.set(u.id, {
        id: u.id,
        status: u.status,
        sessions: u.sessions ?? 0,
        sessionClears: 0,
        oauthTokenRevocations: 0,
        created,
        activated: u.status === 'STAGED' ? null : created,
        statusChanged: created,
        lastLogin: u.sessions ? created : null,
        lastUpdated: created,
        passwordChanged: created,
        profile: { ...u.profile },
      });
    }
  }

  all(): EmulatedUser[] {
    return [...this.users.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  get(id: string): EmulatedUser | undefined {
    return this.users.get(id);
  }

  /** Test helper: put a user in a status directly, as an admin in the Okta console would. */
  setStatus(id: string, status: OktaUserStatus): void {
    const u = this.mustGet(id);
    u.status = status;
    this.touch(u, true);
  }

  /**
   * The `{userId}` path parameter: "An ID, login, or login shortname (as long as the shortname is unambiguous)"
   * (okta-management-openapi-spec, User API). Logins compare case-insensitively.
   */
  lookup(key: string): EmulatedUser | EmulatedError {
    const byId = this.users.get(key);
    if (byId) return byId;
    const lower = key.toLowerCase();
    const byLogin = this.all().filter((u) => u.profile.login.toLowerCase() === lower);
    if (byLogin.length === 1) return byLogin[0];
    if (!key.includes('@')) {
      const byShortname = this.all().filter((u) => u.profile.login.toLowerCase().split('@')[0] === lower);
      if (byShortname.length === 1) return byShortname[0];
    }
    return userNotFound(key);
  }

  lifecycle(key: string, operation: Lifecycle, sendEmail = true): EmulatedUser | EmulatedError {
    const found = this.lookup(key);
    if (!('id' in found)) return found;
    const rule = TRANSITIONS[operation];
    if (!rule.from.includes(found.status)) return wrongState(operation, found.status);
    found.status = rule.to(sendEmail);
    if (found.status === 'DEPROVISIONED') found.sessions = 0;
    if (found.status === 'ACTIVE' && !found.activated) found.activated = new Date().toISOString();
    this.touch(found, true);
    return found;
  }

  clearSessions(key: string, oauthTokens = false): EmulatedUser | EmulatedError {
    const found = this.lookup(key);
    if (!('id' in found)) return found;
    found.sessions = 0;
    found.sessionClears++;
    if (oauthTokens) found.oauthTokenRevocations++;
    return found;
  }

  private mustGet(id: string): EmulatedUser {
    const u = this.users.get(id);
    if (!u) throw new Error(`no user ${id} in the Okta emulator`);
    return u;
  }

  private touch(u: EmulatedUser, statusChanged: boolean): void {
    const now = new Date().toISOString();
    u.lastUpdated = now;
    if (statusChanged) u.statusChanged = now;
  }
}

/** The user as GET /api/v1/users/{id} returns it (okta-management-openapi-spec `User` schema). */
export function userJson(u: EmulatedUser, orgUrl: string): Record<string, unknown> {
  const self = `${orgUrl}/api/v1/users/${u.id}`;
  return {
    id: u.id,
    status: u.status,
    created: u.created,
    activated: u.activated,
    statusChanged: u.statusChanged,
    lastLogin: u.lastLogin,
    lastUpdated: u.lastUpdated,
    passwordChanged: u.passwordChanged,
    type: { id: 'oty1emulatortype00001' },
    transitioningToStatus: null,
    profile: {
      firstName: u.profile.firstName ?? null,
      lastName: u.profile.lastName ?? null,
      mobilePhone: null,
      secondEmail: null,
      ...u.profile,
    },
    credentials: { password: {}, provider: { type: 'OKTA', name: 'OKTA' } },
    _links: {
      self: { href: self },
      ...(u.status === 'ACTIVE' ? { suspend: { href: `${self}/lifecycle/suspend`, method: 'POST' } } : {}),
      ...(u.status === 'SUSPENDED'
        ? { unsuspend: { href: `${self}/lifecycle/unsuspend`, method: 'POST' } }
        : {}),
      ...(u.status === 'LOCKED_OUT' ? { unlock: { href: `${self}/lifecycle/unlock`, method: 'POST' } } : {}),
      ...(u.status !== 'DEPROVISIONED'
        ? { deactivate: { href: `${self}/lifecycle/deactivate`, method: 'POST' } }
        : { activate: { href: `${self}/lifecycle/activate`, method: 'POST' } }),
    },
  };
}
