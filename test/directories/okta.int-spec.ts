import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OktaProviderConfig } from '@app/config';
import { parseAccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
import { DirectoryAdapter, DirectoryError, ResolvedAccount, unguarded } from '../../libs/directories/src';
import { createOktaAdapter } from '../../libs/directories/src/okta';
import { OktaEmulator, startOktaEmulator } from '../emulators/okta';

const ALICE = '00ub0oNGTSWTBKOLGLNR';
const SAM_SUSPENDED = '00ub0oNGTSWTBKOSUSP1';
const LUCY_LOCKED = '00ub0oNGTSWTBKOLOCK1';
const DAVE_DEPROVISIONED = '00ub0oNGTSWTBKODEPR1';
const STAN_STAGED = '00ub0oNGTSWTBKOSTAG1';
const EVE = '00ub0oNGTSWTBKOEMAL1';
const QUINN = '00ub0oNGTSWTBKOQUOT1';
const ADMIN = '00ub0oNGTSWTBKOADMN1'; // owns the emulator's API token (fixture.json tokenOwner)

const silentLogger = new AppLogger('test', 'error', () => undefined);
const context = { logger: silentLogger };

let okta: OktaEmulator;
let tmp: string;
const adapters: DirectoryAdapter[] = [];

function adapter(overrides: Partial<OktaProviderConfig> = {}): DirectoryAdapter {
  const a = createOktaAdapter(
    { id: 'okta', kind: 'okta', orgUrl: okta.orgUrl, token: okta.apiToken, ...overrides },
    context,
  );
  adapters.push(a);
  return a;
}

function oauthAdapter(overrides: Partial<OktaProviderConfig> = {}): DirectoryAdapter {
  return adapter({ token: undefined, oauth: { ...okta.oauth }, ...overrides });
}

const resolve = (a: DirectoryAdapter, account: string) => a.resolve(parseAccountIdentifier(account));

async function resolved(a: DirectoryAdapter, account: string): Promise<ResolvedAccount> {
  const r = await resolve(a, account);
  if (!r) throw new Error(`${account} did not resolve`);
  return r;
}

async function failure(p: Promise<unknown>): Promise<DirectoryError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DirectoryError);
    return e as DirectoryError;
  }
  throw new Error('expected the call to fail');
}

/** Requests made from now on, for "what did the adapter send" assertions. */
function mark(): () => typeof okta.requests {
  const start = okta.requests.length;
  return () => okta.requests.slice(start);
}

const lifecycleCalls = (requests: typeof okta.requests) =>
  requests.filter((r) => r.path.includes('/lifecycle/')).map((r) => r.path.split('/').pop());

const sessionClears = (requests: typeof okta.requests) =>
  requests.filter((r) => r.method === 'DELETE' && r.path.endsWith('/sessions'));

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

async function stopped(p: Promise<unknown>): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AttemptStopped);
}

beforeAll(async () => {
  okta = await startOktaEmulator();
  tmp = mkdtempSync(join(tmpdir(), 'okta-spec-'));
});

beforeEach(() => okta.clearFailures());

afterAll(async () => {
  await Promise.all(adapters.map((a) => a.close()));
  await okta?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('Okta adapter: authentication', () => {
  it('works with an API token (SSWS)', async () => {
    const since = mark();
    const account = await resolved(adapter(), ALICE);
    expect(account.objectRef).toBe(ALICE);
    // The user, then (once per adapter) the token's owner.
    expect(since().map((r) => [r.authScheme, r.decodedPath])).toEqual([
      ['SSWS', `/api/v1/users/${ALICE}`],
      ['SSWS', '/api/v1/users/me'],
    ]);
  });

  it('works with an OAuth service app and a private-key JWT, reading and changing users', async () => {
    okta.users.setStatus(EVE, 'ACTIVE');
    const a = oauthAdapter();
    const since = mark();
    const account = await resolved(a, 'eve.login');
    expect(await a.disable(account, unguarded())).toBe('disabled');
    expect(okta.users.get(EVE)?.status).toBe('SUSPENDED');
    const requests = since();
    expect(requests[0]).toMatchObject({ method: 'POST', path: '/oauth2/v1/token', status: 200 });
    expect(requests.slice(1).every((r) => r.authScheme === 'Bearer' && r.status < 300)).toBe(true);
    // A service app acts as itself: there is no token owner to look up.
    expect(requests.some((r) => r.decodedPath === '/api/v1/users/me')).toBe(false);
    // One token for all the calls: the SDK caches it.
    expect(requests.filter((r) => r.path === '/oauth2/v1/token')).toHaveLength(1);
  });

  it('refuses a wrong API token as permanent invalidCredentials', async () => {
    const err = await failure(resolve(adapter({ token: 'not-the-token' }), ALICE));
    expect(err).toMatchObject({ code: 'invalidCredentials', transient: false });
    expect(err.message).toContain('E0000011');
    expect(err.message).not.toContain('not-the-token');
  });

  it('refuses an OAuth client signing with a key Okta does not know as permanent invalidCredentials', async () => {
    const otherKey = join(tmp, 'other.pem');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(otherKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const since = mark();
    const err = await failure(
      resolve(oauthAdapter({ oauth: { ...okta.oauth, privateKeyFile: otherKey } }), ALICE),
    );
    expect(err).toMatchObject({ code: 'invalidCredentials', transient: false });
    expect(err.message).toContain('invalid_client');
    // Okta's answer stops the call: no user request goes out with a non-token.
    expect(since().every((r) => r.path === '/oauth2/v1/token' && r.status === 401)).toBe(true);
  });

  it('treats a 429 from the token endpoint as rateLimited, not as bad credentials', async () => {
    const since = mark();
    okta.failNext('POST', '/oauth2/v1/token', { status: 429 });
    const err = await failure(resolve(oauthAdapter(), ALICE));
    expect(err).toMatchObject({ code: 'rateLimited', transient: true });
    expect(err.retryAfterMs).toBeGreaterThan(0);
    expect(since()).toHaveLength(1);
  });
});

describe('Okta adapter: resolve', () => {
  it('finds a user by Okta id, login and e-mail, recording all three', async () => {
    const a = adapter();
    for (const key of [ALICE, 'alice@example.com', 'ALICE@example.com']) {
      const account = await resolved(a, key);
      expect(account).toMatchObject({ objectId: ALICE, objectRef: ALICE });
      expect(account.identifiers).toEqual([ALICE, 'alice@example.com']);
    }
  });

  it('falls back to an e-mail search when no login matches, quoting the value', async () => {
    const a = adapter();
    const eve = await resolved(a, 'eve@example.com');
    expect(eve.objectRef).toBe(EVE);
    expect(eve.identifiers).toEqual([EVE, 'eve.login', 'eve@example.com']);

    const since = mark();
    const quinn = await resolved(a, 'o"brien@example.com');
    expect(quinn.objectRef).toBe(QUINN);
    expect(
      since()
        .map((r) => r.query.search)
        .filter(Boolean),
    ).toEqual(['profile.email eq "o\\"brien@example.com"']);
  });

  it('answers null for unknown users and for identifier kinds Okta does not have', async () => {
    const a = adapter();
    expect(await resolve(a, 'nobody@example.com')).toBeNull();
    expect(await resolve(a, '00uAAAAAAAAAAAAAAAAA')).toBeNull();
    expect(await resolve(a, 'no-such-login')).toBeNull();
    const since = mark();
    expect(await resolve(a, 'CN=Alice,DC=example,DC=com')).toBeNull();
    expect(await resolve(a, 'S-1-5-21-1-2-3-1001')).toBeNull();
    expect(since()).toHaveLength(0);
  });

  it('never reads "me" as the caller itself', async () => {
    const since = mark();
    expect(await resolve(adapter(), 'me')).toBeNull();
    expect(since().map((r) => r.decodedPath)).toEqual(['/api/v1/users']);
  });

  it('refuses an e-mail shared by two users as ambiguous, naming both', async () => {
    const err = await failure(resolve(adapter(), 'shared@example.com'));
    expect(err).toMatchObject({ code: 'ambiguousAccount', transient: false });
    expect(err.message).toContain('00ub0oNGTSWTBKOSHAR1');
    expect(err.message).toContain('00ub0oNGTSWTBKOSHAR2');
  });
});

describe('Okta adapter: disable', () => {
  it('suspends an ACTIVE user and clears its sessions, never deactivating', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const account = await resolved(a, 'alice@example.com');
    expect(account.disabled).toBe(false);
    const before = okta.users.get(ALICE)!.oauthTokenRevocations;
    const since = mark();
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('disabled');
    const user = okta.users.get(ALICE);
    expect(user?.status).toBe('SUSPENDED');
    expect(user?.sessions).toBe(0);
    // Sessions and the OAuth tokens Okta issued to the user, in one DELETE.
    expect(user?.oauthTokenRevocations).toBe(before + 1);
    expect(lifecycleCalls(since())).toEqual(['suspend']);
    expect(sessionClears(since()).map((r) => [r.query, r.status])).toEqual([[{ oauthTokens: 'true' }, 204]]);
    expect(guard.writes).toEqual(['enabled', 'disabled']);
    expect(guard.warnings).toEqual([]);
  });

  it('reports an already SUSPENDED user as alreadyDisabled and still clears its sessions', async () => {
    okta.users.setStatus(SAM_SUSPENDED, 'SUSPENDED');
    const a = adapter();
    const account = await resolved(a, SAM_SUSPENDED);
    expect(account.disabled).toBe(true);
    const clearsBefore = okta.users.get(SAM_SUSPENDED)?.sessionClears ?? 0;
    const tokensBefore = okta.users.get(SAM_SUSPENDED)?.oauthTokenRevocations ?? 0;
    const since = mark();
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('alreadyDisabled');
    expect(okta.users.get(SAM_SUSPENDED)).toMatchObject({ status: 'SUSPENDED', sessions: 0 });
    expect(okta.users.get(SAM_SUSPENDED)?.sessionClears).toBe(clearsBefore + 1);
    expect(okta.users.get(SAM_SUSPENDED)?.oauthTokenRevocations).toBe(tokensBefore + 1);
    expect(lifecycleCalls(since())).toEqual([]);
    expect(guard.writes).toEqual(['disabled']);
  });

  it('unlocks a LOCKED_OUT user and suspends it at once, since a lockout ends by itself', async () => {
    okta.users.setStatus(LUCY_LOCKED, 'LOCKED_OUT');
    const a = adapter();
    const account = await resolved(a, LUCY_LOCKED);
    expect(account.disabled).toBe(false);
    const clearsBefore = okta.users.get(LUCY_LOCKED)!.sessionClears;
    const since = mark();
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('disabled');
    expect(okta.users.get(LUCY_LOCKED)?.status).toBe('SUSPENDED');
    expect(okta.users.get(LUCY_LOCKED)?.sessionClears).toBe(clearsBefore + 1);
    expect(lifecycleCalls(since())).toEqual(['unlock', 'suspend']);
    expect(sessionClears(since()).map((r) => r.query.oauthTokens)).toEqual(['true']);
    // A locked-out user counts as enabled: the lockout is temporary.
    expect(guard.writes).toEqual(['enabled', 'enabled', 'disabled']);
  });

  it('says loudly that a LOCKED_OUT user was left ACTIVE when the suspend after the unlock fails', async () => {
    okta.users.setStatus(LUCY_LOCKED, 'LOCKED_OUT');
    const a = adapter();
    const account = await resolved(a, LUCY_LOCKED);
    const clearsBefore = okta.users.get(LUCY_LOCKED)!.sessionClears;
    okta.failNext('POST', '/api/v1/users/*/lifecycle/suspend', {
      status: 403,
      body: {
        errorCode: 'E0000006',
        errorSummary: 'You do not have permission to perform the requested action',
        errorLink: 'E0000006',
        errorId: 'oaeEmulatedHelpDesk',
        errorCauses: [],
      },
    });
    const err = await failure(a.disable(account, unguarded()));
    expect(err).toMatchObject({ code: 'insufficientRights', transient: false });
    expect(err.message).toMatch(/unlocked .* now ACTIVE/);
    expect(okta.users.get(LUCY_LOCKED)?.status).toBe('ACTIVE');
    // What it can still do: end the sessions it has.
    expect(okta.users.get(LUCY_LOCKED)?.sessionClears).toBe(clearsBefore + 1);
  });

  it('fails permanently on a PASSWORD_EXPIRED user (Okta suspends only ACTIVE ones) but clears its sessions', async () => {
    okta.users.setStatus(EVE, 'PASSWORD_EXPIRED');
    const a = adapter();
    const account = await resolved(a, EVE);
    const clearsBefore = okta.users.get(EVE)!.sessionClears;
    const since = mark();
    const err = await failure(a.disable(account, unguarded()));
    expect(err).toMatchObject({ code: 'wrongState', transient: false });
    expect(err.message).toContain('PASSWORD_EXPIRED');
    expect(okta.users.get(EVE)?.status).toBe('PASSWORD_EXPIRED');
    expect(okta.users.get(EVE)?.sessionClears).toBe(clearsBefore + 1);
    expect(lifecycleCalls(since())).toEqual([]);
    okta.users.setStatus(EVE, 'ACTIVE');
  });

  it('answers disabled with a warning when clearing sessions keeps failing after the suspend', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const account = await resolved(a, ALICE);
    const since = mark();
    okta.failNext('DELETE', '/api/v1/users/*/sessions', { status: 500, times: 10 });
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('disabled');
    expect(okta.users.get(ALICE)?.status).toBe('SUSPENDED');
    // Retried in the adapter, a bounded number of times.
    expect(sessionClears(since()).map((r) => r.status)).toEqual([500, 500, 500]);
    expect(guard.warnings).toHaveLength(1);
    expect(guard.warnings[0].code).toBe('sessionRevocationFailed');
    expect(guard.warnings[0].message).toContain(`${ALICE} IS suspended`);
    expect(guard.warnings[0].message).toContain('E0000009');
  });

  it('answers disabled with a warning at once when Okta refuses to clear sessions (403)', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const account = await resolved(a, ALICE);
    const since = mark();
    okta.failNext('DELETE', '/api/v1/users/*/sessions', {
      status: 403,
      body: {
        errorCode: 'E0000006',
        errorSummary: 'You do not have permission to perform the requested action',
        errorLink: 'E0000006',
        errorId: 'oaeEmulatedPermission',
        errorCauses: [],
      },
    });
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('disabled');
    expect(okta.users.get(ALICE)?.status).toBe('SUSPENDED');
    expect(sessionClears(since()).map((r) => r.status)).toEqual([403]);
    expect(guard.warnings.map((w) => w.code)).toEqual(['sessionRevocationFailed']);
    expect(guard.warnings[0].message).toMatch(/admin role/);
  });

  it.each([
    ['DEPROVISIONED', DAVE_DEPROVISIONED],
    ['STAGED', STAN_STAGED],
  ])('fails permanently on a %s user, naming the status, without touching it', async (status, id) => {
    const a = adapter();
    const account = await resolved(a, id);
    const since = mark();
    const err = await failure(a.disable(account, unguarded()));
    expect(err).toMatchObject({ code: 'wrongState', transient: false });
    expect(err.message).toContain(status);
    expect(okta.users.get(id)?.status).toBe(status);
    expect(lifecycleCalls(since())).toEqual([]);
  });
});

describe('Okta adapter: enable', () => {
  it('unsuspends a SUSPENDED user', async () => {
    okta.users.setStatus(SAM_SUSPENDED, 'SUSPENDED');
    const a = adapter();
    const since = mark();
    expect(await a.enable(await resolved(a, SAM_SUSPENDED), unguarded())).toBe('enabled');
    expect(okta.users.get(SAM_SUSPENDED)?.status).toBe('ACTIVE');
    expect(lifecycleCalls(since())).toEqual(['unsuspend']);
  });

  it('unlocks a LOCKED_OUT user', async () => {
    okta.users.setStatus(LUCY_LOCKED, 'LOCKED_OUT');
    const a = adapter();
    const since = mark();
    const guard = unguarded();
    expect(await a.enable(await resolved(a, 'lucy@example.com'), guard)).toBe('enabled');
    expect(okta.users.get(LUCY_LOCKED)?.status).toBe('ACTIVE');
    expect(lifecycleCalls(since())).toEqual(['unlock']);
    expect(guard.writes).toEqual(['disabled']);
  });

  it('reports an ACTIVE user as alreadyEnabled without calling Okta lifecycle operations', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const since = mark();
    expect(await a.enable(await resolved(a, ALICE), unguarded())).toBe('alreadyEnabled');
    expect(okta.users.get(ALICE)?.status).toBe('ACTIVE');
    expect(lifecycleCalls(since())).toEqual([]);
  });

  it.each([
    ['DEPROVISIONED', DAVE_DEPROVISIONED],
    ['STAGED', STAN_STAGED],
  ])('fails permanently on a %s user, naming the status, and never activates it', async (status, id) => {
    const a = adapter();
    const since = mark();
    const err = await failure(a.enable(await resolved(a, id), unguarded()));
    expect(err).toMatchObject({ code: 'wrongState', transient: false });
    expect(err.message).toContain(`Okta user is ${status}`);
    expect(okta.users.get(id)?.status).toBe(status);
    expect(lifecycleCalls(since())).toEqual([]);
  });

  it('waits for a slow unsuspend (held 2 s by the emulator) and reads the result back', async () => {
    okta.users.setStatus(SAM_SUSPENDED, 'SUSPENDED');
    const a = adapter();
    const account = await resolved(a, SAM_SUSPENDED);
    okta.failNext('POST', '/api/v1/users/*/lifecycle/unsuspend', { delayMs: 2000 });
    const since = mark();
    expect(await a.enable(account, unguarded())).toBe('enabled');
    const unsuspend = since().find((r) => r.path.endsWith('/lifecycle/unsuspend'))!;
    expect(unsuspend.at - unsuspend.receivedAt).toBeGreaterThanOrEqual(1900);
    expect(okta.users.get(SAM_SUSPENDED)?.status).toBe('ACTIVE');
  });

  it('re-enables by the recorded Okta id after a disable (the engine round trip)', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const account = await resolved(a, 'alice@example.com');
    expect(await a.disable(account, unguarded())).toBe('disabled');
    const again = await resolved(a, account.objectRef);
    expect(await a.enable(again, unguarded())).toBe('enabled');
    expect(okta.users.get(ALICE)?.status).toBe('ACTIVE');
  });
});

describe('Okta adapter: the attempt guard', () => {
  it('sends no lifecycle call when the guard refuses the first write, and lets its error through', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    okta.users.setStatus(LUCY_LOCKED, 'LOCKED_OUT');
    okta.users.setStatus(SAM_SUSPENDED, 'SUSPENDED');
    const a = adapter();
    const alice = await resolved(a, ALICE);
    const lucy = await resolved(a, LUCY_LOCKED);
    const sam = await resolved(a, SAM_SUSPENDED);
    const since = mark();
    await stopped(a.disable(alice, stoppingGuard(0)));
    await stopped(a.disable(lucy, stoppingGuard(0)));
    await stopped(a.disable(sam, stoppingGuard(0)));
    await stopped(a.enable(sam, stoppingGuard(0)));
    expect(lifecycleCalls(since())).toEqual([]);
    expect(sessionClears(since())).toEqual([]);
    expect(okta.users.get(ALICE)?.status).toBe('ACTIVE');
    expect(okta.users.get(LUCY_LOCKED)?.status).toBe('LOCKED_OUT');
    expect(okta.users.get(SAM_SUSPENDED)?.status).toBe('SUSPENDED');
  });

  it('lets a refusal before the session clear through, instead of turning it into a warning', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const account = await resolved(a, ALICE);
    const since = mark();
    const guard = stoppingGuard(1);
    await stopped(a.disable(account, guard));
    expect(okta.users.get(ALICE)?.status).toBe('SUSPENDED');
    expect(lifecycleCalls(since())).toEqual(['suspend']);
    expect(sessionClears(since())).toEqual([]);
    expect(guard.warnings).toEqual([]);
  });

  it('stops between unlock and suspend of a LOCKED_OUT user', async () => {
    okta.users.setStatus(LUCY_LOCKED, 'LOCKED_OUT');
    const a = adapter();
    const account = await resolved(a, LUCY_LOCKED);
    const since = mark();
    await stopped(a.disable(account, stoppingGuard(1)));
    expect(lifecycleCalls(since())).toEqual(['unlock']);
  });
});

describe('Okta adapter: protected accounts', () => {
  it("protects the API token's owner, asking Okta who it is once per adapter", async () => {
    expect(okta.tokenOwnerId).toBe(ADMIN);
    const a = adapter();
    const since = mark();
    const admin = await resolved(a, 'are-service-admin@example.com');
    expect(admin.protectedReason).toContain('owns the API token');
    expect(admin.protectedReason).toContain(ADMIN);
    expect((await resolved(a, ALICE)).protectedReason).toBeUndefined();
    expect((await resolved(a, ADMIN)).protectedReason).toBeDefined();
    expect(since().filter((r) => r.decodedPath === '/api/v1/users/me')).toHaveLength(1);
  });

  it('fails a resolve (transient) while /users/me fails, rather than leave the owner unprotected, and asks again', async () => {
    const a = adapter();
    okta.failNext('GET', '/api/v1/users/me', { status: 500 });
    const since = mark();
    const err = await failure(resolve(a, ADMIN));
    expect(err).toMatchObject({ transient: true });
    const second = await resolved(a, ADMIN);
    expect(second.protectedReason).toContain('owns the API token');
    expect(
      since()
        .filter((r) => r.decodedPath === '/api/v1/users/me')
        .map((r) => r.status),
    ).toEqual([500, 200]);
  });

  it('does not ask who owns the token when resolving for an Enable, so a failing /users/me holds up no Enable', async () => {
    const a = adapter();
    okta.failNext('GET', '/api/v1/users/me', { status: 500 });
    const since = mark();
    const admin = await a.resolve(parseAccountIdentifier(ADMIN), { checkProtection: false });
    expect(admin).toMatchObject({ objectId: ADMIN });
    expect(admin!.protectedReason).toBeUndefined();
    expect(since().some((r) => r.decodedPath === '/api/v1/users/me')).toBe(false);
    // A Disable still asks, and still refuses to go on without the answer.
    expect(await failure(resolve(a, ADMIN))).toMatchObject({ transient: true });
  });

  it('has no token owner with an OAuth service app', async () => {
    const since = mark();
    expect((await resolved(oauthAdapter(), ADMIN)).protectedReason).toBeUndefined();
    expect(since().some((r) => r.decodedPath === '/api/v1/users/me')).toBe(false);
  });

  it('protects users listed in protectedAccounts by id, login or e-mail, ignoring case', async () => {
    const a = adapter({ protectedAccounts: [ALICE.toLowerCase(), 'EVE.LOGIN', 'Sam@Example.com'] });
    expect((await resolved(a, 'alice@example.com')).protectedReason).toContain('protectedAccounts');
    expect((await resolved(a, 'eve@example.com')).protectedReason).toContain('eve.login');
    expect((await resolved(a, SAM_SUSPENDED)).protectedReason).toContain('sam@example.com');
    expect((await resolved(a, QUINN)).protectedReason).toBeUndefined();
  });
});

describe('Okta adapter: rate limits and failures', () => {
  afterEach(() => okta.setRateLimit(600));

  it('turns a 429 into rateLimited with the wait Okta asked for, after exactly one request', async () => {
    const a = adapter();
    await resolved(a, ALICE); // learns the token's owner (one /users/me) before the limit
    okta.setRateLimit(1);
    await resolved(a, ALICE);
    const since = mark();
    const err = await failure(resolve(a, ALICE));
    const sent = since();
    expect(sent).toHaveLength(1);
    expect(sent[0].status).toBe(429);
    expect(err).toMatchObject({ code: 'rateLimited', transient: true });
    expect(err.message).toContain('E0000047');
    const reset = Number(sent[0].responseHeaders['x-rate-limit-reset']) * 1000;
    const date = Date.parse(sent[0].responseHeaders['date']);
    expect(err.retryAfterMs).toBe(reset - date + 1000);
    // And about what a person would compute from the clock: reset − now + 1 s.
    expect(Math.abs((err.retryAfterMs ?? 0) - (reset - Date.now() + 1000))).toBeLessThan(2000);
    expect(sent[0].responseHeaders['x-rate-limit-remaining']).toBe('0');
  });

  it('sits out a 429 whose reset is near inside the attempt, asking the guard again before the write', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const account = await resolved(a, ALICE);
    okta.failNext('POST', `/api/v1/users/${ALICE}/lifecycle/suspend`, {
      status: 429,
      headers: { 'X-Rate-Limit-Reset': String(Math.ceil(Date.now() / 1000) + 1) },
    });
    const since = mark();
    const guard = unguarded();
    expect(await a.disable(account, guard)).toBe('disabled');
    const suspends = since().filter((r) => r.path.endsWith('/lifecycle/suspend'));
    expect(suspends.map((r) => r.status)).toEqual([429, 200]);
    expect(guard.writes.slice(0, 2)).toEqual(['enabled', 'enabled']);
    expect(okta.users.get(ALICE)?.status).toBe('SUSPENDED');
  });

  it('counts each endpoint family in a bucket of its own, with its own headers', async () => {
    okta.setRateLimits({ 'user-get': 2_000, 'user-lifecycle': 600, 'user-sessions': 1_200 });
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const since = mark();
    await a.disable(await resolved(a, ALICE), unguarded());
    const seen = new Map(since().map((r) => [r.bucket, r.responseHeaders['x-rate-limit-limit']]));
    expect(Object.fromEntries(seen)).toMatchObject({
      'user-get': '2000',
      'user-lifecycle': '600',
      'user-sessions': '1200',
    });
    const lifecycle = since().filter((r) => r.bucket === 'user-lifecycle');
    expect(lifecycle.map((r) => r.responseHeaders['x-rate-limit-remaining'])).toEqual(['599']);
  });

  it('sends the rate-limit headers on every response', async () => {
    const since = mark();
    await resolved(adapter(), ALICE);
    const h = since()[0].responseHeaders;
    expect(h['x-rate-limit-limit']).toBe('600');
    expect(Number(h['x-rate-limit-remaining'])).toBeLessThan(600);
    expect(Number(h['x-rate-limit-reset'])).toBeGreaterThan(Date.now() / 1000);
  });

  it('treats a 500 as transient', async () => {
    okta.failNext('GET', '/api/v1/users/*', { status: 500 });
    const err = await failure(resolve(adapter(), ALICE));
    expect(err).toMatchObject({ code: 'serverError', transient: true });
    expect(err.message).toContain('E0000009');
  });

  it('treats a request that outlives timeoutMs as a transient timeout', async () => {
    okta.failNext('GET', '/api/v1/users/*', { delayMs: 3000 });
    const err = await failure(resolve(adapter({ timeoutMs: 300 }), ALICE));
    expect(err).toMatchObject({ code: 'timeout', transient: true });
  });

  it('treats a refused connection as transient', async () => {
    const err = await failure(resolve(adapter({ orgUrl: 'http://127.0.0.1:1' }), ALICE));
    expect(err).toMatchObject({ code: 'directoryUnreachable', transient: true });
  });

  it('maps 403 E0000006 to permanent insufficientRights and leaves the user as it was', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const account = await resolved(a, ALICE);
    okta.failNext('POST', '/api/v1/users/*/lifecycle/suspend', {
      status: 403,
      body: {
        errorCode: 'E0000006',
        errorSummary: 'You do not have permission to perform the requested action',
        errorLink: 'E0000006',
        errorId: 'oaeEmulatedPermission',
        errorCauses: [],
      },
    });
    const err = await failure(a.disable(account, unguarded()));
    expect(err).toMatchObject({ code: 'insufficientRights', transient: false });
    expect(okta.users.get(ALICE)?.status).toBe('ACTIVE');
  });
});
