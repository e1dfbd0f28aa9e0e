import { ProviderConfig } from '@app/config';
import { entraIdProvider, startEntraEmulator, EntraEmulator } from '../emulators/entra-id';
import { startOktaEmulator, OktaEmulator } from '../emulators/okta';
import { SambaAdmin, UF, sambaProvider } from '../harness/samba';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

/**
 * One account in all four directory kinds at once (CONTRACT §9): a real slapd, the run's real Samba AD DC,
 * and the Entra ID and Okta emulators driven through msal-node and the Okta SDK. Each check reads the state
 * back from the directory itself.
 */
describe('Disable then Enable across Entra ID, Active Directory, Okta and OpenLDAP', () => {
  let slapd: SlapdHandle;
  let ad: SambaAdmin;
  let entra: EntraEmulator;
  let okta: OktaEmulator;
  let engine: TestEngine;

  const oktaIdFor = (n: number) => `00uall${String(n).padStart(14, '0')}`;
  // The Okta emulator is seeded at start, so the people of the tests below are listed here.
  const PEOPLE = ['allfour', 'oktadown', 'oktaslow'];

  /** Creates `<name>@corp.example` in all four directories; returns how to read each one back. */
  async function person(name: string, n: number) {
    const upn = `${name}@corp.example`;
    const ldapDn = await slapd.addUser({ uid: name, mail: upn, password: 'Passw0rd-1' });
    const adUser = await ad.createUser({
      sam: SambaAdmin.uniqueName(name),
      upn,
      mail: upn,
      uac: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD,
    });
    const entraUser = entra.users.add({
      userPrincipalName: upn,
      mail: upn,
      accountEnabled: true,
      onPremisesSyncEnabled: null,
    });
    return {
      upn,
      state: async () => ({
        openLdap:
          (await slapd.readAttributes(ldapDn, ['pwdAccountLockedTime'])).pwdAccountLockedTime?.[0] ?? null,
        activeDirectory: await ad.readUac(adUser.dn),
        entraId: entra.users.get(entraUser.id)?.accountEnabled,
        okta: okta.users.get(oktaIdFor(n))?.status,
      }),
    };
  }

  beforeAll(async () => {
    // One at a time, so that afterAll stops whatever started even when a later one fails.
    slapd = await startSlapd();
    ad = await SambaAdmin.connect();
    entra = await startEntraEmulator();
    okta = await startOktaEmulator({
      fixture: {
        users: PEOPLE.map((name, i) => ({
          id: oktaIdFor(i + 1),
          status: 'ACTIVE' as const,
          sessions: 1,
          profile: { login: `${name}@corp.example`, email: `${name}@corp.example` },
        })),
      },
    });
    const providers: ProviderConfig[] = [
      openLdapProvider(slapd),
      sambaProvider(),
      entraIdProvider(entra),
      // Few attempts with short backoff, so the failing-Okta case ends quickly.
      {
        id: 'okta',
        kind: 'okta',
        orgUrl: okta.orgUrl,
        token: okta.apiToken,
        maxAttempts: 2,
        timeoutMs: 5000,
      },
    ];
    engine = await startEngine({ label: 'alldirs', workers: 1, providers });
  });
  afterAll(async () => {
    await engine?.stop();
    await Promise.allSettled([slapd?.stop(), ad?.close(), entra?.stop(), okta?.stop()]);
  });

  it('disables everywhere, then re-enables everywhere, both tasks successful', async () => {
    const p = await person('allfour', 1);
    const disable = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: p.upn },
    });
    const disabled = await engine.waitForTask(disable.body.id, 60_000);
    expect(disabled.status).toBe('successful');
    expect(disabled.targets.map((t) => [t.kind, t.status, t.outcome])).toEqual(
      expect.arrayContaining([
        ['openLdap', 'succeeded', 'disabled'],
        ['activeDirectory', 'succeeded', 'disabled'],
        ['entraId', 'succeeded', 'disabled'],
        ['okta', 'succeeded', 'disabled'],
      ]),
    );
    expect(await p.state()).toEqual({
      openLdap: '000001010000Z',
      activeDirectory: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD | UF.ACCOUNTDISABLE,
      entraId: false,
      okta: 'SUSPENDED',
    });

    const enable = await engine.request('POST', '/api/v1/tasks/enable-account', { body: { account: p.upn } });
    const enabled = await engine.waitForTask(enable.body.id, 60_000);
    expect(enabled.status).toBe('successful');
    expect(enabled.targets.every((t) => t.status === 'succeeded' && t.outcome === 'enabled')).toBe(true);
    expect(await p.state()).toEqual({
      openLdap: null,
      activeDirectory: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD,
      entraId: true,
      okta: 'ACTIVE',
    });
  });

  it('ends partiallySuccessful when Okta is failing, with the Okta error recorded and the others done', async () => {
    const p = await person('oktadown', 2);
    // Every suspend of this user fails (scoped to the user, so later tests are unaffected).
    okta.failNext('POST', new RegExp(`/users/${oktaIdFor(2)}/lifecycle/suspend$`), {
      status: 500,
      times: 100,
    });
    const disable = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: p.upn },
    });
    const task = await engine.waitForTask(disable.body.id, 60_000);
    expect(task.status).toBe('partiallySuccessful');
    const oktaTarget = task.targets.find((t) => t.provider === 'okta');
    expect(oktaTarget).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { code: expect.any(String), message: expect.any(String) },
    });
    expect(task.targets.filter((t) => t.provider !== 'okta').every((t) => t.status === 'succeeded')).toBe(
      true,
    );
    const state = await p.state();
    expect(state).toMatchObject({ openLdap: '000001010000Z', entraId: false, okta: 'ACTIVE' });
    expect(state.activeDirectory & UF.ACCOUNTDISABLE).toBe(UF.ACCOUNTDISABLE);
  });

  it('waits out an Okta rate limit on the Okta queue alone, while the other directories finish', async () => {
    const p = await person('oktaslow', 3);
    const resetAt = Math.ceil(Date.now() / 1000) + 3;
    okta.failNext('GET', new RegExp(`/api/v1/users/(${oktaIdFor(3)}|oktaslow)`), {
      status: 429,
      times: 1,
      headers: {
        'X-Rate-Limit-Limit': '600',
        'X-Rate-Limit-Remaining': '0',
        'X-Rate-Limit-Reset': String(resetAt),
      },
      body: {
        errorCode: 'E0000047',
        errorSummary: 'API call exceeded rate limit due to too many requests.',
        errorLink: 'E0000047',
        errorId: 'x',
        errorCauses: [],
      },
    });
    const disable = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: p.upn },
    });

    // While Okta waits for its reset, the other three directories' targets finish.
    let sawOthersDoneBeforeOkta = false;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      const t = (await engine.request('GET', `/api/v1/tasks/${disable.body.id}`)).body;
      const others = t.targets.filter((x: { provider: string }) => x.provider !== 'okta');
      const oktaTarget = t.targets.find((x: { provider: string }) => x.provider === 'okta');
      if (others.every((x: { status: string }) => x.status === 'succeeded')) {
        sawOthersDoneBeforeOkta = oktaTarget.status !== 'succeeded';
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(sawOthersDoneBeforeOkta).toBe(true);

    const task = await engine.waitForTask(disable.body.id, 60_000);
    expect(task.status).toBe('successful');
    const oktaTarget = task.targets.find((t) => t.provider === 'okta');
    expect(oktaTarget).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
    expect(new Date(oktaTarget!.finishedAt as string).getTime()).toBeGreaterThanOrEqual(resetAt * 1000);
    expect((await p.state()).okta).toBe('SUSPENDED');
  });
});
