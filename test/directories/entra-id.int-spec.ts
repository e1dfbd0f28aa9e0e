import { randomUUID } from 'node:crypto';
import { EntraIdProviderConfig } from '@app/config';
import { parseAccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
import { createEntraIdAdapter } from '../../libs/directories/src/entra-id';
import { DirectoryAdapter, ResolvedAccount, unguarded } from '../../libs/directories/src/directory-adapter';
import { DirectoryError } from '../../libs/directories/src/directory-error';
import { EntraEmulator, startEntraEmulator } from '../emulators/entra-id';

// Real msal-node and real HTTPS against the emulator (test/emulators/entra-id/README.md), which must be
// trusted through NODE_EXTRA_CA_CERTS: jest's globalSetup sets it for its workers.
let emu: EntraEmulator;
const opened: DirectoryAdapter[] = [];
const silent = new AppLogger('test', 'error', () => undefined);

const ALEX = '0b7e8f5a-3c2d-4e1f-9a8b-7c6d5e4f3a21'; // cloud-only, enabled
const DEBRA = '1c8f9a6b-4d3e-4f2a-8b9c-8d7e6f5a4b32'; // cloud-only, disabled
const GRADY = '2d9a0b7c-5e4f-4a3b-9c0d-9e8f7a6b5c43'; // synced from on-premises AD
const MEGAN = '3e0b1c8d-6f5a-4b4c-8d1e-0f9a8b7c6d54'; // mail differs from UPN
const GRADY_SID = 'S-1-5-21-3623811015-3361044348-30300820-1107';

function config(overrides: Partial<EntraIdProviderConfig> = {}): EntraIdProviderConfig {
  return {
    id: 'entra',
    kind: 'entraId',
    tenantId: emu.tenantId,
    clientId: emu.clientId,
    clientSecret: emu.clientSecret,
    authorityHost: emu.authorityHost,
    graphBaseUrl: emu.graphBaseUrl,
    ...overrides,
  };
}

function adapter(overrides: Partial<EntraIdProviderConfig> = {}): DirectoryAdapter {
  const a = createEntraIdAdapter(config(overrides), { logger: silent });
  opened.push(a);
  return a;
}

function certificateConfig(thumbprint = emu.certificate.thumbprint): Partial<EntraIdProviderConfig> {
  return {
    clientSecret: undefined,
    certificate: { thumbprint, privateKeyFile: emu.certificate.privateKeyFile },
  };
}

async function resolveOrFail(a: DirectoryAdapter, account: string): Promise<ResolvedAccount> {
  const r = await a.resolve(parseAccountIdentifier(account));
  if (!r) throw new Error(`${account} not resolved`);
  return r;
}

async function failure(p: Promise<unknown>): Promise<DirectoryError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DirectoryError) return e;
    throw e;
  }
  throw new Error('expected a DirectoryError');
}

/** What the engine's guard throws when an attempt may no longer write. */
class AttemptStopped extends Error {}

/** A guard that lets `allowed` writes through and refuses the next, recording each state it was told. */
function stoppingGuard(allowed = 0): ReturnType<typeof unguarded> {
  const guard = unguarded();
  return {
    ...guard,
    beforeWrite: async (state) => {
      guard.writes.push(state);
      if (guard.writes.length > allowed) throw new AttemptStopped('claim lost');
    },
  };
}

async function stopped(p: Promise<unknown>): Promise<AttemptStopped> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AttemptStopped);
  return e as AttemptStopped;
}

const graphCalls = (method: string, suffix = '') =>
  emu.requests
    .all()
    .filter((q) => q.server === 'graph' && q.method === method && q.path.endsWith(suffix))
    .map((q) => q.status);

function newUser(accountEnabled = true) {
  const tag = randomUUID().slice(0, 8);
  return emu.users.add({
    userPrincipalName: `user-${tag}@${emu.tenantDomain}`,
    mail: `user-${tag}@${emu.tenantDomain}`,
    accountEnabled,
  });
}

beforeAll(async () => {
  emu = await startEntraEmulator();
});

afterAll(async () => {
  await Promise.all(opened.map((a) => a.close()));
  await emu?.stop();
});

beforeEach(() => {
  emu.faults.clear();
  emu.requests.clear();
});

describe('Entra ID adapter: tokens', () => {
  it('asks the token endpoint once for many Graph calls (msal caches the token)', async () => {
    const a = adapter();
    await Promise.all([ALEX, MEGAN, DEBRA].map((id) => a.resolve(parseAccountIdentifier(id))));
    for (let i = 0; i < 5; i++) await resolveOrFail(a, 'alex.wilber@contoso.example');

    expect(emu.requests.tokenRequests()).toHaveLength(1);
    expect(emu.requests.all().filter((r) => r.server === 'graph').length).toBeGreaterThanOrEqual(6);
    // The configured authority is used as given: OpenID metadata from it, no instance discovery elsewhere.
    expect(
      emu.requests
        .all()
        .filter((r) => r.server === 'login')
        .map((r) => r.path),
    ).toEqual([
      `/${emu.tenantId}/v2.0/.well-known/openid-configuration`,
      `/${emu.tenantId}/oauth2/v2.0/token`,
    ]);
  });

  it('authenticates with a certificate (SHA-1 thumbprint, as the portal shows it)', async () => {
    const r = await resolveOrFail(adapter(certificateConfig()), ALEX);
    expect(r.objectId).toBe(ALEX);
    expect(emu.requests.tokenRequests().map((t) => t.status)).toEqual([200]);
  });

  it('authenticates with a certificate given by its SHA-256 thumbprint', async () => {
    const r = await resolveOrFail(adapter(certificateConfig(emu.certificate.thumbprintSha256)), ALEX);
    expect(r.objectId).toBe(ALEX);
  });

  it('fails permanently with invalidCredentials and Entra reason for a wrong secret, without echoing it', async () => {
    const e = await failure(
      adapter({ clientSecret: 'not-the-secret-value' }).resolve(parseAccountIdentifier(ALEX)),
    );
    expect(e.transient).toBe(false);
    expect(e.code).toBe('invalidCredentials');
    expect(e.message).toContain('AADSTS7000215');
    expect(e.message).not.toContain('not-the-secret-value');
    expect(emu.requests.tokenRequests().map((t) => t.status)).toEqual([401]);
  });

  it('fails permanently with invalidCredentials for a certificate the app registration does not hold', async () => {
    const e = await failure(
      adapter(certificateConfig('AB'.repeat(20))).resolve(parseAccountIdentifier(ALEX)),
    );
    expect(e.transient).toBe(false);
    expect(e.code).toBe('invalidCredentials');
    expect(e.message).toContain('AADSTS700027');
  });

  it('gets a fresh token once when Graph refuses the cached one, and succeeds', async () => {
    const a = adapter();
    await resolveOrFail(a, ALEX);
    emu.invalidateIssuedTokens();
    const r = await resolveOrFail(a, MEGAN);
    expect(r.objectId).toBe(MEGAN);
    expect(emu.requests.tokenRequests()).toHaveLength(2);
  });

  it('gives up with a permanent error when Graph refuses a fresh token too', async () => {
    const a = adapter();
    emu.faults.failNext('GET', `/v1.0/users/${ALEX}`, { status: 401, times: 2 });
    const e = await failure(a.resolve(parseAccountIdentifier(ALEX)));
    expect(e.transient).toBe(false);
    expect(e.code).toBe('invalidCredentials');
    expect(emu.requests.tokenRequests()).toHaveLength(2);
  });
});

describe('Entra ID adapter: resolve', () => {
  it('finds a user by UPN and records id, UPN and mail', async () => {
    const r = await resolveOrFail(adapter(), 'Alex.Wilber@contoso.example');
    expect(r).toEqual({
      objectId: ALEX,
      objectRef: ALEX,
      identifiers: [ALEX, 'alex.wilber@contoso.example'],
      disabled: false,
    });
    const graph = emu.requests.all().filter((q) => q.server === 'graph');
    expect(new URLSearchParams(graph[0].query).get('$select')?.split(',')).toEqual([
      'id',
      'userPrincipalName',
      'mail',
      'accountEnabled',
      'onPremisesSyncEnabled',
      'onPremisesSecurityIdentifier',
      'onPremisesDomainName',
      'onPremisesSamAccountName',
    ]);
  });

  it('finds a user by a mail address that differs from the UPN (UPN lookup first, then $filter on mail)', async () => {
    const r = await resolveOrFail(adapter(), 'megan.bowen@contoso.example');
    expect(r.objectId).toBe(MEGAN);
    expect(r.identifiers).toEqual([
      MEGAN,
      'mbowen@contoso.onmicrosoft.example',
      'megan.bowen@contoso.example',
    ]);
    const graph = emu.requests.all().filter((q) => q.server === 'graph');
    expect(graph.map((q) => [q.path, q.status])).toEqual([
      ['/v1.0/users/megan.bowen%40contoso.example', 404],
      ['/v1.0/users', 200],
    ]);
  });

  it("escapes a quote in the mail address as OData requires (O'Brien)", async () => {
    const r = await resolveOrFail(adapter(), "patrick.o'brien@contoso.example");
    expect(r.identifiers).toContain("patrick.o'brien@contoso.example");
    const filter = new URLSearchParams(
      emu.requests.all().filter((q) => q.path === '/v1.0/users')[0].query,
    ).get('$filter');
    expect(filter).toBe("mail eq 'patrick.o''brien@contoso.example'");
  });

  it('finds a user by object id', async () => {
    expect((await resolveOrFail(adapter(), MEGAN.toUpperCase())).identifiers).toContain(
      'megan.bowen@contoso.example',
    );
  });

  it('returns null for unknown users, and for identifier kinds Entra does not have without asking Graph', async () => {
    const a = adapter();
    expect(await a.resolve(parseAccountIdentifier('nobody@contoso.example'))).toBeNull();
    expect(await a.resolve(parseAccountIdentifier(randomUUID()))).toBeNull();
    emu.requests.clear();
    expect(await a.resolve(parseAccountIdentifier('CORP\\alex'))).toBeNull();
    expect(await a.resolve(parseAccountIdentifier('alex'))).toBeNull();
    expect(await a.resolve(parseAccountIdentifier('CN=Alex,DC=corp,DC=example'))).toBeNull();
    expect(emu.requests.all()).toHaveLength(0);
  });
});

describe('Entra ID adapter: disable and enable', () => {
  it('disables (accountEnabled false, sessions revoked) and re-enables a user, unbatched when alone', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.userPrincipalName);

    const disabling = unguarded();
    expect(await a.disable(account, disabling)).toBe('disabled');
    expect(emu.users.get(u.id)?.accountEnabled).toBe(false);
    expect(emu.users.sessionRevocations(u.id)).toBe(1);
    // One guard check per write, each with the state read or produced just before it.
    expect(disabling.writes).toEqual(['enabled', 'disabled']);
    expect(disabling.warnings).toEqual([]);

    const enabling = unguarded();
    expect(await a.enable(account, enabling)).toBe('enabled');
    expect(emu.users.get(u.id)?.accountEnabled).toBe(true);
    expect(emu.users.sessionRevocations(u.id)).toBe(1);
    expect(enabling.writes).toEqual(['disabled']);
    expect(emu.requests.batches()).toHaveLength(0);
  });

  it('answers alreadyDisabled for a disabled user and still revokes its sessions', async () => {
    const a = adapter();
    const account = await resolveOrFail(a, DEBRA);
    const before = emu.users.sessionRevocations(DEBRA);
    expect(await a.disable(account, unguarded())).toBe('alreadyDisabled');
    expect(emu.users.get(DEBRA)?.accountEnabled).toBe(false);
    expect(emu.users.sessionRevocations(DEBRA)).toBe(before + 1);
    expect(emu.requests.all().some((q) => q.method === 'PATCH')).toBe(false);
  });

  it('answers alreadyEnabled for an enabled user and changes nothing', async () => {
    const a = adapter();
    expect(await a.enable(await resolveOrFail(a, ALEX), unguarded())).toBe('alreadyEnabled');
    expect(emu.users.get(ALEX)?.accountEnabled).toBe(true);
    expect(emu.requests.all().some((q) => q.method === 'PATCH')).toBe(false);
  });

  it('fails permanently (managedOnPremises) when asked to disable a synced user, as Graph refuses it', async () => {
    const a = adapter();
    const account = await resolveOrFail(a, GRADY);
    const e = await failure(a.disable(account, unguarded()));
    expect(e.transient).toBe(false);
    expect(e.code).toBe('managedOnPremises');
    expect(e.message).toMatch(/synced from on-premises Active Directory/);
    expect(emu.users.get(GRADY)?.accountEnabled).toBe(true);
    expect(
      emu.requests
        .all()
        .filter((q) => q.method === 'PATCH')
        .map((q) => q.status),
    ).toEqual([400]);
  });
});

describe('Entra ID adapter: users synced from on-premises AD', () => {
  it('reports the on-premises SID and domain, and records the SID among the identifiers', async () => {
    expect(emu.users.get(GRADY)).toMatchObject({
      onPremisesSyncEnabled: true,
      onPremisesSecurityIdentifier: GRADY_SID,
      onPremisesDomainName: 'corp.contoso.example',
    });
    const r = await resolveOrFail(adapter(), 'grady.archie@contoso.example');
    expect(r.syncedFromOnPremises).toEqual({ sid: GRADY_SID, domain: 'corp.contoso.example' });
    expect(r.identifiers).toEqual([GRADY, 'grady.archie@contoso.example', GRADY_SID]);
    expect(r.protectedReason).toBeUndefined();
  });

  it('reports a synced user whose domain Graph does not give with a null domain', async () => {
    const u = emu.users.add({
      userPrincipalName: `synced-${randomUUID().slice(0, 8)}@${emu.tenantDomain}`,
      onPremisesSyncEnabled: true,
      onPremisesSecurityIdentifier: 'S-1-5-21-1-2-3-4242',
    });
    const r = await resolveOrFail(adapter(), u.id);
    expect(r.syncedFromOnPremises).toEqual({ sid: 'S-1-5-21-1-2-3-4242', domain: null });
  });

  it('leaves syncedFromOnPremises out for cloud-only users and for users no longer synced', async () => {
    const a = adapter();
    expect((await resolveOrFail(a, ALEX)).syncedFromOnPremises).toBeUndefined();
    const patrick = await resolveOrFail(a, 'pobrien@contoso.example');
    expect(emu.users.get(patrick.objectRef)?.onPremisesSyncEnabled).toBe(false);
    expect(patrick.syncedFromOnPremises).toBeUndefined();
  });

  it('revokeSessions() revokes the sessions of a synced user without touching accountEnabled', async () => {
    const a = adapter();
    const account = await resolveOrFail(a, GRADY);
    const before = emu.users.sessionRevocations(GRADY);
    const guard = unguarded();
    await a.revokeSessions!(account, guard);
    expect(emu.users.sessionRevocations(GRADY)).toBe(before + 1);
    expect(emu.users.get(GRADY)?.accountEnabled).toBe(true);
    expect(graphCalls('PATCH')).toEqual([]);
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([200]);
    expect(guard.writes).toEqual(['enabled']);
  });

  it('revokeSessions() reports the state it read to the guard (a disabled user) and throws a refusal', async () => {
    const a = adapter();
    const account = await resolveOrFail(a, DEBRA);
    emu.faults.failNext('POST', `/v1.0/users/${DEBRA}/revokeSignInSessions`, { status: 403 });
    const guard = unguarded();
    const e = await failure(a.revokeSessions!(account, guard));
    expect(e).toMatchObject({ code: 'insufficientRights', transient: false });
    expect(e.message).toContain('User.RevokeSessions.All');
    expect(guard.writes).toEqual(['disabled']);
  });
});

describe('Entra ID adapter: session revocation after the disable', () => {
  it('answers disabled with a warning when Graph refuses the revocation with 403 after the PATCH', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.id);
    emu.faults.failNext('POST', `/v1.0/users/${u.id}/revokeSignInSessions`, { status: 403 });
    const guard = unguarded();

    expect(await a.disable(account, guard)).toBe('disabled');

    expect(emu.users.get(u.id)?.accountEnabled).toBe(false);
    expect(emu.users.sessionRevocations(u.id)).toBe(0);
    expect(graphCalls('PATCH')).toEqual([204]);
    // A refusal is not retried.
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([403]);
    expect(guard.warnings).toHaveLength(1);
    expect(guard.warnings[0].code).toBe('sessionRevocationFailed');
    expect(guard.warnings[0].message).toContain(`${u.id} IS disabled`);
    expect(guard.warnings[0].message).toMatch(/until they expire/);
    expect(guard.warnings[0].message).toContain('User.RevokeSessions.All');
  });

  it('gets the same outcome from a real 403 for an app granted no User.RevokeSessions.All', async () => {
    const app = emu.applications.find((x) => x.displayName.startsWith('disable-only'))!;
    expect(app.roles).not.toContain('User.RevokeSessions.All');
    const a = adapter({ clientId: app.clientId, clientSecret: app.clientSecret });
    const u = newUser();
    const guard = unguarded();
    expect(await a.disable(await resolveOrFail(a, u.id), guard)).toBe('disabled');
    expect(emu.users.get(u.id)?.accountEnabled).toBe(false);
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([403]);
    expect(guard.warnings.map((w) => w.code)).toEqual(['sessionRevocationFailed']);
  });

  it('answers alreadyDisabled with a warning when revoking for an already disabled user fails', async () => {
    const a = adapter();
    const account = await resolveOrFail(a, DEBRA);
    emu.faults.failNext('POST', `/v1.0/users/${DEBRA}/revokeSignInSessions`, { status: 403 });
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('alreadyDisabled');
    expect(guard.writes).toEqual(['disabled']);
    expect(guard.warnings.map((w) => w.code)).toEqual(['sessionRevocationFailed']);
    expect(graphCalls('PATCH')).toEqual([]);
  });

  it('retries a transient revocation failure and succeeds without a warning', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.id);
    emu.faults.failNext('POST', `/v1.0/users/${u.id}/revokeSignInSessions`, { status: 503 });
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('disabled');
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([503, 200]);
    expect(emu.users.sessionRevocations(u.id)).toBe(1);
    expect(guard.warnings).toEqual([]);
    // The retry is a write too, so it asks the guard again.
    expect(guard.writes).toEqual(['enabled', 'disabled', 'disabled']);
  });

  it('gives up after three transient failures, and at once on a long Retry-After, with a warning', async () => {
    const a = adapter();
    const u = newUser();
    emu.faults.failNext('POST', `/v1.0/users/${u.id}/revokeSignInSessions`, { status: 503, times: 5 });
    const guard = unguarded();
    expect(await a.disable(await resolveOrFail(a, u.id), guard)).toBe('disabled');
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([503, 503, 503]);
    expect(emu.users.get(u.id)?.accountEnabled).toBe(false);
    expect(guard.warnings.map((w) => w.code)).toEqual(['sessionRevocationFailed']);

    emu.requests.clear();
    const v = newUser();
    emu.faults.failNext('POST', `/v1.0/users/${v.id}/revokeSignInSessions`, {
      status: 429,
      headers: { 'Retry-After': '60' },
    });
    const throttled = unguarded();
    expect(await a.disable(await resolveOrFail(a, v.id), throttled)).toBe('disabled');
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([429]);
    expect(throttled.warnings[0].message).toContain('throttled');
  });
});

describe('Entra ID adapter: the attempt guard', () => {
  it('sends no PATCH when the guard refuses the first write, and lets its error through', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.id);
    const guard = stoppingGuard(0);
    await stopped(a.disable(account, guard));
    expect(graphCalls('PATCH')).toEqual([]);
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([]);
    expect(emu.users.get(u.id)?.accountEnabled).toBe(true);
    expect(guard.writes).toEqual(['enabled']);
  });

  it('lets the refusal through after the PATCH landed, instead of turning it into a warning', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.id);
    const guard = stoppingGuard(1);
    await stopped(a.disable(account, guard));
    expect(emu.users.get(u.id)?.accountEnabled).toBe(false);
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([]);
    expect(guard.warnings).toEqual([]);
    expect(guard.writes).toEqual(['enabled', 'disabled']);
  });

  it('lets the refusal through between revocation retries', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.id);
    emu.faults.failNext('POST', `/v1.0/users/${u.id}/revokeSignInSessions`, { status: 503, times: 5 });
    const guard = stoppingGuard(2);
    await stopped(a.disable(account, guard));
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([503]);
    expect(guard.warnings).toEqual([]);
  });

  it('stops before revoking for an already disabled user, before revokeSessions(), and before an enable', async () => {
    const a = adapter();
    await stopped(a.disable(await resolveOrFail(a, DEBRA), stoppingGuard(0)));
    await stopped(a.revokeSessions!(await resolveOrFail(a, GRADY), stoppingGuard(0)));
    await stopped(a.enable(await resolveOrFail(a, DEBRA), stoppingGuard(0)));
    expect(graphCalls('POST', '/revokeSignInSessions')).toEqual([]);
    expect(graphCalls('PATCH')).toEqual([]);
    expect(emu.users.get(DEBRA)?.accountEnabled).toBe(false);
  });
});

describe('Entra ID adapter: protected accounts', () => {
  it('marks users named in protectedAccounts by UPN, mail or object id, ignoring case', async () => {
    const a = adapter({
      protectedAccounts: ['ALEX.WILBER@Contoso.Example', 'megan.bowen@contoso.example', DEBRA.toUpperCase()],
    });
    const alex = await resolveOrFail(a, ALEX);
    expect(alex.protectedReason).toContain('alex.wilber@contoso.example');
    expect(alex.protectedReason).toContain('protectedAccounts');
    expect((await resolveOrFail(a, MEGAN)).protectedReason).toContain('megan.bowen@contoso.example');
    expect((await resolveOrFail(a, 'debra.berger@contoso.example')).protectedReason).toContain(DEBRA);
    expect((await resolveOrFail(a, GRADY)).protectedReason).toBeUndefined();
    expect((await resolveOrFail(adapter(), ALEX)).protectedReason).toBeUndefined();
  });
});

describe('Entra ID adapter: Graph failures', () => {
  it('maps 429 with Retry-After to a transient rateLimited error carrying the delay', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.id);
    // Longer than a target sits out inside (a third of the attempt's time-out): the engine waits it out.
    emu.faults.failNext('PATCH', `/v1.0/users/${u.id}`, { status: 429, headers: { 'Retry-After': '40' } });
    const e = await failure(a.disable(account, unguarded()));
    expect(e).toMatchObject({ transient: true, code: 'rateLimited', retryAfterMs: 40_000 });
    expect(emu.users.get(u.id)?.accountEnabled).toBe(true);
  });

  it('sits out a short Retry-After inside the attempt, asking the guard again before the write', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.id);
    emu.requests.clear();
    emu.faults.failNext('PATCH', `/v1.0/users/${u.id}`, { status: 429, headers: { 'Retry-After': '1' } });
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('disabled');
    expect(graphCalls('PATCH', `/users/${u.id}`)).toEqual([429, 204]);
    expect(guard.writes).toEqual(['enabled', 'enabled', 'disabled']);
    expect(emu.users.get(u.id)?.accountEnabled).toBe(false);
  });

  it('maps 503 to a transient error', async () => {
    emu.faults.failNext('GET', `/v1.0/users/${ALEX}`, { status: 503 });
    const e = await failure(adapter().resolve(parseAccountIdentifier(ALEX)));
    expect(e.transient).toBe(true);
    expect(e.code).toBe('graphUnavailable');
  });

  it('times out (transient) when Graph does not answer within timeoutMs', async () => {
    const a = adapter({ timeoutMs: 300 });
    await resolveOrFail(a, ALEX); // token and discovery out of the way
    emu.faults.failNext('GET', `/v1.0/users/${MEGAN}`, { delayMs: 1500 });
    const e = await failure(a.resolve(parseAccountIdentifier(MEGAN)));
    expect(e).toMatchObject({ transient: true, code: 'timeout' });
  });

  it('maps 403 Authorization_RequestDenied to a permanent insufficientRights error naming the permission', async () => {
    const u = newUser();
    const a = adapter();
    const account = await resolveOrFail(a, u.id);
    emu.faults.failNext('PATCH', `/v1.0/users/${u.id}`, { status: 403 });
    const e = await failure(a.disable(account, unguarded()));
    expect(e.transient).toBe(false);
    expect(e.code).toBe('insufficientRights');
    expect(e.message).toContain('User.EnableDisableAccount.All');
    expect(emu.users.get(u.id)?.accountEnabled).toBe(true);
  });

  it('gets a real 403 from Graph for an app granted only User.Read.All', async () => {
    const readOnly = emu.applications.find((x) => x.roles.length === 1)!;
    const a = adapter({ clientId: readOnly.clientId, clientSecret: readOnly.clientSecret });
    const u = newUser();
    const account = await resolveOrFail(a, u.userPrincipalName);
    const e = await failure(a.disable(account, unguarded()));
    expect(e).toMatchObject({ transient: false, code: 'insufficientRights' });
    expect(emu.users.get(u.id)?.accountEnabled).toBe(true);
  });
});

describe('Entra ID adapter: JSON batching', () => {
  it('sends 25 concurrent disables as $batch calls of 20 and 5, and all succeed', async () => {
    const users = Array.from({ length: 25 }, () => newUser());
    const a = adapter();
    const accounts = await Promise.all(users.map((u) => resolveOrFail(a, u.id)));
    emu.requests.clear();

    const outcomes = await Promise.all(accounts.map((acc) => a.disable(acc, unguarded())));

    expect(outcomes).toEqual(Array(25).fill('disabled'));
    for (const u of users) {
      expect(emu.users.get(u.id)?.accountEnabled).toBe(false);
      expect(emu.users.sessionRevocations(u.id)).toBe(1);
    }
    // Each disable is four Graph operations (read, PATCH, revoke, read back): 100 in all, every one inside a
    // $batch of at most 20. The first wave of 25 concurrent reads fills one batch of 20 at once and leaves 5 for
    // the window; after that the two groups drift apart and may share batches, but each of the four steps needs
    // at most two: never more than 8 batch calls, instead of 100 single requests.
    const graph = emu.requests.all().filter((q) => q.server === 'graph');
    const batches = emu.requests.batches();
    expect(graph.filter((q) => !q.inBatch && q.path !== '/v1.0/$batch')).toHaveLength(0);
    expect(graph.filter((q) => q.inBatch)).toHaveLength(100);
    expect(graph.filter((q) => q.inBatch && q.method === 'PATCH')).toHaveLength(25);
    // Which batch reaches the emulator first depends on connection set-up, so only the full one is asserted.
    expect(Math.max(...batches.map((b) => b.batchSize ?? 0))).toBe(20);
    expect(batches.reduce((n, b) => n + (b.batchSize ?? 0), 0)).toBe(100);
    expect(batches.every((b) => b.status === 200 && (b.batchSize ?? 0) <= 20)).toBe(true);
    expect(batches.length).toBeLessThanOrEqual(8);
    expect(emu.requests.tokenRequests()).toHaveLength(0);
  });

  it('turns a 429 on one item of a batch into a transient error for that item only', async () => {
    const users = Array.from({ length: 3 }, () => newUser());
    const a = adapter();
    const accounts = await Promise.all(users.map((u) => resolveOrFail(a, u.id)));
    emu.faults.failNext('PATCH', `/v1.0/users/${users[1].id}`, {
      status: 429,
      headers: { 'Retry-After': '45' },
    });

    const results = await Promise.allSettled(accounts.map((acc) => a.disable(acc, unguarded())));

    expect(results[0]).toEqual({ status: 'fulfilled', value: 'disabled' });
    expect(results[2]).toEqual({ status: 'fulfilled', value: 'disabled' });
    expect(results[1].status).toBe('rejected');
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
      transient: true,
      code: 'rateLimited',
      retryAfterMs: 45_000,
    });
    expect(emu.users.get(users[0].id)?.accountEnabled).toBe(false);
    expect(emu.users.get(users[1].id)?.accountEnabled).toBe(true);
    expect(emu.users.get(users[2].id)?.accountEnabled).toBe(false);
    const throttled = emu.requests.all().find((q) => q.faulted)!;
    expect(throttled).toMatchObject({ method: 'PATCH', status: 429, inBatch: true });

    // Until Retry-After has passed the adapter sends no more writes (the engine's queue waits it out) ...
    const patches = () => emu.requests.all().filter((q) => q.method === 'PATCH').length;
    const sent = patches();
    await expect(a.disable(accounts[1], unguarded())).rejects.toMatchObject({
      code: 'rateLimited',
      transient: true,
    });
    expect(patches()).toBe(sent);
    expect(emu.users.get(users[1].id)?.accountEnabled).toBe(true);
    // ... after which the engine's retry goes through (a new adapter stands in for the 45 seconds later).
    expect(await adapter().disable(accounts[1], unguarded())).toBe('disabled');
    expect(emu.users.get(users[1].id)?.accountEnabled).toBe(false);
  });
});
