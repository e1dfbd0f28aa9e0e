import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, AddressInfo, Server, Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { ActiveDirectoryProviderConfig } from '@app/config';
import { guidFromBytes, parseAccountIdentifier, sidFromBytes } from '@app/domain';
import { AppLogger } from '@app/logging';
import { ActiveDirectoryAdapter } from '../../libs/directories/src/active-directory';
import {
  AccountState,
  AttemptGuard,
  DirectoryError,
  ResolvedAccount,
  unguarded,
} from '../../libs/directories/src';
import { makeServerCert, SAMBA_DOMAIN, SambaAdmin, UF } from '../harness/samba';

const env = process.env as Record<string, string>;
const logLines: string[] = [];
const logger = new AppLogger('ad-test', 'debug', (line) => logLines.push(line));

function config(overrides: Partial<ActiveDirectoryProviderConfig> = {}): ActiveDirectoryProviderConfig {
  return {
    id: 'corp-ad',
    kind: 'activeDirectory',
    url: env.TEST_AD_URL,
    bindDN: env.TEST_AD_BIND_DN,
    bindPassword: env.TEST_AD_BIND_PASSWORD,
    baseDN: env.TEST_AD_BASE_DN,
    tls: { caFile: env.TEST_AD_CA_FILE, rejectUnauthorized: true },
    timeoutMs: 5000,
    ...overrides,
  };
}

const adapters: ActiveDirectoryAdapter[] = [];
function adapterFor(overrides: Partial<ActiveDirectoryProviderConfig> = {}): ActiveDirectoryAdapter {
  const adapter = new ActiveDirectoryAdapter(config(overrides), { logger });
  adapters.push(adapter);
  return adapter;
}

async function failure(p: Promise<unknown>): Promise<DirectoryError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DirectoryError);
  return e as DirectoryError;
}

const resolveAs = (adapter: ActiveDirectoryAdapter, account: string) =>
  adapter.resolve(parseAccountIdentifier(account));

let admin: SambaAdmin;
let ad: ActiveDirectoryAdapter;
const realm = () => env.TEST_AD_REALM.toLowerCase();

beforeAll(async () => {
  admin = await SambaAdmin.connect();
  ad = adapterFor();
});

afterAll(async () => {
  await Promise.all(adapters.map((a) => a.close()));
  await admin?.close();
});

describe('resolving every identifier form', () => {
  let user: { dn: string; sam: string };
  let guid: string;
  let sid: string;
  let sidHex: string;
  const upn = () => `${user.sam}@${realm()}`;
  const mail = () => `${user.sam}.mail@example.test`;

  beforeAll(async () => {
    const sam = SambaAdmin.uniqueName('res');
    user = await admin.createUser({ sam, upn: `${sam}@${realm()}`, mail: `${sam}.mail@example.test` });
    const ids = await admin.readIds(user.dn);
    guid = guidFromBytes(ids.guidBytes);
    sid = sidFromBytes(ids.sidBytes);
    sidHex = ids.sidBytes.toString('hex');
  });

  it.each([
    ['DN', () => user.dn],
    ['DN in other case and spacing', () => user.dn.toLowerCase().replace(/,/g, ', ')],
    ['GUID', () => guid],
    ['GUID in braces, upper case', () => `{${guid.toUpperCase()}}`],
    ['<GUID=…>', () => `<GUID=${guid}>`],
    ['SID', () => sid],
    ['binary SID in hex', () => sidHex],
    ['<SID=…>', () => `<SID=${sid}>`],
    ['userPrincipalName', () => upn()],
    ['mail', () => mail()],
    ['sAMAccountName', () => user.sam],
    ['DOMAIN\\sAMAccountName', () => `${env.TEST_AD_DOMAIN}\\${user.sam}`],
  ])('finds the user by %s and records every identifier', async (_form, account) => {
    const found = await resolveAs(ad, account());
    expect(found).not.toBeNull();
    expect(found!.objectId).toBe(user.dn);
    expect(found!.objectRef).toBe(`<GUID=${guid}>`);
    expect(found!.disabled).toBe(false);
    expect(found!.identifiers).toEqual(
      expect.arrayContaining([
        user.dn,
        guid,
        sid,
        upn(),
        mail(),
        user.sam,
        `${env.TEST_AD_DOMAIN}\\${user.sam}`,
      ]),
    );
  });

  it('finds the same account again from the objectRef it recorded (the Enable path)', async () => {
    const first = await resolveAs(ad, user.sam);
    const again = await resolveAs(ad, first!.objectRef);
    expect(again!.objectId).toBe(user.dn);
  });

  it('does not take a down-level name from another domain, nor an unknown account', async () => {
    expect(await resolveAs(ad, `OTHERDOM\\${user.sam}`)).toBeNull();
    expect(await resolveAs(ad, SambaAdmin.uniqueName('nobody'))).toBeNull();
    expect(await resolveAs(ad, '00u1abcdefghijklmnop')).toBeNull();
  });

  it("takes DOMAIN\\name only for this domain's NetBIOS name, in any case", async () => {
    expect(env.TEST_AD_DOMAIN).not.toBe('LAB');
    expect(await resolveAs(ad, `LAB\\${user.sam}`)).toBeNull();
    expect(await resolveAs(ad, `NOSUCHDOMAIN\\${user.sam}`)).toBeNull();
    expect((await resolveAs(ad, `${env.TEST_AD_DOMAIN}\\${user.sam}`))?.objectId).toBe(user.dn);
    expect((await resolveAs(ad, `${env.TEST_AD_DOMAIN.toLowerCase()}\\${user.sam}`))?.objectId).toBe(user.dn);
  });

  it('takes no DOMAIN\\name at all, and says so, when the NetBIOS name cannot be read', async () => {
    const blind = adapterFor();
    // The service account can read the configuration partition on any real DC; only a stub can take that away.
    jest
      .spyOn(blind as unknown as { readNetbiosName: () => Promise<string | null> }, 'readNetbiosName')
      .mockResolvedValue(null);
    const before = logLines.length;
    expect(await resolveAs(blind, `${env.TEST_AD_DOMAIN}\\${user.sam}`)).toBeNull();
    expect(logLines.slice(before).join('\n')).toMatch(/NetBIOS name of the domain is unknown/);
    const byName = await resolveAs(blind, user.sam);
    expect(byName?.objectId).toBe(user.dn);
    expect(byName?.identifiers.some((i) => i.includes('\\'))).toBe(false);
  });

  it('does not find an account outside the configured baseDN', async () => {
    const ou = await admin.createOu(SambaAdmin.uniqueName('scope'));
    const scoped = adapterFor({ baseDN: ou });
    expect(await resolveAs(scoped, user.sam)).toBeNull();
    expect(await resolveAs(scoped, user.dn)).toBeNull();
  });
});

describe('disable and enable', () => {
  it('flips only ACCOUNTDISABLE, keeping DONT_EXPIRE_PASSWORD and PASSWD_NOTREQD, and reports repeats', async () => {
    const flags = UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD | UF.PASSWD_NOTREQD;
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('bits'), uac: flags });
    const account = (await resolveAs(ad, user.sam))!;

    expect(await ad.disable(account, unguarded())).toBe('disabled');
    expect(await admin.readUac(user.dn)).toBe(flags | UF.ACCOUNTDISABLE);
    expect(await ad.disable(account, unguarded())).toBe('alreadyDisabled');
    expect(await admin.readUac(user.dn)).toBe(flags | UF.ACCOUNTDISABLE);
    expect((await resolveAs(ad, user.sam))!.disabled).toBe(true);

    expect(await ad.enable(account, unguarded())).toBe('enabled');
    expect(await admin.readUac(user.dn)).toBe(flags);
    expect(await ad.enable(account, unguarded())).toBe('alreadyEnabled');
    expect(await admin.readUac(user.dn)).toBe(flags);
  });

  it('disables and enables a computer account, named with or without its trailing $', async () => {
    const pc = await admin.createComputer({ name: SambaAdmin.uniqueName('PC').replace('-', '') });
    const byName = (await resolveAs(ad, pc.sam.slice(0, -1)))!;
    expect(byName.objectId).toBe(pc.dn);
    expect((await resolveAs(ad, pc.sam))!.objectId).toBe(pc.dn);

    expect(await ad.disable(byName, unguarded())).toBe('disabled');
    expect(await admin.readUac(pc.dn)).toBe(UF.WORKSTATION_TRUST_ACCOUNT | UF.ACCOUNTDISABLE);
    expect(await ad.enable(byName, unguarded())).toBe('enabled');
    expect(await admin.readUac(pc.dn)).toBe(UF.WORKSTATION_TRUST_ACCOUNT);
  });

  it('an account already disabled before the incident is reported so and left untouched', async () => {
    const user = await admin.createUser({
      sam: SambaAdmin.uniqueName('pre'),
      uac: UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE,
    });
    const account = (await resolveAs(ad, user.sam))!;
    expect(account.disabled).toBe(true);
    expect(await ad.disable(account, unguarded())).toBe('alreadyDisabled');
    expect(await admin.readUac(user.dn)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);
  });

  it('enable clears a lockout by default, and leaves it when clearLockoutOnEnable is false', async () => {
    const locked = '133000000000000000';
    const a = await admin.createUser({
      sam: SambaAdmin.uniqueName('lock'),
      uac: UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE,
    });
    const b = await admin.createUser({
      sam: SambaAdmin.uniqueName('keep'),
      uac: UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE,
    });
    await admin.setLockoutTime(a.dn, locked);
    await admin.setLockoutTime(b.dn, locked);

    expect(await ad.enable((await resolveAs(ad, a.sam))!, unguarded())).toBe('enabled');
    expect(await admin.readAttribute(a.dn, 'lockoutTime')).toBe('0');
    expect(await admin.readUac(a.dn)).toBe(UF.NORMAL_ACCOUNT);

    const keeping = adapterFor({ clearLockoutOnEnable: false });
    expect(await keeping.enable((await resolveAs(keeping, b.sam))!, unguarded())).toBe('enabled');
    expect(await admin.readAttribute(b.dn, 'lockoutTime')).toBe(locked);
    expect(await admin.readUac(b.dn)).toBe(UF.NORMAL_ACCOUNT);
  });

  it('acts on the object by GUID, so a rename after resolve does not lose it', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('move') });
    const account = (await resolveAs(ad, user.sam))!;
    const renamed = await admin.rename(user.dn, `${user.sam} renamed`);
    expect(await ad.disable(account, unguarded())).toBe('disabled');
    expect(await admin.readUac(renamed)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);
  });

  it('fails with notFound when the account was deleted after resolve', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('gone') });
    const account = (await resolveAs(ad, user.sam))!;
    await admin.delete(user.dn);
    const e = await failure(ad.disable(account, unguarded()));
    expect(e).toMatchObject({ code: 'notFound', transient: false });
  });
});

/** A guard that records each beforeWrite and runs `onWrite` (the n-th call, from 1) before letting it pass. */
function guardWith(onWrite: (n: number, state: AccountState) => Promise<void>): AttemptGuard & {
  writes: AccountState[];
} {
  const base = unguarded();
  return {
    ...base,
    beforeWrite: async (state) => {
      base.writes.push(state);
      await onWrite(base.writes.length, state);
    },
  };
}

describe('writes: fenced by the guard, atomic against concurrent changes', () => {
  it('tells the guard the state before each write', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('fence') });
    const account = (await resolveAs(ad, user.sam))!;
    const disabling = unguarded();
    expect(await ad.disable(account, disabling)).toBe('disabled');
    expect(disabling.writes).toEqual(['enabled']);

    await admin.setLockoutTime(user.dn, '133000000000000000');
    const enabling = unguarded();
    expect(await ad.enable(account, enabling)).toBe('enabled');
    // lockoutTime, then userAccountControl: one call per write.
    expect(enabling.writes).toEqual(['disabled', 'disabled']);

    const repeat = unguarded();
    expect(await ad.enable(account, repeat)).toBe('alreadyEnabled');
    expect(repeat.writes).toEqual([]);
  });

  it('a flag set by someone else between read and write survives the disable (the write is retried)', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('race') });
    const account = (await resolveAs(ad, user.sam))!;
    const guard = guardWith(async (n) => {
      if (n === 1) await admin.setUac(user.dn, UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD);
    });

    expect(await ad.disable(account, guard)).toBe('disabled');
    expect(guard.writes).toEqual(['enabled', 'enabled']);
    expect(await admin.readUac(user.dn)).toBe(
      UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD | UF.ACCOUNTDISABLE,
    );
  });

  it('a flag cleared by someone else between read and write stays cleared after the enable', async () => {
    const flags = UF.NORMAL_ACCOUNT | UF.PASSWD_NOTREQD;
    const user = await admin.createUser({
      sam: SambaAdmin.uniqueName('race2'),
      uac: flags | UF.ACCOUNTDISABLE,
    });
    const account = (await resolveAs(ad, user.sam))!;
    const guard = guardWith(async (n) => {
      if (n === 1) await admin.setUac(user.dn, UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);
    });

    expect(await ad.enable(account, guard)).toBe('enabled');
    expect(guard.writes).toEqual(['disabled', 'disabled']);
    expect(await admin.readUac(user.dn)).toBe(UF.NORMAL_ACCOUNT);
  });

  it('gives up with a transient error, having written nothing, when the value keeps changing', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('churn') });
    const account = (await resolveAs(ad, user.sam))!;
    const guard = guardWith(async (n) => {
      await admin.setUac(user.dn, UF.NORMAL_ACCOUNT | (n % 2 ? UF.DONT_EXPIRE_PASSWORD : 0));
    });

    const e = await failure(ad.disable(account, guard));
    expect(e).toMatchObject({ code: 'concurrentModification', transient: true });
    expect(guard.writes).toEqual(['enabled', 'enabled', 'enabled']);
    expect(await admin.readUac(user.dn)).toBe(UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD);
  });

  it('a guard that refuses stops the write, and its own error reaches the caller', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('refuse') });
    const locked = await admin.createUser({
      sam: SambaAdmin.uniqueName('refuse2'),
      uac: UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE,
    });
    await admin.setLockoutTime(locked.dn, '133000000000000000');
    const refusal = new Error('claim lost to another attempt');
    const refusing = () =>
      guardWith(async () => {
        throw refusal;
      });

    await expect(ad.disable((await resolveAs(ad, user.sam))!, refusing())).rejects.toBe(refusal);
    expect(await admin.readUac(user.dn)).toBe(UF.NORMAL_ACCOUNT);

    // Refused at the first of enable's two writes: neither the lockout nor the flag changes.
    await expect(ad.enable((await resolveAs(ad, locked.sam))!, refusing())).rejects.toBe(refusal);
    expect(await admin.readUac(locked.dn)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);
    expect(await admin.readAttribute(locked.dn, 'lockoutTime')).toBe('133000000000000000');
  });

  it('an aborted attempt writes nothing and does not even ask the guard', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('abort') });
    const account = (await resolveAs(ad, user.sam))!;
    const controller = new AbortController();
    const reason = new Error('attempt timed out');
    controller.abort(reason);
    const guard = { ...guardWith(async () => undefined), signal: controller.signal };

    await expect(ad.disable(account, guard)).rejects.toBe(reason);
    expect(guard.writes).toEqual([]);
    expect(await admin.readUac(user.dn)).toBe(UF.NORMAL_ACCOUNT);
  });
});

describe('protected accounts', () => {
  const protectedBy = async (adapter: ActiveDirectoryAdapter, account: string) =>
    (await resolveAs(adapter, account))?.protectedReason;
  let ordinary: { dn: string; sam: string };

  beforeAll(async () => {
    ordinary = await admin.createUser({ sam: SambaAdmin.uniqueName('plain') });
  });

  it('an ordinary account is not protected', async () => {
    const found = (await resolveAs(ad, ordinary.sam))!;
    expect(found.objectId).toBe(ordinary.dn);
    expect(found.protectedReason).toBeUndefined();
  });

  it.each([
    ['sAMAccountName', () => SAMBA_DOMAIN.service.sam],
    ['DOMAIN\\name', () => `${env.TEST_AD_DOMAIN}\\${SAMBA_DOMAIN.service.sam}`],
    ['DN', () => env.TEST_AD_BIND_DN],
    ['UPN', () => `${SAMBA_DOMAIN.service.sam}@${realm()}`],
  ])('the account the provider binds as, named by %s, is protected', async (_form, account) => {
    expect(await protectedBy(ad, account())).toMatch(/binds as/);
  });

  it.each([
    ['a UPN', () => `${SAMBA_DOMAIN.service.sam}@${realm()}`],
    ['DOMAIN\\name', () => `${env.TEST_AD_DOMAIN}\\${SAMBA_DOMAIN.service.sam}`],
  ])('is recognised when bindDN is given as %s', async (_form, bindDN) => {
    const adapter = adapterFor({ bindDN: bindDN() });
    expect(await protectedBy(adapter, SAMBA_DOMAIN.service.sam)).toMatch(/binds as/);
    expect(await protectedBy(adapter, ordinary.sam)).toBeUndefined();
  });

  it('a domain controller is protected, and disable() refuses it even when asked directly', async () => {
    const [dc] = await admin.domainControllers();
    expect(dc).toBeDefined();
    const uac = await admin.readUac(dc.dn);
    expect(uac & UF.SERVER_TRUST_ACCOUNT).toBeTruthy();
    for (const name of [dc.sam, dc.sam.slice(0, -1), dc.dn]) {
      expect({ name, reason: await protectedBy(ad, name) }).toEqual({
        name,
        reason: expect.stringMatching(/domain controller/),
      });
    }

    const found = (await resolveAs(ad, dc.sam))!;
    const guard = unguarded();
    const e = await failure(ad.disable(found, guard));
    expect(e).toMatchObject({ code: 'protectedAccount', transient: false });
    expect(guard.writes).toEqual([]);
    expect(await admin.readUac(dc.dn)).toBe(uac);
  });

  it('krbtgt is protected, and so is an RODC-style krbtgt_<n>', async () => {
    expect(await protectedBy(ad, 'krbtgt')).toMatch(/krbtgt/);
    expect(await protectedBy(ad, `${env.TEST_AD_DOMAIN}\\krbtgt`)).toMatch(/krbtgt/);
    const rodcKdc = await admin.createUser({
      sam: `krbtgt_${Math.floor(Math.random() * 90000) + 10000}`,
      uac: UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE,
    });
    expect(await protectedBy(ad, rodcKdc.sam)).toMatch(/krbtgt/);
  });

  describe('listed in protectedAccounts', () => {
    let listed: { dn: string; sam: string };
    let guid: string;
    let sid: string;

    beforeAll(async () => {
      const sam = SambaAdmin.uniqueName('vip');
      listed = await admin.createUser({ sam, upn: `${sam}@${realm()}`, mail: `${sam}.mail@example.test` });
      const ids = await admin.readIds(listed.dn);
      guid = guidFromBytes(ids.guidBytes);
      sid = sidFromBytes(ids.sidBytes);
    });

    it.each([
      ['sAMAccountName in another case', () => listed.sam.toUpperCase()],
      ['DOMAIN\\name', () => `${env.TEST_AD_DOMAIN.toLowerCase()}\\${listed.sam}`],
      ['UPN', () => `${listed.sam}@${realm()}`.toUpperCase()],
      ['mail', () => `${listed.sam}.mail@example.test`],
      ['GUID in braces', () => `{${guid.toUpperCase()}}`],
      ['SID', () => sid],
      ['DN in other case and spacing', () => listed.dn.toLowerCase().replace(/,/g, ', ')],
    ])('by %s protects that account and no other', async (_form, entry) => {
      const adapter = adapterFor({ protectedAccounts: [entry()] });
      expect(await protectedBy(adapter, listed.sam)).toMatch(/protectedAccounts/);
      expect(await protectedBy(adapter, `<GUID=${guid}>`)).toMatch(/protectedAccounts/);
      expect(await protectedBy(adapter, ordinary.sam)).toBeUndefined();
    });

    it('DOMAIN\\name of another domain protects nobody here', async () => {
      const adapter = adapterFor({ protectedAccounts: [`LAB\\${listed.sam}`] });
      expect(await protectedBy(adapter, listed.sam)).toBeUndefined();
    });

    it('a group DN protects its members at any depth of nesting, and nobody else', async () => {
      const member = await admin.createUser({ sam: SambaAdmin.uniqueName('nested') });
      const inner = await admin.createGroup({ name: SambaAdmin.uniqueName('inner'), members: [member.dn] });
      const outer = await admin.createGroup({ name: SambaAdmin.uniqueName('outer'), members: [inner.dn] });
      const adapter = adapterFor({ protectedAccounts: [outer.dn.toLowerCase()] });

      expect(await protectedBy(adapter, member.sam)).toMatch(/member of/);
      expect(await protectedBy(adapter, ordinary.sam)).toBeUndefined();
      expect(await protectedBy(adapter, listed.sam)).toBeUndefined();
    });

    it('a filter-shaped or missing DN in the list protects nobody (escaped, not a wildcard)', async () => {
      const adapter = adapterFor({
        protectedAccounts: [
          'CN=*)(objectClass=*',
          `CN=*,CN=Users,${env.TEST_AD_BASE_DN}`,
          `CN=${SambaAdmin.uniqueName('nogroup')},CN=Users,${env.TEST_AD_BASE_DN}`,
        ],
      });
      expect(await protectedBy(adapter, ordinary.sam)).toBeUndefined();
      expect(await protectedBy(adapter, listed.sam)).toBeUndefined();
    });

    it('an entry that is no identifier at all stops the adapter from starting', () => {
      expect(() => adapterFor({ protectedAccounts: ['a\\b\\c'] })).toThrow(/protectedAccounts\[0\]/);
    });
  });
});

describe('hostile and ambiguous input', () => {
  let canary: { dn: string; sam: string };

  beforeAll(async () => {
    canary = await admin.createUser({ sam: SambaAdmin.uniqueName('canary'), mail: 'canary@example.test' });
  });

  it.each([
    '*)(sAMAccountName=*',
    '*',
    `${'canary'}*`,
    'CN=*)(objectClass=*',
    '*)(|(mail=*',
    'x)(mail=canary@example.test',
    'jdoe)(|(objectClass=*',
    'canary)(|(objectClass=*',
    `${'CORP'}\\*)(sAMAccountName=*`,
  ])('a filter-shaped account %p matches nothing and changes nothing', async (account) => {
    expect(await resolveAs(ad, account)).toBeNull();
    expect(await admin.readUac(canary.dn)).toBe(UF.NORMAL_ACCOUNT);
  });

  it('a mail address with a * matches only the account that has exactly it', async () => {
    const tag = SambaAdmin.uniqueName('star');
    const starred = await admin.createUser({ sam: `${tag}a`, mail: `${tag}*x@example.test` });
    await admin.createUser({ sam: `${tag}b`, mail: `${tag}yx@example.test` });
    const found = (await resolveAs(ad, `${tag}*x@example.test`))!;
    expect(found.objectId).toBe(starred.dn);
  });

  it('a DN with escaped commas names the one account it names', async () => {
    const tag = SambaAdmin.uniqueName('comma');
    const smith = await admin.createUser({ sam: `${tag}s`, cn: `Smith, ${tag}` });
    await admin.createUser({ sam: `${tag}t`, cn: `Smith` + tag });
    expect(smith.dn).toContain('Smith\\, ');

    const found = (await resolveAs(ad, smith.dn))!;
    expect(found.objectId).toBe(smith.dn);
    expect(await ad.disable(found, unguarded())).toBe('disabled');
    expect(await admin.readUac(smith.dn)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);
    // The same DN with its comma unescaped is another (non-existent) path and matches nothing.
    expect(await resolveAs(ad, smith.dn.replace('\\,', ','))).toBeNull();
  });

  it('two accounts with one mail address fail as ambiguous and neither is touched', async () => {
    const tag = SambaAdmin.uniqueName('twin');
    const shared = `${tag}@example.test`;
    const a = await admin.createUser({ sam: `${tag}a`, mail: shared });
    const b = await admin.createUser({ sam: `${tag}b`, mail: shared });
    const e = await failure(resolveAs(ad, shared));
    expect(e).toMatchObject({ code: 'ambiguousAccount', transient: false });
    expect(e.message).toContain(a.dn);
    expect(await admin.readUac(a.dn)).toBe(UF.NORMAL_ACCOUNT);
    expect(await admin.readUac(b.dn)).toBe(UF.NORMAL_ACCOUNT);
  });
});

describe('connections and failures', () => {
  let tmp: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'ad-tls-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('works over StartTLS on 389 with the CA file', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('stls') });
    const starttls = adapterFor({ url: env.TEST_AD_STARTTLS_URL, startTls: true });
    const account = (await resolveAs(starttls, user.sam))!;
    expect(await starttls.disable(account, unguarded())).toBe('disabled');
    expect(await admin.readUac(user.dn)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);
  });

  it('refuses plain ldap:// without StartTLS at configuration time', () => {
    expect(() => adapterFor({ url: env.TEST_AD_STARTTLS_URL })).toThrow(/startTls/);
  });

  it('trusts the server only through the CA file, unless rejectUnauthorized: false is stated', async () => {
    const untrusted = adapterFor({ tls: { rejectUnauthorized: true } });
    const e = await failure(resolveAs(untrusted, 'Administrator'));
    expect(e).toMatchObject({ code: 'tlsError', transient: false });

    const lax = adapterFor({ tls: { rejectUnauthorized: false } });
    expect((await resolveAs(lax, 'Administrator'))!.objectId).toMatch(/^CN=Administrator,/);
  });

  it('a wrong bind password is a permanent invalidCredentials, without the password in the message', async () => {
    const wrong = 'Wrong-Password-123';
    const e = await failure(resolveAs(adapterFor({ bindPassword: wrong }), 'Administrator'));
    expect(e).toMatchObject({ code: 'invalidCredentials', transient: false });
    expect(e.message).not.toContain(wrong);
    expect(logLines.join('\n')).not.toContain(wrong);
  });

  it('an unreachable host is a transient directoryUnreachable', async () => {
    const closed = await freePort();
    const e = await failure(resolveAs(adapterFor({ url: `ldaps://127.0.0.1:${closed}` }), 'Administrator'));
    expect(e).toMatchObject({ code: 'directoryUnreachable', transient: true });
  });

  it('an expired server certificate is a permanent tlsError naming the cause', async () => {
    await makeServerCert(tmp, 'expired', -1, join(env.TEST_AD_CA_KEY_FILE, '..'));
    // The handshake is all that matters: this server never speaks LDAP.
    const server = createTlsServer({
      key: readFileSync(join(tmp, 'expired.key')),
      cert: readFileSync(join(tmp, 'expired.pem')),
    });
    server.on('tlsClientError', () => undefined);
    const port = await listen(server);
    try {
      const e = await failure(resolveAs(adapterFor({ url: `ldaps://127.0.0.1:${port}` }), 'Administrator'));
      expect(e).toMatchObject({ code: 'tlsError', transient: false });
      expect(e.message).toContain('CERT_HAS_EXPIRED');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a service account without the delegation gets a permanent insufficientRights and changes nothing', async () => {
    const user = await admin.createUser({ sam: SambaAdmin.uniqueName('ro') });
    const readOnly = adapterFor({
      bindDN: env.TEST_AD_READONLY_DN,
      bindPassword: env.TEST_AD_READONLY_PASSWORD,
    });
    const account = (await resolveAs(readOnly, user.sam))!;
    const e = await failure(readOnly.disable(account, unguarded()));
    expect(e).toMatchObject({ code: 'insufficientRights', transient: false });
    expect(await admin.readUac(user.dn)).toBe(UF.NORMAL_ACCOUNT);
  });

  it('opens more connections only under concurrency, at most `connections`, and closes them all on shutdown', async () => {
    const proxy = await tcpProxy(636);
    try {
      const pooled = adapterFor({ url: `ldaps://127.0.0.1:${proxy.port}`, connections: 2 });
      const users = await Promise.all(
        [1, 2, 3, 4].map(() => admin.createUser({ sam: SambaAdmin.uniqueName('pool') })),
      );
      const accounts: ResolvedAccount[] = [];
      for (const u of users) accounts.push((await resolveAs(pooled, u.sam))!);
      // One job at a time: one connection serves them all.
      expect(proxy.accepted()).toBe(1);
      await Promise.all(accounts.map((a) => pooled.disable(a, unguarded())));
      for (const u of users) expect(await admin.readUac(u.dn)).toBe(UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE);
      await Promise.all(accounts.map((a) => pooled.enable(a, unguarded())));
      for (const u of users) expect(await admin.readUac(u.dn)).toBe(UF.NORMAL_ACCOUNT);
      expect(proxy.accepted()).toBe(2);

      await pooled.close();
      await waitFor(() => proxy.open() === 0);
    } finally {
      await proxy.close();
    }
  });
});

// ---- small network helpers ----

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((r) => server.close(r));
  return port;
}

/** A TCP relay to the DC that counts the connections the adapter opens. */
async function tcpProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
  });
  const port = await listen(server);
  return {
    port,
    accepted: () => accepted,
    open: () => sockets.size,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
