import { ProviderConfig } from '@app/config';
import { entraIdProvider, EntraEmulator, startEntraEmulator } from '../emulators/entra-id';
import { OktaEmulator, startOktaEmulator } from '../emulators/okta';
import { SambaAdmin, UF, sambaProvider } from '../harness/samba';
import { openLdapProvider, SlapdHandle, startSlapd, serviceAccountAcl } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

interface Check {
  name: string;
  ok: boolean | null;
  message: string;
}

/**
 * CONTRACT §5 `GET /api/v1/providers` and `POST /api/v1/providers/{id}/test` against each kind's real server or
 * emulator: a real slapd (with a service account that may write the lock and one that may only read), the run's
 * Samba AD DC (the delegated svc-response and the undelegated svc-readonly), and the Entra ID and Okta
 * emulators. Each test must leave every account as it was.
 */
describe('providers: overview and tests', () => {
  let slapd: SlapdHandle;
  let ad: SambaAdmin;
  let entra: EntraEmulator;
  let okta: OktaEmulator;
  let oktaLimited: OktaEmulator;
  let engine: TestEngine;
  const env = process.env;

  const adProvider = (id: string, bindDN: string, bindPassword: string): ProviderConfig =>
    sambaProvider({ id, bindDN, bindPassword });

  beforeAll(async () => {
    slapd = await startSlapd({
      acl: serviceAccountAcl('uid=svc,ou=people,dc=example,dc=org'),
      users: [
        { uid: 'svc', password: 'Svc-Passw0rd' },
        { uid: 'ro', password: 'Ro-Passw0rd' },
        { uid: 'alice', password: 'Alice-Passw0rd' },
      ],
    });
    ad = await SambaAdmin.connect();
    await ad.createUser({ sam: SambaAdmin.uniqueName('provtest'), uac: UF.NORMAL_ACCOUNT });
    entra = await startEntraEmulator();
    okta = await startOktaEmulator();
    oktaLimited = await startOktaEmulator();
    const readOnlyApp = entra.applications.find(
      (a) => a.roles.length === 1 && a.roles[0] === 'User.Read.All',
    );
    if (!readOnlyApp?.clientSecret) throw new Error('the Entra emulator fixture lost its read-only app');
    engine = await startEngine({
      label: 'providers',
      workers: 1,
      providers: [
        openLdapProvider(slapd),
        openLdapProvider(slapd, {
          id: 'ldap-svc',
          bindDN: slapd.userDn('svc'),
          bindPassword: 'Svc-Passw0rd',
        }),
        openLdapProvider(slapd, { id: 'ldap-ro', bindDN: slapd.userDn('ro'), bindPassword: 'Ro-Passw0rd' }),
        openLdapProvider(slapd, { id: 'ldap-badpw', bindPassword: 'wrong-password' }),
        openLdapProvider(slapd, {
          id: 'ldap-down',
          url: 'ldap://127.0.0.1:1',
          maxAttempts: 100,
          timeoutMs: 500,
        }),
        adProvider('corp-ad', env.TEST_AD_BIND_DN as string, env.TEST_AD_BIND_PASSWORD as string),
        adProvider('corp-ad-ro', env.TEST_AD_READONLY_DN as string, env.TEST_AD_READONLY_PASSWORD as string),
        adProvider('corp-ad-badpw', env.TEST_AD_BIND_DN as string, 'Not-The-Passw0rd'),
        entraIdProvider(entra),
        entraIdProvider(entra, {
          id: 'entra-ro',
          clientId: readOnlyApp.clientId,
          clientSecret: readOnlyApp.clientSecret,
        }),
        entraIdProvider(entra, { id: 'entra-badsecret', clientSecret: 'not-the-secret' }),
        { id: 'okta', kind: 'okta', orgUrl: okta.orgUrl, token: okta.apiToken },
        { id: 'okta-oauth', kind: 'okta', orgUrl: okta.orgUrl, oauth: okta.oauth },
        { id: 'okta-badtoken', kind: 'okta', orgUrl: okta.orgUrl, token: '00not-a-token' },
        { id: 'okta-limited', kind: 'okta', orgUrl: oktaLimited.orgUrl, token: oktaLimited.apiToken },
      ],
    });
  });
  afterAll(async () => {
    await engine?.stop();
    await Promise.allSettled([slapd?.stop(), ad?.close(), entra?.stop(), okta?.stop(), oktaLimited?.stop()]);
  });

  async function test(id: string): Promise<{ ok: boolean; checks: Check[] }> {
    const res = await engine.request('POST', `/api/v1/providers/${id}/test`);
    expect(res.status).toBe(200);
    expect(res.body.provider).toBe(id);
    return res.body;
  }
  const check = (checks: Check[], name: string) => checks.find((c) => c.name === name) as Check;
  const oks = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c.ok]));

  describe('POST /api/v1/providers/{id}/test', () => {
    it('passes OpenLDAP as its rootdn and as a service account that may write the lock, changing nothing', async () => {
      const before = await slapd.readAttributes(slapd.userDn('alice'), [
        'pwdAccountLockedTime',
        'modifyTimestamp',
      ]);
      for (const id of ['ldap', 'ldap-svc']) {
        const r = await test(id);
        expect(oks(r.checks)).toEqual({
          reachable: true,
          authenticated: true,
          readAccounts: true,
          changeAccounts: true,
        });
        expect(r.ok).toBe(true);
        expect(check(r.checks, 'changeAccounts').message).toMatch(/may write pwdAccountLockedTime/);
      }
      expect(
        await slapd.readAttributes(slapd.userDn('alice'), ['pwdAccountLockedTime', 'modifyTimestamp']),
      ).toEqual(before);
      expect(await slapd.canBind(slapd.userDn('alice'), 'Alice-Passw0rd')).toBe(true);
    });

    it('fails OpenLDAP for an identity that may only read, naming the missing right', async () => {
      const r = await test('ldap-ro');
      expect(r.ok).toBe(false);
      expect(oks(r.checks)).toEqual({
        reachable: true,
        authenticated: true,
        readAccounts: true,
        changeAccounts: false,
      });
      expect(check(r.checks, 'changeAccounts').message).toMatch(
        /may not write pwdAccountLockedTime.*insufficientAccess/,
      );
    });

    it('names a wrong bind password as such, and an unreachable server as unreachable', async () => {
      const bad = await test('ldap-badpw');
      expect(bad.ok).toBe(false);
      expect(check(bad.checks, 'reachable').ok).toBe(true);
      expect(check(bad.checks, 'authenticated')).toEqual({
        name: 'authenticated',
        ok: false,
        message: expect.stringMatching(/^the directory rejected the bind DN's password.*invalidCredentials/),
      });
      expect(check(bad.checks, 'readAccounts').ok).toBeNull();
      expect(JSON.stringify(bad)).not.toContain('wrong-password');

      const down = await test('ldap-down');
      expect(down.ok).toBe(false);
      expect(check(down.checks, 'reachable')).toMatchObject({
        ok: false,
        message: expect.stringMatching(/ECONNREFUSED/),
      });
    });

    it('passes Samba AD for the delegated service account, from allowedAttributesEffective', async () => {
      const r = await test('corp-ad');
      expect(oks(r.checks)).toEqual({
        reachable: true,
        authenticated: true,
        readAccounts: true,
        changeAccounts: true,
      });
      expect(check(r.checks, 'changeAccounts').message).toMatch(
        /may write userAccountControl and lockoutTime/,
      );
    });

    it('fails Samba AD for svc-readonly, which lacks the delegation', async () => {
      const r = await test('corp-ad-ro');
      expect(r.ok).toBe(false);
      expect(oks(r.checks)).toEqual({
        reachable: true,
        authenticated: true,
        readAccounts: true,
        changeAccounts: false,
      });
      expect(check(r.checks, 'changeAccounts').message).toMatch(
        /may not write userAccountControl or lockoutTime/,
      );
    });

    it("names a wrong AD password from the DC's own reason (data 52e)", async () => {
      const r = await test('corp-ad-badpw');
      expect(check(r.checks, 'authenticated')).toMatchObject({
        ok: false,
        message: expect.stringMatching(/^the directory rejected the bind DN's password.*52e/),
      });
    });

    it("passes Entra ID with the main app registration, from a fresh token's roles", async () => {
      const r = await test('entra');
      expect(r.ok).toBe(true);
      expect(oks(r.checks)).toEqual({
        reachable: true,
        authenticated: true,
        readAccounts: true,
        changeAccounts: true,
        revokeSessions: true,
      });
    });

    it('fails Entra ID for the read-only app registration, naming the permissions it lacks', async () => {
      const r = await test('entra-ro');
      expect(r.ok).toBe(false);
      expect(oks(r.checks)).toMatchObject({
        readAccounts: true,
        changeAccounts: false,
        revokeSessions: false,
      });
      expect(check(r.checks, 'changeAccounts').message).toMatch(
        /User\.EnableDisableAccount\.All.*User\.Read\.All/,
      );
      expect(check(r.checks, 'revokeSessions').message).toMatch(/User\.RevokeSessions\.All/);
    });

    it('names a wrong Entra ID client secret', async () => {
      const r = await test('entra-badsecret');
      expect(check(r.checks, 'reachable').ok).toBe(true);
      expect(check(r.checks, 'authenticated')).toMatchObject({
        ok: false,
        message: expect.stringMatching(/AADSTS7000215: Invalid client secret/),
      });
      expect(JSON.stringify(r)).not.toContain('not-the-secret');
    });

    it("passes Okta with an API token whose owner is a Super Administrator, and fails a Help Desk Administrator's", async () => {
      const r = await test('okta');
      expect(r.ok).toBe(true);
      expect(check(r.checks, 'changeAccounts').message).toMatch(/Super Administrator/);

      okta.setAdminRoles(okta.tokenOwnerId as string, ['HELP_DESK_ADMIN']);
      try {
        const helpDesk = await test('okta');
        expect(helpDesk.ok).toBe(false);
        expect(check(helpDesk.checks, 'changeAccounts').message).toMatch(
          /no admin role that may suspend.*Help Desk/,
        );
        okta.setAdminRoles(okta.tokenOwnerId as string, ['CUSTOM']);
        const custom = await test('okta');
        expect(check(custom.checks, 'changeAccounts').ok).toBeNull();
        expect(custom.ok).toBe(true);
      } finally {
        okta.setAdminRoles(okta.tokenOwnerId as string, ['SUPER_ADMIN']);
      }
    });

    it('passes Okta with an OAuth service app granted okta.users.manage, and names a refused API token', async () => {
      const oauth = await test('okta-oauth');
      expect(oauth.ok).toBe(true);
      expect(check(oauth.checks, 'changeAccounts').message).toMatch(/okta\.users\.manage/);

      const bad = await test('okta-badtoken');
      expect(bad.ok).toBe(false);
      expect(check(bad.checks, 'authenticated')).toMatchObject({
        ok: false,
        message: expect.stringMatching(/Okta refused the API token.*E0000011/),
      });
    });

    it('needs admin, and answers 404 for a provider that is not configured', async () => {
      const reader = await engine.createKey('providers-reader', ['tasks:read', 'tasks:write']);
      expect((await engine.request('POST', '/api/v1/providers/ldap/test', { key: reader })).status).toBe(403);
      const missing = await engine.request('POST', '/api/v1/providers/nope/test');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('providerNotFound');
    });
  });

  describe('GET /api/v1/providers', () => {
    it('lists every provider with its queue counts, last success and last error', async () => {
      await slapd.addUser({ uid: 'listme', password: 'Passw0rd-1' });
      const done = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'listme', providers: ['ldap', 'ldap-badpw'] },
      });
      expect((await engine.waitForTask(done.body.id)).status).toBe('partiallySuccessful');
      const stuck = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'listme', providers: ['ldap-down'] },
      });
      expect(stuck.status).toBe(202);

      const reader = await engine.createKey('providers-list-reader', ['tasks:read']);
      const res = await engine.request('GET', '/api/v1/providers', { key: reader });
      expect(res.status).toBe(200);
      const byId = Object.fromEntries(res.body.items.map((p: { id: string }) => [p.id, p]));
      expect(Object.keys(byId)).toHaveLength(15);
      expect(byId.ldap).toMatchObject({
        kind: 'openLdap',
        lastSuccess: { taskId: done.body.id, outcome: 'disabled', at: expect.any(String) },
        lastError: null,
      });
      expect(byId['ldap-badpw']).toMatchObject({
        lastSuccess: null,
        lastError: {
          taskId: done.body.id,
          error: { code: 'invalidCredentials', message: expect.any(String) },
        },
      });
      for (const p of res.body.items)
        expect(p.queue).toEqual({
          waiting: expect.any(Number),
          active: expect.any(Number),
          delayed: expect.any(Number),
          failed: expect.any(Number),
          paused: false,
          rateLimitedUntil: null,
        });
      const q = byId['ldap-down'].queue;
      expect(q.waiting + q.active + q.delayed).toBe(1);
    });

    it('shows when a provider is paused by a rate limit the directory asked for', async () => {
      oktaLimited.failNext('GET', '/api/v1/users/*', {
        status: 429,
        body: {
          errorCode: 'E0000047',
          errorSummary: 'API call exceeded rate limit due to too many requests.',
        },
        headers: { 'X-Rate-Limit-Reset': String(Math.ceil(Date.now() / 1000) + 120) },
      });
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'alice@example.com', providers: ['okta-limited'] },
      });
      expect(res.status).toBe(202);
      const deadline = Date.now() + 20_000;
      let limited: { rateLimitedUntil: string | null } | undefined;
      while (Date.now() < deadline) {
        const list = await engine.request('GET', '/api/v1/providers');
        limited = list.body.items.find((p: { id: string }) => p.id === 'okta-limited').queue;
        if (limited?.rateLimitedUntil) break;
        await new Promise((r) => setTimeout(r, 100)); // polling interval
      }
      expect(limited?.rateLimitedUntil).toEqual(expect.any(String));
      expect(Date.parse(limited?.rateLimitedUntil as string)).toBeGreaterThan(Date.now() + 60_000);
    });
  });
});
