import { Client } from 'ldapts';
import { readFileSync } from 'node:fs';
import { INestApplicationContext } from '@nestjs/common';
import { ProviderConfig } from '@app/config';
import { sidFromBytes } from '@app/domain';
import { Reconciler, TaskView } from '@app/engine';
import { createWorkerApplication } from '../../apps/worker/src/worker.app';
import { entraIdProvider, startEntraEmulator, EntraEmulator } from '../emulators/entra-id';
import { startOktaEmulator, OktaEmulator } from '../emulators/okta';
import { SAMBA_DOMAIN, SambaAdmin, UF, sambaProvider } from '../harness/samba';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

/**
 * CONTRACT §4.1, one account one timeline: each observation of issue #7 as a user would meet it, against the
 * run's real Samba AD DC, a real slapd, and the Entra ID and Okta emulators. Every check reads the directory
 * itself back, not only the engine's tables.
 */
describe('one account, one timeline (CONTRACT §4.1)', () => {
  let slapd: SlapdHandle;
  let ad: SambaAdmin;
  let entra: EntraEmulator;
  let okta: OktaEmulator;
  let engine: TestEngine;
  let providers: ProviderConfig[];

  const oktaId = (n: number) => `00utl${String(n).padStart(15, '0')}`;
  const OKTA_PEOPLE = [
    'running-d',
    'supersede',
    'supersede2',
    'partial',
    'options',
    'tokens',
    'locked',
    'slowcancel',
  ];
  const oktaUser = (name: string) => oktaId(OKTA_PEOPLE.indexOf(name) + 1);
  const LOCKED = 'pwdAccountLockedTime';

  const post = (path: string, body: unknown = {}) => engine.request('POST', path, { body });
  const disable = (account: string, only: string[]) =>
    post('/api/v1/tasks/disable-account', { account, providers: only });
  const enable = (account: string) => post('/api/v1/tasks/enable-account', { account });
  const done = (id: string) => engine.waitForTask(id, 60_000);
  const target = (task: TaskView, provider: string) => task.targets.find((t) => t.provider === provider);

  /** Polls until the task's target in `provider` is running (the directory call is under way). */
  async function untilRunning(id: string, provider: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const t = (await engine.request('GET', `/api/v1/tasks/${id}`)).body as TaskView;
      if (target(t, provider)?.status === 'running') return;
      if (t.status !== 'inProgress' || Date.now() > deadline)
        throw new Error(`target ${provider} of ${id} never ran: ${JSON.stringify(t)}`);
      await new Promise((r) => setTimeout(r, 20)); // polling interval
    }
  }

  beforeAll(async () => {
    slapd = await startSlapd();
    ad = await SambaAdmin.connect();
    entra = await startEntraEmulator();
    okta = await startOktaEmulator({
      fixture: {
        users: OKTA_PEOPLE.map((name, i) => ({
          id: oktaId(i + 1),
          status: 'ACTIVE' as const,
          sessions: 1,
          profile: { login: `${name}@corp.example`, email: `${name}@corp.example` },
        })),
      },
    });
    providers = [
      openLdapProvider(slapd),
      sambaProvider(),
      { ...entraIdProvider(entra), maxAttempts: 2 },
      {
        id: 'okta',
        kind: 'okta',
        orgUrl: okta.orgUrl,
        token: okta.apiToken,
        maxAttempts: 2,
        timeoutMs: 10_000,
      },
    ];
    engine = await startEngine({ label: 'timeline', workers: 1, providers });
  });
  afterAll(async () => {
    await engine?.stop();
    await Promise.allSettled([slapd?.stop(), ad?.close(), entra?.stop(), okta?.stop()]);
  });

  it('1. a down-level name matches only its own domain: LAB\\x and NOSUCHDOMAIN\\x do not re-enable CORP\\x', async () => {
    const u = await ad.createUser({ sam: SambaAdmin.uniqueName('dl'), uac: UF.NORMAL_ACCOUNT });
    const d = await disable(`${SAMBA_DOMAIN.netbios}\\${u.sam}`, ['corp-ad']);
    expect((await done(d.body.id)).status).toBe('successful');
    expect(await ad.readUac(u.dn)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);

    for (const other of [`LAB\\${u.sam}`, `NOSUCHDOMAIN\\${u.sam}`]) {
      const e = await enable(other);
      expect(e.status).toBe(409);
      expect(e.body.error.code).toBe('noPriorDisableTask');
    }
    expect(await ad.readUac(u.dn)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);

    const e = await enable(`corp\\${u.sam}`);
    expect(e.status).toBe(202);
    expect((await done(e.body.id)).status).toBe('successful');
    expect(await ad.readUac(u.dn)).toBe(UF.NORMAL_ACCOUNT);
  });

  it('2. an Enable requested while a Disable of the account runs gets 409 taskInProgress naming that Disable', async () => {
    const login = 'running-d@corp.example';
    okta.failNext('POST', /\/lifecycle\/suspend$/, { delayMs: 1500 });
    const d = await disable(login, ['okta']);
    await untilRunning(d.body.id, 'okta');
    const e = await enable(login);
    expect(e.status).toBe(409);
    expect(e.body.error).toMatchObject({ code: 'taskInProgress', taskId: d.body.id });
    expect((await done(d.body.id)).status).toBe('successful');
    expect(okta.users.get(oktaUser('running-d'))?.status).toBe('SUSPENDED');
  });

  /** Polls until the emulator holds a request of this method and path (the call is on the wire). */
  async function untilOnTheWire(method: string, path: RegExp): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!okta.inFlight().some((r) => r.method === method && path.test(r.path))) {
      if (Date.now() > deadline) throw new Error(`${method} ${path} never reached the Okta emulator`);
      await new Promise((r) => setTimeout(r, 10)); // polling interval
    }
  }

  it('3. a Disable accepted while an Enable is writing wins: the account ends disabled, and the next Enable restores it', async () => {
    const login = 'supersede@corp.example';
    const d1 = await disable(login, ['okta']);
    expect((await done(d1.body.id)).status).toBe('successful');
    okta.failNext('POST', /\/lifecycle\/unsuspend$/, { delayMs: 1500 });
    const e1 = await enable(login);
    expect(e1.status).toBe(202);
    await untilOnTheWire('POST', /\/lifecycle\/unsuspend$/);
    const d2 = await disable(login, ['okta']);
    expect(d2.status).toBe(202);
    const [enableEnded, disableEnded] = await Promise.all([done(e1.body.id), done(d2.body.id)]);
    expect(disableEnded.status).toBe('successful');
    // The unsuspend was already on the wire: reported as landed, then undone by the later Disable.
    expect(target(enableEnded, 'okta')).toMatchObject({ status: 'succeeded', outcome: 'enabled' });
    expect(target(disableEnded, 'okta')).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
    expect(okta.users.get(oktaUser('supersede'))?.status).toBe('SUSPENDED');

    const e2 = await enable(login);
    expect(e2.status).toBe(202);
    expect((await done(e2.body.id)).status).toBe('successful');
    expect(okta.users.get(oktaUser('supersede'))?.status).toBe('ACTIVE');
  });

  it('3b. a Disable accepted before a running Enable writes supersedes it: nothing is re-enabled', async () => {
    const login = 'supersede2@corp.example';
    const id = oktaUser('supersede2');
    expect((await done((await disable(login, ['okta'])).body.id)).status).toBe('successful');
    // The Enable's read of the user is held: it is running and has written nothing yet.
    okta.failNext('GET', new RegExp(`/api/v1/users/${id}$`), { delayMs: 1500 });
    const e1 = await enable(login);
    await untilOnTheWire('GET', new RegExp(`/api/v1/users/${id}$`));
    const d2 = await disable(login, ['okta']);
    expect(d2.status).toBe(202);
    const enableEnded = await done(e1.body.id);
    expect(enableEnded.status).toBe('unsuccessful');
    expect(target(enableEnded, 'okta')).toMatchObject({ status: 'skipped', outcome: 'superseded' });
    expect((await done(d2.body.id)).status).toBe('successful');
    expect(okta.requests.some((r) => r.path === `/api/v1/users/${id}/lifecycle/unsuspend`)).toBe(false);
    expect(okta.users.get(id)?.status).toBe('SUSPENDED');
    // A superseded Enable reversed nothing: the next one restores the account.
    const e2 = await done((await enable(login)).body.id);
    expect(e2.status).toBe('successful');
    expect(okta.users.get(id)?.status).toBe('ACTIVE');
  });

  it('4. after a partial Disable and a second Disable, one Enable restores every directory, and a second Enable is refused', async () => {
    const login = 'partial@corp.example';
    const user = entra.users.add({ userPrincipalName: login, mail: login, accountEnabled: true });
    okta.failNext('POST', /\/lifecycle\/suspend$/, {
      status: 403,
      body: {
        errorCode: 'E0000006',
        errorSummary: 'You do not have permission to perform the requested action',
      },
    });
    const d1 = await done((await disable(login, ['entra', 'okta'])).body.id);
    expect(d1.status).toBe('partiallySuccessful');
    expect(okta.users.get(oktaUser('partial'))?.status).toBe('ACTIVE');
    const d2 = await done((await disable(login, ['entra', 'okta'])).body.id);
    expect(d2.status).toBe('successful');
    expect(okta.users.get(oktaUser('partial'))?.status).toBe('SUSPENDED');

    const e1 = await enable(login);
    expect(e1.status).toBe(202);
    const enabled = await done(e1.body.id);
    expect(enabled.status).toBe('successful');
    expect(target(enabled, 'entra')).toMatchObject({ status: 'succeeded', outcome: 'enabled' });
    expect(target(enabled, 'okta')).toMatchObject({ status: 'succeeded', outcome: 'enabled' });
    expect(entra.users.get(user.id)?.accountEnabled).toBe(true);
    expect(okta.users.get(oktaUser('partial'))?.status).toBe('ACTIVE');

    const e2 = await enable(login);
    expect(e2.status).toBe(409);
    expect(e2.body.error.code).toBe('noPriorDisableTask');
  });

  it('5. a disable that landed is reported as landed when revoking sessions is refused, and can be reversed', async () => {
    const upn = `revoke-refused@${entra.tenantDomain}`;
    const user = entra.users.add({ userPrincipalName: upn, mail: upn, accountEnabled: true });
    entra.faults.failNext('POST', new RegExp(`/users/${user.id}/revokeSignInSessions$`), {
      status: 403,
      times: 10,
    });
    const d = await done((await disable(upn, ['entra'])).body.id);
    entra.faults.clear();
    expect(d.status).toBe('successful');
    expect(target(d, 'entra')).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
    expect(target(d, 'entra')?.warnings).toEqual([
      expect.objectContaining({ code: 'sessionRevocationFailed' }),
    ]);
    expect(entra.users.get(user.id)?.accountEnabled).toBe(false);

    const e = await enable(upn);
    expect(e.status).toBe(202);
    expect((await done(e.body.id)).status).toBe('successful');
    expect(entra.users.get(user.id)?.accountEnabled).toBe(true);
  });

  it('6. the options-menu Enable is refused while an Enable of the account runs through enable-account', async () => {
    const login = 'options@corp.example';
    const d = await done((await disable(login, ['okta'])).body.id);
    okta.failNext('POST', /\/lifecycle\/unsuspend$/, { delayMs: 1500 });
    const e1 = await enable(login);
    expect(e1.status).toBe(202);
    const e2 = await post(`/api/v1/tasks/${d.id}/enable`);
    expect(e2.status).toBe(409);
    expect(e2.body.error).toMatchObject({ code: 'taskInProgress', taskId: e1.body.id });
    expect((await done(e1.body.id)).status).toBe('successful');
    expect(okta.users.get(oktaUser('options'))?.status).toBe('ACTIVE');
  });

  it('7. an Entra user synced from a forest no provider holds has its sessions revoked and fails onPremisesManaged', async () => {
    const upn = `synced-elsewhere@${entra.tenantDomain}`;
    const user = entra.users.add({
      userPrincipalName: upn,
      accountEnabled: true,
      onPremisesSyncEnabled: true,
      onPremisesSecurityIdentifier: 'S-1-5-21-1111111111-2222222222-3333333333-4444',
      onPremisesDomainName: 'lab.example',
    });
    entra.requests.clear();
    const d = await done((await disable(upn, ['entra', 'corp-ad'])).body.id);
    expect(d.status).toBe('unsuccessful');
    expect(target(d, 'entra')).toMatchObject({ status: 'failed', error: { code: 'onPremisesManaged' } });
    expect(target(d, 'entra')?.error?.message).toContain('lab.example');
    expect(target(d, 'corp-ad')).toMatchObject({ status: 'skipped', outcome: 'notFound' });
    const revoked = entra.requests
      .all()
      .filter((r) => /revokeSignInSessions$/.test(r.path) && r.status < 300);
    expect(revoked.length).toBeGreaterThan(0);
    expect(entra.users.get(user.id)?.accountEnabled).toBe(true);
  });

  it('7b. a synced Entra user whose AD object the task disabled is managedElsewhere, sessions revoked', async () => {
    const sam = SambaAdmin.uniqueName('sync');
    const upn = `${sam}@${entra.tenantDomain}`;
    const adUser = await ad.createUser({ sam, upn, uac: UF.NORMAL_ACCOUNT });
    const sid = sidFromBytes((await ad.readIds(adUser.dn)).sidBytes);
    const user = entra.users.add({
      userPrincipalName: upn,
      accountEnabled: true,
      onPremisesSyncEnabled: true,
      onPremisesSecurityIdentifier: sid,
      onPremisesDomainName: SAMBA_DOMAIN.realm.toLowerCase(),
    });
    entra.requests.clear();
    const d = await done((await disable(upn, ['entra', 'corp-ad'])).body.id);
    expect(d.status).toBe('successful');
    expect(target(d, 'entra')).toMatchObject({ outcome: 'managedElsewhere' });
    expect(target(d, 'corp-ad')).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
    expect(await ad.readUac(adUser.dn)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);
    expect(entra.requests.all().some((r) => r.path.endsWith(`/users/${user.id}/revokeSignInSessions`))).toBe(
      true,
    );
    // Its enabled flag belongs to AD: the Enable restores AD only.
    const e = await done((await enable(upn)).body.id);
    expect(e.targets.map((t) => t.provider)).toEqual(['corp-ad']);
    expect(await ad.readUac(adUser.dn)).toBe(UF.NORMAL_ACCOUNT);
  });

  it('8. Okta sessions are cleared with their OAuth tokens, and a LOCKED_OUT user ends SUSPENDED', async () => {
    const tokens = await done((await disable('tokens@corp.example', ['okta'])).body.id);
    expect(tokens.status).toBe('successful');
    const clears = okta.requests.filter(
      (r) => r.method === 'DELETE' && r.path === `/api/v1/users/${oktaUser('tokens')}/sessions`,
    );
    expect(clears.length).toBeGreaterThan(0);
    expect(clears.every((r) => r.query.oauthTokens === 'true')).toBe(true);

    okta.users.setStatus(oktaUser('locked'), 'LOCKED_OUT');
    const locked = await done((await disable('locked@corp.example', ['okta'])).body.id);
    expect(locked.status).toBe('successful');
    expect(target(locked, 'okta')).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
    expect(okta.users.get(oktaUser('locked'))?.status).toBe('SUSPENDED');
  });

  it("9. the engine's own bind account and a domain controller are never disabled", async () => {
    const bindDn = process.env.TEST_AD_BIND_DN as string;
    const before = await ad.readUac(bindDn);
    const self = await done(
      (await disable(`${SAMBA_DOMAIN.netbios}\\${SAMBA_DOMAIN.service.sam}`, ['corp-ad'])).body.id,
    );
    expect(self.status).toBe('unsuccessful');
    expect(target(self, 'corp-ad')).toMatchObject({ status: 'failed', error: { code: 'protectedAccount' } });
    expect(await ad.readUac(bindDn)).toBe(before);

    const dc = await findDomainController();
    const dcBefore = await ad.readUac(dc.dn);
    const dcTask = await done((await disable(dc.sam, ['corp-ad'])).body.id);
    expect(target(dcTask, 'corp-ad')).toMatchObject({
      status: 'failed',
      error: { code: 'protectedAccount' },
    });
    expect(await ad.readUac(dc.dn)).toBe(dcBefore);
    expect(dcBefore & UF.ACCOUNTDISABLE).toBe(0);
  });

  it('10. a provider removed from the configuration does not strand an Enable, nor block the next one', async () => {
    const second = await startSlapd();
    try {
      const ldapB: ProviderConfig = { ...openLdapProvider(second), id: 'ldap-b' };
      const both = await startEngine({
        label: 'removed',
        workers: 1,
        providers: [openLdapProvider(slapd), ldapB],
      });
      let worker: INestApplicationContext | null = null;
      try {
        const dnA = await slapd.addUser({ uid: 'removed1', password: 'Passw0rd-1' });
        const dnB = await second.addUser({ uid: 'removed1', password: 'Passw0rd-1' });
        const d = await both.request('POST', '/api/v1/tasks/disable-account', {
          body: { account: 'removed1' },
        });
        expect((await both.waitForTask(d.body.id)).status).toBe('successful');
        // ldap-b leaves PROVIDERS_FILE while an Enable is queued: its worker is gone before the job runs.
        await Promise.all(both.workers.map((w) => w.close()));
        const e = await both.request('POST', '/api/v1/tasks/enable-account', {
          body: { account: 'removed1' },
        });
        expect(e.status).toBe(202);
        worker = await createWorkerApplication({ ...both.config, providers: [openLdapProvider(slapd)] });
        const ended = await both.waitForTask(e.body.id);
        expect(ended.status).toBe('partiallySuccessful');
        expect(target(ended, 'ldap-b')).toMatchObject({
          status: 'failed',
          error: { code: 'providerNotConfigured' },
        });
        expect((await slapd.readAttributes(dnA, [LOCKED]))[LOCKED]).toBeUndefined();
        expect((await second.readAttributes(dnB, [LOCKED]))[LOCKED]).toEqual(['000001010000Z']);
        // ldap-b's change was never reversed, so the next Enable is accepted; the API still lists ldap-b (it has
        // not restarted), and the worker's next reconcile pass ends that target.
        const next = await both.request('POST', '/api/v1/tasks/enable-account', {
          body: { account: 'removed1' },
        });
        expect(next.status).toBe(202);
        await worker.get(Reconciler).tick(0);
        expect((await both.waitForTask(next.body.id)).status).not.toBe('inProgress');
      } finally {
        await worker?.close();
        await both.stop();
      }
    } finally {
      await second.stop();
    }
  });

  it('3c. a Disable of some directories supersedes a queued Enable only there; the Enable restores the others', async () => {
    const second = await startSlapd();
    const pair = await startEngine({
      label: 'partial-supersede',
      workers: 1,
      providers: [openLdapProvider(slapd), { ...openLdapProvider(second), id: 'ldap-b' }],
    });
    try {
      const dnA = await slapd.addUser({ uid: 'split1', password: 'Passw0rd-1' });
      const dnB = await second.addUser({ uid: 'split1', password: 'Passw0rd-1' });
      const d1 = await pair.request('POST', '/api/v1/tasks/disable-account', { body: { account: 'split1' } });
      expect((await pair.waitForTask(d1.body.id)).status).toBe('successful');
      // Queued, not yet acting: no worker runs while the second Disable arrives.
      await Promise.all(pair.workers.splice(0).map((w) => w.close()));
      const e1 = await pair.request('POST', '/api/v1/tasks/enable-account', { body: { account: 'split1' } });
      const d2 = await pair.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'split1', providers: ['ldap'] },
      });
      expect(d2.status).toBe(202);
      await pair.startWorker();
      const enabled = await pair.waitForTask(e1.body.id);
      expect(enabled.status).toBe('partiallySuccessful');
      expect(target(enabled, 'ldap')).toMatchObject({ status: 'skipped', outcome: 'superseded' });
      expect(target(enabled, 'ldap-b')).toMatchObject({ status: 'succeeded', outcome: 'enabled' });
      expect((await pair.waitForTask(d2.body.id)).status).toBe('successful');
      expect((await slapd.readAttributes(dnA, [LOCKED]))[LOCKED]).toEqual(['000001010000Z']);
      expect((await second.readAttributes(dnB, [LOCKED]))[LOCKED]).toBeUndefined();
    } finally {
      await pair.stop();
      await second.stop();
    }
  });

  it('cancel: targets not yet acting end skipped (cancelled) and nothing changes in the directory', async () => {
    const idle = await startEngine({ label: 'cancel', workers: 0, providers: [openLdapProvider(slapd)] });
    try {
      const dn = await slapd.addUser({ uid: 'cancelme', password: 'Passw0rd-1' });
      const d = await idle.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'cancelme' },
      });
      const c = await idle.request('POST', `/api/v1/tasks/${d.body.id}/cancel`);
      expect(c.status).toBe(200);
      expect(c.body).toMatchObject({ status: 'unsuccessful' });
      expect(c.body.targets).toEqual([expect.objectContaining({ status: 'skipped', outcome: 'cancelled' })]);
      const again = await idle.request('POST', `/api/v1/tasks/${d.body.id}/cancel`);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('taskEnded');
      expect(
        (await idle.request('POST', `/api/v1/tasks/00000000-0000-4000-8000-000000000000/cancel`)).status,
      ).toBe(404);
      // A worker arriving later finds nothing to do.
      await idle.startWorker();
      expect((await slapd.readAttributes(dn, [LOCKED]))[LOCKED]).toBeUndefined();
      expect(
        (await idle.request('POST', '/api/v1/tasks/enable-account', { body: { account: 'cancelme' } }))
          .status,
      ).toBe(409);
    } finally {
      await idle.stop();
    }
  });

  async function findDomainController(): Promise<{ dn: string; sam: string }> {
    const env = process.env;
    const client = new Client({
      url: env.TEST_AD_URL as string,
      tlsOptions: { ca: [readFileSync(env.TEST_AD_CA_FILE as string)] },
    });
    try {
      await client.bind(env.TEST_AD_BIND_DN as string, env.TEST_AD_BIND_PASSWORD as string);
      const { searchEntries } = await client.search(env.TEST_AD_BASE_DN as string, {
        scope: 'sub',
        filter: '(&(objectClass=computer)(userAccountControl:1.2.840.113556.1.4.803:=8192))',
        attributes: ['sAMAccountName'],
      });
      return { dn: searchEntries[0].dn, sam: String(searchEntries[0].sAMAccountName) };
    } finally {
      await client.unbind();
    }
  }
});
