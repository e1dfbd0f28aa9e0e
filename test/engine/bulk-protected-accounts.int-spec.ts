import { ProviderConfig } from '@app/config';
import { guidFromBytes, sidFromBytes } from '@app/domain';
import { TaskView } from '@app/engine';
import { startOktaEmulator, OktaEmulator } from '../emulators/okta';
import { SAMBA_DOMAIN, SambaAdmin, TestAccount, UF, sambaProvider } from '../harness/samba';
import { openLdapProvider, startSlapd, SlapdHandle, serviceAccountAcl } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

/**
 * CONTRACT §4.1 protected accounts, reached through the bulk route (CONTRACT §5): a bulk Disable that names
 * the engine's own accounts (its bind identity, the Okta token's owner), domain controllers, krbtgt and
 * accounts listed in `protectedAccounts`, among ordinary users and in the ugliest spellings that still name
 * them. Each protected item is answered 202 in its place and its task ends with the target failed
 * `protectedAccount`; the ordinary ones are disabled; the directory itself is read back to show it, and the
 * engine can still act afterwards.
 */

const BULK = '/api/v1/tasks/disable-accounts';
const LOCKED = 'pwdAccountLockedTime';
const PERMANENT_LOCK = '000001010000Z';
/** MS-ADTS 2.2.16: a read-only domain controller's computer account. */
const PARTIAL_SECRETS_ACCOUNT = 0x4000000;

type Expected = 'disabled' | 'protected' | 'notFound';

interface BulkItem {
  account: unknown;
  status: number;
  taskId?: string;
}

/** Posts the bulk and checks the 207: one accepted item per account, in request order. */
async function postBulk(engine: TestEngine, accounts: string[]): Promise<BulkItem[]> {
  const res = await engine.request('POST', BULK, {
    body: { accounts, description: 'bulk naming protected accounts' },
  });
  expect(res.status).toBe(207);
  expect(res.headers.get('location')).toBe(`/api/v1/batches/${res.body.batchId}`);
  const items = res.body.items as BulkItem[];
  expect(items.map((i) => ({ account: i.account, status: i.status }))).toEqual(
    accounts.map((account) => ({ account, status: 202 })),
  );
  expect(new Set(items.map((i) => i.taskId)).size).toBe(accounts.length);
  return items;
}

/** Waits for every task of the bulk and checks each against what its account must get. */
async function expectOutcomes(
  engine: TestEngine,
  items: BulkItem[],
  expected: Array<[account: string, what: Expected, objectId?: string]>,
  provider: string,
  maxAttempts = 1,
): Promise<TaskView[]> {
  const tasks = await Promise.all(items.map((i) => engine.waitForTask(i.taskId as string, 60_000)));
  const seen = tasks.map((t) => {
    const target = t.targets.find((x) => x.provider === provider);
    return {
      account: t.account,
      status: t.status,
      target: {
        status: target?.status,
        outcome: target?.outcome,
        code: target?.error?.code ?? null,
        objectId: target?.objectId?.toLowerCase() ?? null,
      },
    };
  });
  const want = expected.map(([account, what, objectId]) => ({
    account,
    status: what === 'disabled' ? 'successful' : 'unsuccessful',
    target: {
      status: what === 'disabled' ? 'succeeded' : what === 'protected' ? 'failed' : 'skipped',
      outcome: what === 'disabled' ? 'disabled' : what === 'protected' ? null : 'notFound',
      code: what === 'protected' ? 'protectedAccount' : null,
      objectId: objectId?.toLowerCase() ?? null,
    },
  }));
  expect(seen).toEqual(want);
  for (const t of tasks) {
    const target = t.targets.find((x) => x.provider === provider);
    if (target?.error?.code === 'protectedAccount') {
      expect(target.error.message).toMatch(/^Never disabled: .*Nothing was changed\.$/);
      expect(target.attempts).toBeGreaterThanOrEqual(1);
      expect(target.attempts).toBeLessThanOrEqual(maxAttempts);
    }
  }
  return tasks;
}

async function batchOf(engine: TestEngine, taskId: string) {
  const task = await engine.request('GET', `/api/v1/tasks/${taskId}`);
  const batch = await engine.request('GET', `/api/v1/batches/${task.body.batchId}`);
  expect(batch.status).toBe(200);
  return batch.body;
}

describe('a bulk Disable naming the engine own accounts among ordinary ones (CONTRACT §4.1, §5)', () => {
  describe('OpenLDAP (real slapd), the engine bound as a service account in the tree', () => {
    const people = 'ou=people,dc=example,dc=org';
    const groups = 'ou=groups,dc=example,dc=org';
    const svcDn = `uid=svc-response,${people}`;
    let slapd: SlapdHandle;
    let engine: TestEngine;
    const pw = (uid: string) => `${uid}-Secret1`;

    const lockOf = async (uid: string) =>
      (await slapd.readAttributes(slapd.userDn(uid), [LOCKED]))[LOCKED] ?? null;

    beforeAll(async () => {
      slapd = await startSlapd({
        acl: serviceAccountAcl(svcDn),
      });
      for (const uid of [
        'svc-response',
        'vip',
        'boss',
        'ceo',
        'guard',
        'ord1',
        'ord2',
        'ord3',
        'ord4',
        'later',
      ])
        await slapd.addUser({ uid, mail: `${uid}@example.org`, password: pw(uid) });
      await slapd.addEntry(groups, { objectClass: 'organizationalUnit', ou: 'groups' });
      await slapd.addEntry(`cn=guards,${groups}`, {
        objectClass: 'groupOfNames',
        cn: 'guards',
        member: slapd.userDn('guard'),
      });
      engine = await startEngine({
        label: 'bulk-protected-ldap',
        workers: 1,
        providers: [
          openLdapProvider(slapd, {
            // bindDN as an administrator might type it: slapd takes it, and it is still the svc-response entry.
            bindDN: 'UID=svc-response, OU=People,DC=example,DC=org',
            bindPassword: pw('svc-response'),
            protectedAccounts: [
              'VIP',
              'Boss@Example.ORG',
              'UID=ceo, OU=People, DC=Example, DC=Org',
              `CN=Guards, OU=Groups, ${slapd.suffix.toUpperCase()}`,
            ],
          }),
        ],
      });
    });
    afterAll(async () => {
      await engine?.stop();
      await slapd?.stop();
    });

    it('refuses the bind account in every form and the listed accounts, disables the others, and still works after', async () => {
      const [ceoUuid] = (await slapd.readAttributes(slapd.userDn('ceo'), ['entryUUID'])).entryUUID;
      const [svcUuid] = (await slapd.readAttributes(svcDn, ['entryUUID'])).entryUUID;
      const svc = slapd.userDn('svc-response');
      const expected: Array<[string, Expected, string?]> = [
        ['ord1', 'disabled', slapd.userDn('ord1')],
        ['SVC-RESPONSE', 'protected', svc],
        ['Svc-Response@EXAMPLE.org', 'protected', svc],
        ['ORD2@Example.Org', 'disabled', slapd.userDn('ord2')],
        ['UID=Svc-Response,  ou=PEOPLE , DC=example, dc=ORG', 'protected', svc],
        [`<GUID={${svcUuid.toUpperCase()}}>`, 'protected', svc],
        // OpenLDAP has no domains: a down-level name names nobody here (never disabled, as notFound).
        ['EXAMPLE\\svc-response', 'notFound'],
        ['vip@EXAMPLE.ORG', 'protected', slapd.userDn('vip')],
        ['BOSS', 'protected', slapd.userDn('boss')],
        [slapd.userDn('ord3').toUpperCase(), 'disabled', slapd.userDn('ord3')],
        [`{${ceoUuid.toUpperCase()}}`, 'protected', slapd.userDn('ceo')],
        ['Guard@example.org', 'protected', slapd.userDn('guard')],
        ['ord4', 'disabled', slapd.userDn('ord4')],
      ];
      const items = await postBulk(
        engine,
        expected.map(([a]) => a),
      );
      await expectOutcomes(engine, items, expected, 'ldap');
      expect(await batchOf(engine, items[0].taskId as string)).toMatchObject({
        requested: expected.length,
        accepted: expected.length,
        rejected: 0,
        counts: { inProgress: 0, successful: 4, partiallySuccessful: 0, unsuccessful: 9 },
        done: true,
      });

      // What slapd says: the ordinary users are locked and cannot bind; every protected one is untouched.
      for (const uid of ['ord1', 'ord2', 'ord3', 'ord4']) {
        expect({ uid, lock: await lockOf(uid) }).toEqual({ uid, lock: [PERMANENT_LOCK] });
        expect(await slapd.canBind(slapd.userDn(uid), pw(uid))).toBe(false);
      }
      for (const uid of ['svc-response', 'vip', 'boss', 'ceo', 'guard']) {
        expect({ uid, lock: await lockOf(uid) }).toEqual({ uid, lock: null });
        expect({ uid, binds: await slapd.canBind(slapd.userDn(uid), pw(uid)) }).toEqual({ uid, binds: true });
      }

      // The engine still binds as svc-response and acts.
      const later = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'later' },
      });
      expect(later.status).toBe(202);
      const done = await engine.waitForTask(later.body.id);
      expect(done.status).toBe('successful');
      expect(done.targets[0]).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
      expect(await lockOf('later')).toEqual([PERMANENT_LOCK]);
    });
  });

  describe('Active Directory (the run Samba AD DC), the engine bound as its delegated service account', () => {
    let ad: SambaAdmin;
    let engine: TestEngine;
    const env = process.env;
    // Every protected account's userAccountControl before the bulk, put back afterwards should the engine have
    // changed one: the DC is shared with every other spec of the run.
    const before = new Map<string, number>();
    let ordinary: TestAccount[];
    let listed: TestAccount;
    let nested: TestAccount;
    let outerGroup: TestAccount;
    let dc: TestAccount;
    let krbtgtDn: string;
    let adminDn: string;
    let adminSid: string;
    let svcUpn: string;
    let rodcKdc: TestAccount;
    let rodc: TestAccount;
    let workstation: TestAccount;

    beforeAll(async () => {
      ad = await SambaAdmin.connect();
      ordinary = [];
      for (let i = 0; i < 4; i++) {
        const sam = SambaAdmin.uniqueName(`bpord${i}`);
        ordinary.push(
          await ad.createUser({
            sam,
            upn: `${sam}@${SAMBA_DOMAIN.realm.toLowerCase()}`,
            uac: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD,
          }),
        );
      }
      const listedSam = SambaAdmin.uniqueName('bplisted');
      listed = await ad.createUser({
        sam: listedSam,
        upn: `${listedSam}@${SAMBA_DOMAIN.realm.toLowerCase()}`,
        uac: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD,
      });
      nested = await ad.createUser({
        sam: SambaAdmin.uniqueName('bpnested'),
        uac: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD,
      });
      const inner = await ad.createGroup({ name: SambaAdmin.uniqueName('bpinner'), members: [nested.dn] });
      outerGroup = await ad.createGroup({ name: SambaAdmin.uniqueName('bpouter'), members: [inner.dn] });
      [dc] = await ad.domainControllers();
      krbtgtDn = `CN=krbtgt,CN=Users,${ad.baseDN}`;
      adminDn = env.TEST_AD_ADMIN_DN as string;
      adminSid = sidFromBytes((await ad.readIds(adminDn)).sidBytes);
      svcUpn = (await ad.readAttribute(env.TEST_AD_BIND_DN as string, 'userPrincipalName')) as string;
      expect(svcUpn).toMatch(/@/);
      // An RODC's own KDC account (krbtgt_<number>), here an enabled one of this spec.
      rodcKdc = await ad.createUser({
        sam: `krbtgt_${Math.floor(Math.random() * 90000) + 10000}`,
        uac: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD,
      });
      // A read-only DC's computer account (PARTIAL_SECRETS_ACCOUNT), and an ordinary workstation beside it.
      rodc = await ad.createComputer({
        name: SambaAdmin.uniqueName('rodc'),
        uac: UF.WORKSTATION_TRUST_ACCOUNT | PARTIAL_SECRETS_ACCOUNT,
      });
      workstation = await ad.createComputer({ name: SambaAdmin.uniqueName('pc') });
      for (const dn of [
        env.TEST_AD_BIND_DN as string,
        dc.dn,
        krbtgtDn,
        rodcKdc.dn,
        rodc.dn,
        adminDn,
        listed.dn,
        nested.dn,
      ])
        before.set(dn, await ad.readUac(dn));

      engine = await startEngine({
        label: 'bulk-protected-ad',
        workers: 1,
        providers: [
          sambaProvider({
            // The service account named down-level in the configuration; the bulk names it every other way.
            bindDN: `${SAMBA_DOMAIN.netbios.toLowerCase()}\\${SAMBA_DOMAIN.service.sam.toUpperCase()}`,
            protectedAccounts: [
              // Listed by its name in other case; the administrators by their group, spelled loosely.
              listed.sam.toUpperCase(),
              `cn=Domain Admins, cn=Users, ${ad.baseDN.toLowerCase()}`,
              // A group of a group: its members' members are protected too.
              outerGroup.dn.toUpperCase(),
            ],
          }),
        ],
      });
    });
    afterAll(async () => {
      await engine?.stop();
      // Only if the engine changed one (a failing run): put it back, so the rest of the run is unharmed.
      for (const [dn, uac] of before)
        if (ad && (await ad.readUac(dn).catch(() => uac)) !== uac) await ad.setUac(dn, uac);
      await ad?.close();
    });

    it('refuses the bind account, the DC, krbtgt and the listed accounts in every form, and disables the others', async () => {
      const bindDn = env.TEST_AD_BIND_DN as string;
      const svcSid = sidFromBytes((await ad.readIds(bindDn)).sidBytes);
      const krbtgtSid = sidFromBytes((await ad.readIds(krbtgtDn)).sidBytes);
      const dcName = dc.sam.replace(/\$$/, '');
      // Spaces after the commas only: Samba finds no object by a DN with spaces around '=' (an ordinary one no
      // more than a protected one: both end notFound, nothing disabled).
      const spaced = (dn: string) => dn.replace(/,/g, ',  ');
      const { guidBytes } = await ad.readIds(dc.dn);
      const domain = SAMBA_DOMAIN.netbios.toLowerCase();
      const expected: Array<[string, Expected, string?]> = [
        [ordinary[0].sam, 'disabled', ordinary[0].dn],
        [`${domain}\\${SAMBA_DOMAIN.service.sam.toUpperCase()}`, 'protected', bindDn],
        [svcUpn.toUpperCase(), 'protected', bindDn],
        [`${SAMBA_DOMAIN.service.sam}`, 'protected', bindDn],
        [spaced(bindDn.toLowerCase()), 'protected', bindDn],
        [`<SID=${svcSid}>`, 'protected', bindDn],
        [`${SAMBA_DOMAIN.netbios}\\${ordinary[1].sam.toUpperCase()}`, 'disabled', ordinary[1].dn],
        [dcName.toLowerCase(), 'protected', dc.dn],
        [`${domain}\\${dc.sam.toLowerCase()}`, 'protected', dc.dn],
        [`<GUID={${guidFromBytes(guidBytes).toUpperCase()}}>`, 'protected', dc.dn],
        [spaced(dc.dn.toUpperCase()), 'protected', dc.dn],
        ['KRBTGT', 'protected', krbtgtDn],
        [`<SID=${krbtgtSid.toLowerCase()}>`, 'protected', krbtgtDn],
        [rodcKdc.sam.toUpperCase(), 'protected', rodcKdc.dn],
        [rodc.sam.slice(0, -1).toLowerCase(), 'protected', rodc.dn],
        [`${domain}\\${rodc.sam.toLowerCase()}`, 'protected', rodc.dn],
        [workstation.sam.slice(0, -1).toLowerCase(), 'disabled', workstation.dn],
        [`${ordinary[2].sam.toUpperCase()}@${SAMBA_DOMAIN.realm}`, 'disabled', ordinary[2].dn],
        [`${domain}\\ADMINISTRATOR`, 'protected', adminDn],
        [adminSid, 'protected', adminDn],
        [`${listed.sam}@${SAMBA_DOMAIN.realm}`, 'protected', listed.dn],
        [`${SAMBA_DOMAIN.netbios}\\${nested.sam}`, 'protected', nested.dn],
        [spaced(ordinary[3].dn.toLowerCase()), 'disabled', ordinary[3].dn],
      ];
      const items = await postBulk(
        engine,
        expected.map(([a]) => a),
      );
      await expectOutcomes(engine, items, expected, 'corp-ad');

      // What the DC says: the ordinary users are disabled; no protected account's userAccountControl moved.
      for (const u of ordinary)
        expect({ dn: u.dn, uac: await ad.readUac(u.dn) }).toEqual({
          dn: u.dn,
          uac: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD | UF.ACCOUNTDISABLE,
        });
      for (const [dn, uac] of before) expect({ dn, uac: await ad.readUac(dn) }).toEqual({ dn, uac });
      expect(await ad.readUac(workstation.dn)).toBe(UF.WORKSTATION_TRUST_ACCOUNT | UF.ACCOUNTDISABLE);
      // Samba kept the RODC flag, so this really is a read-only DC's account.
      expect((before.get(rodc.dn) as number) & PARTIAL_SECRETS_ACCOUNT).toBe(PARTIAL_SECRETS_ACCOUNT);
      for (const dn of [bindDn, dc.dn, rodcKdc.dn, rodc.dn, adminDn, listed.dn, nested.dn])
        expect({ dn, disabled: (before.get(dn) as number) & UF.ACCOUNTDISABLE }).toEqual({ dn, disabled: 0 });

      // The engine still binds as its service account and acts.
      const later = await ad.createUser({
        sam: SambaAdmin.uniqueName('bplater'),
        uac: UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD,
      });
      const d = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: later.sam },
      });
      expect(d.status).toBe(202);
      const done = await engine.waitForTask(d.body.id);
      expect(done.status).toBe('successful');
      expect(await ad.readUac(later.dn)).toBe(
        UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD | UF.ACCOUNTDISABLE,
      );
    });
  });

  describe('Okta (emulator), the engine calling with an SSWS token', () => {
    const id = (n: number) => `00ubulkprot${String(n).padStart(9, '0')}`;
    const PEOPLE = ['engine-admin', 'vip', 'ord1', 'ord2', 'ord3', 'later', 'ord4', 'ord5'];
    const user = (name: string) => id(PEOPLE.indexOf(name) + 1);
    let okta: OktaEmulator;
    let engine: TestEngine;
    let provider: ProviderConfig;

    beforeAll(async () => {
      okta = await startOktaEmulator({
        fixture: {
          tokenOwner: id(1),
          users: PEOPLE.map((name, i) => ({
            id: id(i + 1),
            status: 'ACTIVE' as const,
            sessions: 1,
            profile: { login: `${name}@corp.example`, email: `${name}@corp.example` },
            ...(name === 'engine-admin' ? { adminRoles: ['SUPER_ADMIN'] } : {}),
          })),
        },
      });
      provider = {
        id: 'okta',
        kind: 'okta',
        orgUrl: okta.orgUrl,
        token: okta.apiToken,
        protectedAccounts: ['VIP@Corp.Example'],
        maxAttempts: 2,
        timeoutMs: 10_000,
      };
      engine = await startEngine({ label: 'bulk-protected-okta', workers: 1, providers: [provider] });
    });
    afterAll(async () => {
      await engine?.stop();
      await okta?.stop();
    });

    it('refuses the token owner in every form and the listed user, and suspends the others', async () => {
      expect(okta.tokenOwnerId).toBe(user('engine-admin'));
      const expected: Array<[string, Expected, string?]> = [
        ['ord1@corp.example', 'disabled', user('ord1')],
        [user('engine-admin'), 'protected', user('engine-admin')],
        ['ENGINE-ADMIN@CORP.EXAMPLE', 'protected', user('engine-admin')],
        ['Engine-Admin', 'protected', user('engine-admin')],
        ['ORD2@Corp.Example', 'disabled', user('ord2')],
        [user('vip'), 'protected', user('vip')],
        ['vip', 'protected', user('vip')],
        [user('ord3'), 'disabled', user('ord3')],
      ];
      const items = await postBulk(
        engine,
        expected.map(([a]) => a),
      );
      await expectOutcomes(engine, items, expected, 'okta');

      for (const name of ['ord1', 'ord2', 'ord3'])
        expect({ name, status: okta.users.get(user(name))?.status }).toEqual({ name, status: 'SUSPENDED' });
      for (const name of ['engine-admin', 'vip']) {
        expect({ name, status: okta.users.get(user(name))?.status }).toEqual({ name, status: 'ACTIVE' });
        expect(okta.users.get(user(name))?.sessions).toBe(1);
        expect(
          okta.requests.filter((r) => r.method !== 'GET' && r.decodedPath.includes(`/users/${user(name)}/`)),
        ).toEqual([]);
      }

      const d = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'later@corp.example' },
      });
      expect((await engine.waitForTask(d.body.id)).status).toBe('successful');
      expect(okta.users.get(user('later'))?.status).toBe('SUSPENDED');
    });

    it('while Okta cannot say who owns the token, the bulk waits rather than suspend the owner', async () => {
      // A fresh engine: its adapter has not asked /users/me yet, and its first answer is a 500.
      const fresh = await startEngine({ label: 'bulk-protected-okta-me', workers: 1, providers: [provider] });
      try {
        const since = okta.requests.length;
        okta.failNext('GET', '/api/v1/users/me', { status: 500 });
        const expected: Array<[string, Expected, string?]> = [
          ['ord4@corp.example', 'disabled', user('ord4')],
          ['Engine-Admin@Corp.Example', 'protected', user('engine-admin')],
          [user('engine-admin'), 'protected', user('engine-admin')],
          ['engine-admin', 'protected', user('engine-admin')],
          ['ord5', 'disabled', user('ord5')],
        ];
        const items = await postBulk(
          fresh,
          expected.map(([a]) => a),
        );
        await expectOutcomes(fresh, items, expected, 'okta', 2);
        expect(
          okta.requests
            .slice(since)
            .filter((r) => r.decodedPath === '/api/v1/users/me')
            .map((r) => r.status),
        ).toEqual([500, 200]);
        expect(okta.users.get(user('engine-admin'))?.status).toBe('ACTIVE');
        for (const name of ['ord4', 'ord5'])
          expect({ name, status: okta.users.get(user(name))?.status }).toEqual({ name, status: 'SUSPENDED' });
      } finally {
        await fresh.stop();
      }
    });
  });
});
