import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OktaProviderConfig } from '@app/config';
import { parseAccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
import { DirectoryAdapter, DirectoryError, ResolvedAccount } from '../../libs/directories/src';
import { createOktaAdapter } from '../../libs/directories/src/okta';
import { OktaEmulator, startOktaEmulator } from '../emulators/okta';

const ALICE = '00ub0oNGTSWTBKOLGLNR';
const SAM_SUSPENDED = '00ub0oNGTSWTBKOSUSP1';
const LUCY_LOCKED = '00ub0oNGTSWTBKOLOCK1';
const DAVE_DEPROVISIONED = '00ub0oNGTSWTBKODEPR1';
const STAN_STAGED = '00ub0oNGTSWTBKOSTAG1';
const EVE = '00ub0oNGTSWTBKOEMAL1';
const QUINN = '00ub0oNGTSWTBKOQUOT1';

const silentLogger = new AppLogger('test', 'error', () => undefined);
const context = { logger: silentLogger, hasActiveDirectory: false };

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

beforeAll(async () => {
  okta = await startOktaEmulator();
  tmp = mkdtempSync(join(tmpdir(), 'okta-spec-'));
});

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
    expect(since().map((r) => r.authScheme)).toEqual(['SSWS']);
  });

  it('works with an OAuth service app and a private-key JWT, reading and changing users', async () => {
    okta.users.setStatus(EVE, 'ACTIVE');
    const a = oauthAdapter();
    const since = mark();
    const account = await resolved(a, 'eve.login');
    expect(await a.disable(account)).toBe('disabled');
    expect(okta.users.get(EVE)?.status).toBe('SUSPENDED');
    const requests = since();
    expect(requests[0]).toMatchObject({ method: 'POST', path: '/oauth2/v1/token', status: 200 });
    expect(requests.slice(1).every((r) => r.authScheme === 'Bearer' && r.status < 300)).toBe(true);
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
    const since = mark();
    expect(await a.disable(account)).toBe('disabled');
    const user = okta.users.get(ALICE);
    expect(user?.status).toBe('SUSPENDED');
    expect(user?.sessions).toBe(0);
    expect(user?.sessionClears).toBeGreaterThanOrEqual(1);
    expect(lifecycleCalls(since())).toEqual(['suspend']);
    expect(
      since().some((r) => r.path.endsWith('/sessions') && r.method === 'DELETE' && r.status === 204),
    ).toBe(true);
  });

  it('reports an already SUSPENDED user as alreadyDisabled and still clears its sessions', async () => {
    okta.users.setStatus(SAM_SUSPENDED, 'SUSPENDED');
    const a = adapter();
    const account = await resolved(a, SAM_SUSPENDED);
    expect(account.disabled).toBe(true);
    const clearsBefore = okta.users.get(SAM_SUSPENDED)?.sessionClears ?? 0;
    const since = mark();
    expect(await a.disable(account)).toBe('alreadyDisabled');
    expect(okta.users.get(SAM_SUSPENDED)).toMatchObject({ status: 'SUSPENDED', sessions: 0 });
    expect(okta.users.get(SAM_SUSPENDED)?.sessionClears).toBe(clearsBefore + 1);
    expect(lifecycleCalls(since())).toEqual([]);
  });

  it('fails permanently on a LOCKED_OUT user (Okta suspends only ACTIVE ones) but clears its sessions', async () => {
    okta.users.setStatus(LUCY_LOCKED, 'LOCKED_OUT');
    const a = adapter();
    const account = await resolved(a, LUCY_LOCKED);
    const clearsBefore = okta.users.get(LUCY_LOCKED)?.sessionClears ?? 0;
    const since = mark();
    const err = await failure(a.disable(account));
    expect(err).toMatchObject({ code: 'wrongState', transient: false });
    expect(err.message).toContain('LOCKED_OUT');
    expect(okta.users.get(LUCY_LOCKED)?.status).toBe('LOCKED_OUT');
    expect(okta.users.get(LUCY_LOCKED)?.sessionClears).toBe(clearsBefore + 1);
    expect(lifecycleCalls(since())).toEqual([]);
  });

  it.each([
    ['DEPROVISIONED', DAVE_DEPROVISIONED],
    ['STAGED', STAN_STAGED],
  ])('fails permanently on a %s user, naming the status, without touching it', async (status, id) => {
    const a = adapter();
    const account = await resolved(a, id);
    const since = mark();
    const err = await failure(a.disable(account));
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
    expect(await a.enable(await resolved(a, SAM_SUSPENDED))).toBe('enabled');
    expect(okta.users.get(SAM_SUSPENDED)?.status).toBe('ACTIVE');
    expect(lifecycleCalls(since())).toEqual(['unsuspend']);
  });

  it('unlocks a LOCKED_OUT user', async () => {
    okta.users.setStatus(LUCY_LOCKED, 'LOCKED_OUT');
    const a = adapter();
    const since = mark();
    expect(await a.enable(await resolved(a, 'lucy@example.com'))).toBe('enabled');
    expect(okta.users.get(LUCY_LOCKED)?.status).toBe('ACTIVE');
    expect(lifecycleCalls(since())).toEqual(['unlock']);
  });

  it('reports an ACTIVE user as alreadyEnabled without calling Okta lifecycle operations', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const since = mark();
    expect(await a.enable(await resolved(a, ALICE))).toBe('alreadyEnabled');
    expect(okta.users.get(ALICE)?.status).toBe('ACTIVE');
    expect(lifecycleCalls(since())).toEqual([]);
  });

  it.each([
    ['DEPROVISIONED', DAVE_DEPROVISIONED],
    ['STAGED', STAN_STAGED],
  ])('fails permanently on a %s user, naming the status, and never activates it', async (status, id) => {
    const a = adapter();
    const since = mark();
    const err = await failure(a.enable(await resolved(a, id)));
    expect(err).toMatchObject({ code: 'wrongState', transient: false });
    expect(err.message).toContain(`Okta user is ${status}`);
    expect(okta.users.get(id)?.status).toBe(status);
    expect(lifecycleCalls(since())).toEqual([]);
  });

  it('re-enables by the recorded Okta id after a disable (the engine round trip)', async () => {
    okta.users.setStatus(ALICE, 'ACTIVE');
    const a = adapter();
    const account = await resolved(a, 'alice@example.com');
    expect(await a.disable(account)).toBe('disabled');
    const again = await resolved(a, account.objectRef);
    expect(await a.enable(again)).toBe('enabled');
    expect(okta.users.get(ALICE)?.status).toBe('ACTIVE');
  });
});

describe('Okta adapter: rate limits and failures', () => {
  afterEach(() => okta.setRateLimit(600));

  it('turns a 429 into rateLimited with the wait Okta asked for, after exactly one request', async () => {
    const a = adapter();
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
    const err = await failure(a.disable(account));
    expect(err).toMatchObject({ code: 'insufficientRights', transient: false });
    expect(okta.users.get(ALICE)?.status).toBe('ACTIVE');
  });
});
