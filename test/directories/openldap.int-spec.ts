import { connect, createServer, Server, Socket } from 'node:net';
import { OpenLdapProviderConfig } from '@app/config';
import { parseAccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
import {
  AccountState,
  AttemptGuard,
  DirectoryAdapter,
  DirectoryError,
  DirectoryErrorCodes,
  unguarded,
} from '@app/directories';
import { createOpenLdapAdapter, PERMANENT_LOCK } from '../../libs/directories/src/openldap';
import { SlapdHandle, openLdapProvider, startSlapd, serviceAccountAcl } from '../harness/slapd';
import { startTcpProxy } from '../harness/tcp-proxy';

const id = parseAccountIdentifier;
const SUFFIX = 'dc=example,dc=org';
const LOCK = 'pwdAccountLockedTime';

/** A guard that records each beforeWrite and runs `onWrite` before letting it pass. */
function guardWith(onWrite: (state: AccountState) => Promise<void>): ReturnType<typeof unguarded> {
  const base = unguarded();
  return {
    ...base,
    beforeWrite: async (state) => {
      base.writes.push(state);
      await onWrite(state);
    },
  };
}

describe('OpenLDAP adapter against a real slapd with ppolicy', () => {
  let slapd: SlapdHandle;
  let adapter: DirectoryAdapter;
  const logLines: string[] = [];
  const extraAdapters: DirectoryAdapter[] = [];

  const configFor = (over: Partial<OpenLdapProviderConfig> = {}): OpenLdapProviderConfig =>
    openLdapProvider(slapd, { timeoutMs: 5000, ...over });
  const newAdapter = (over: Partial<OpenLdapProviderConfig> = {}) => {
    const a = createOpenLdapAdapter(configFor(over), {
      logger: new AppLogger('test', 'debug', (l) => logLines.push(l)),
    });
    extraAdapters.push(a);
    return a;
  };
  const lockOf = async (dn: string) => (await slapd.readAttributes(dn, [LOCK]))[LOCK];
  // slapd hands DNs back in its own escaping (`\3D` for `\=`): compare entries, not DN spellings.
  const uuidOf = async (dn: string) => (await slapd.readAttributes(dn, ['entryUUID'])).entryUUID[0];

  beforeAll(async () => {
    slapd = await startSlapd({
      users: [
        {
          uid: 'jdoe',
          cn: 'John Doe',
          mail: ['jdoe@example.org', 'john.doe@example.org'],
          password: 'jdoe-pw',
        },
        // Sorts before jdoe: what a wildcard injection would most likely hit.
        { uid: 'decoy', mail: 'decoy@example.org', password: 'decoy-pw' },
        { uid: 'jdoe)(|(uid=*', password: 'odd-pw' },
        { uid: 'shared1', mail: 'team@example.org', password: 'shared1-pw' },
        { uid: 'shared2', mail: 'team@example.org', password: 'shared2-pw' },
        { uid: 'timed', password: 'timed-pw' },
        { uid: 'gone', password: 'gone-pw' },
        { uid: 'fenced', password: 'fenced-pw' },
        { uid: 'raced', password: 'raced-pw' },
        { uid: 'vip', mail: 'vip@example.org', password: 'vip-pw' },
        { uid: 'staffer', password: 'staffer-pw' },
        { uid: 'unique', password: 'unique-pw' },
        { uid: 'posix', password: 'posix-pw' },
        // Unescaped in a membership filter, this uid would make every posixGroup named posix list it.
        { uid: 'nobody)(cn=posix', password: 'nobody-pw' },
      ],
    });
    await slapd.addEntry(`ou=staff,${slapd.suffix}`, { objectClass: 'organizationalUnit', ou: 'staff' });
    await slapd.addEntry(`uid=outsider,ou=staff,${slapd.suffix}`, {
      objectClass: 'inetOrgPerson',
      uid: 'outsider',
      cn: 'outsider',
      sn: 'outsider',
      userPassword: 'outsider-pw',
    });
    adapter = newAdapter();
  });

  afterAll(async () => {
    for (const a of extraAdapters) await a.close();
    await slapd?.stop();
  });

  describe('resolve', () => {
    it('finds an account by uid, by each mail, by DN in any case and spacing, and by entryUUID', async () => {
      const dn = slapd.userDn('jdoe');
      const [uuid] = (await slapd.readAttributes(dn, ['entryUUID'])).entryUUID;

      for (const raw of [
        'jdoe',
        'jdoe@example.org',
        'john.doe@example.org',
        dn,
        'UID=JDOE, OU=People,DC=example,DC=org',
        uuid,
      ]) {
        const found = await adapter.resolve(id(raw));
        expect({ raw, objectId: found?.objectId }).toEqual({ raw, objectId: dn });
      }
      const found = await adapter.resolve(id('jdoe'));
      expect(found).toEqual({
        objectId: dn,
        objectRef: uuid,
        identifiers: [dn, 'jdoe', 'jdoe@example.org', 'john.doe@example.org', uuid],
        disabled: false,
      });
    });

    it('finds the same account again from the objectRef it handed out', async () => {
      const first = await adapter.resolve(id('jdoe@example.org'));
      const again = await adapter.resolve(id(first!.objectRef));
      expect(id(first!.objectRef).kind).toBe('guid');
      expect(again?.objectId).toBe(slapd.userDn('jdoe'));
    });

    it('does not find accounts outside baseDN, nor non-person entries, nor unknown users', async () => {
      expect(await adapter.resolve(id(`uid=outsider,ou=staff,${slapd.suffix}`))).toBeNull();
      expect(await adapter.resolve(id('outsider'))).toBeNull();
      expect(await adapter.resolve(id(slapd.policyDN))).toBeNull();
      expect(await adapter.resolve(id(slapd.baseDN))).toBeNull();
      expect(await adapter.resolve(id('nobody'))).toBeNull();
      expect(await adapter.resolve(id('nobody@example.org'))).toBeNull();
      expect(await adapter.resolve(id('0b0e0f7a-1111-4222-8333-944445555666'))).toBeNull();
      expect(await adapter.resolve(id(`uid=nobody,${slapd.baseDN}`))).toBeNull();
    });

    it('answers null for SIDs, Okta ids and DOMAIN\\name without contacting the directory', async () => {
      const offline = newAdapter({ url: `ldap://127.0.0.1:${await closedPort()}` });
      expect(await offline.resolve(id('S-1-5-21-1004336348-1177238915-682003330-512'))).toBeNull();
      expect(await offline.resolve(id('00u1a2b3c4d5e6f7g8h9'))).toBeNull();
      expect(await offline.resolve(id('ANY\\jdoe'))).toBeNull();
    });

    it('does not take a down-level name: OpenLDAP has no domain that could confirm it', async () => {
      for (const raw of ['ANY\\jdoe', 'CORP\\jdoe', 'ANY\\*)(uid=*']) {
        expect({ raw, found: await adapter.resolve(id(raw)) }).toEqual({ raw, found: null });
      }
      expect((await adapter.resolve(id('jdoe')))?.objectId).toBe(slapd.userDn('jdoe'));
    });
  });

  describe('injection', () => {
    it('treats filter syntax in an identifier as literal text', async () => {
      for (const raw of ['*', '*)(uid=*', 'jdoe*', '*@example.org', 'jdoe)(uid=decoy', 'decoy\\2a']) {
        expect({ raw, found: await adapter.resolve(id(raw)) }).toEqual({ raw, found: null });
      }
      const odd = await adapter.resolve(id('jdoe)(|(uid=*'));
      expect(odd?.objectRef).toBe(await uuidOf(slapd.userDn('jdoe)(|(uid=*')));
      expect(await uuidOf(odd!.objectId)).toBe(odd?.objectRef);
      expect(odd?.identifiers).toContain('jdoe)(|(uid=*');
    });

    it('finds an account by a DN holding escaped characters, and locks only that account', async () => {
      const oddDn = slapd.userDn('jdoe)(|(uid=*');
      expect(oddDn).toContain('\\=');
      const odd = await adapter.resolve(id(oddDn));
      expect(odd?.objectRef).toBe(await uuidOf(oddDn));

      expect(await adapter.disable(odd!, unguarded())).toBe('disabled');
      expect(await lockOf(oddDn)).toEqual([PERMANENT_LOCK]);
      expect(await slapd.canBind(oddDn, 'odd-pw')).toBe(false);
      for (const uid of ['jdoe', 'decoy']) {
        expect(await lockOf(slapd.userDn(uid))).toBeUndefined();
      }
      expect(await slapd.canBind(slapd.userDn('jdoe'), 'jdoe-pw')).toBe(true);
      expect(await slapd.canBind(slapd.userDn('decoy'), 'decoy-pw')).toBe(true);
      expect(await adapter.enable(odd!, unguarded())).toBe('enabled');
    });
  });

  describe('disable and enable', () => {
    it('locks the account with pwdAccountLockedTime, so its own bind fails, and reports a second disable', async () => {
      const dn = slapd.userDn('jdoe');
      expect(await slapd.canBind(dn, 'jdoe-pw')).toBe(true);
      const account = (await adapter.resolve(id('jdoe')))!;

      expect(await adapter.disable(account, unguarded())).toBe('disabled');
      expect(await lockOf(dn)).toEqual([PERMANENT_LOCK]);
      expect(await slapd.canBind(dn, 'jdoe-pw')).toBe(false);

      expect(await adapter.disable(account, unguarded())).toBe('alreadyDisabled');
      expect(await lockOf(dn)).toEqual([PERMANENT_LOCK]);
      expect((await adapter.resolve(id('jdoe')))?.disabled).toBe(true);
    });

    it('unlocks the account, so its own bind works again, and reports a second enable', async () => {
      const dn = slapd.userDn('jdoe');
      const account = (await adapter.resolve(id('jdoe')))!;
      expect(account.disabled).toBe(true);

      expect(await adapter.enable(account, unguarded())).toBe('enabled');
      expect(await lockOf(dn)).toBeUndefined();
      expect(await slapd.canBind(dn, 'jdoe-pw')).toBe(true);

      expect(await adapter.enable(account, unguarded())).toBe('alreadyEnabled');
      expect(await slapd.canBind(dn, 'jdoe-pw')).toBe(true);
      expect((await adapter.resolve(id('jdoe')))?.disabled).toBe(false);
    });

    it('turns a timed lock (as failed binds leave) into the permanent administrative lock', async () => {
      const dn = slapd.userDn('timed');
      await slapd.setAttribute(dn, LOCK, ['20260101000000Z']);
      const account = (await adapter.resolve(id('timed')))!;
      expect(account.disabled).toBe(false);

      expect(await adapter.disable(account, unguarded())).toBe('disabled');
      expect(await lockOf(dn)).toEqual([PERMANENT_LOCK]);
      expect(await slapd.canBind(dn, 'timed-pw')).toBe(false);
    });

    it('fails permanently with notFound when the entry was deleted after resolve', async () => {
      const account = (await adapter.resolve(id('gone')))!;
      await slapd.deleteEntry(account.objectId);
      await expect(adapter.disable(account, unguarded())).rejects.toMatchObject({
        code: DirectoryErrorCodes.notFound,
        transient: false,
      });
      await expect(adapter.enable(account, unguarded())).rejects.toMatchObject({
        code: DirectoryErrorCodes.notFound,
      });
    });
  });

  describe('writes fenced by the guard', () => {
    it('tells the guard the state before each write', async () => {
      const account = (await adapter.resolve(id('fenced')))!;
      const disabling = unguarded();
      expect(await adapter.disable(account, disabling)).toBe('disabled');
      expect(disabling.writes).toEqual(['enabled']);
      const enabling = unguarded();
      expect(await adapter.enable(account, enabling)).toBe('enabled');
      expect(enabling.writes).toEqual(['disabled']);
      const repeat = unguarded();
      expect(await adapter.enable(account, repeat)).toBe('alreadyEnabled');
      expect(repeat.writes).toEqual([]);
    });

    it('a guard that refuses stops the write, and its own error reaches the caller', async () => {
      const dn = slapd.userDn('fenced');
      const account = (await adapter.resolve(id('fenced')))!;
      const refusal = new Error('claim lost to another attempt');
      const refusing = guardWith(async () => {
        throw refusal;
      });

      await expect(adapter.disable(account, refusing)).rejects.toBe(refusal);
      expect(await lockOf(dn)).toBeUndefined();
      expect(await slapd.canBind(dn, 'fenced-pw')).toBe(true);

      expect(await adapter.disable(account, unguarded())).toBe('disabled');
      await expect(adapter.enable(account, refusing)).rejects.toBe(refusal);
      expect(await lockOf(dn)).toEqual([PERMANENT_LOCK]);
      expect(refusing.writes).toEqual(['enabled', 'disabled']);
      expect(await adapter.enable(account, unguarded())).toBe('enabled');
    });

    /** A guard that runs `change` (another tool's write) once, between the fence and the adapter's write. */
    const racedBy = (change: () => Promise<void>) => {
      let first = true;
      return guardWith(async () => {
        if (first) await change();
        first = false;
      });
    };

    // resolve() reads the lock before the engine's lease; the write itself checks what it read.
    describe('someone else changes the lock between resolve and the write', () => {
      const dn = () => slapd.userDn('raced');
      beforeEach(() => slapd.setAttribute(dn(), LOCK, []));

      it('a Disable finds it locked by then: nothing written, and the prior state recorded is disabled', async () => {
        const account = (await adapter.resolve(id('raced')))!;
        expect(account.disabled).toBe(false);
        const guard = racedBy(() => slapd.setAttribute(dn(), LOCK, [PERMANENT_LOCK]));
        expect(await adapter.disable(account, guard)).toBe('alreadyDisabled');
        // Told 'enabled' before the write, then that the write proved the account disabled.
        expect(guard.writes).toEqual(['enabled']);
        expect(guard.refused).toEqual(['disabled']);
        expect(await lockOf(dn())).toEqual([PERMANENT_LOCK]);
      });

      it('a Disable finds a timed lock by then: made permanent, the prior state enabled', async () => {
        const account = (await adapter.resolve(id('raced')))!;
        const guard = racedBy(() => slapd.setAttribute(dn(), LOCK, ['20260101000000Z']));
        expect(await adapter.disable(account, guard)).toBe('disabled');
        expect(guard.writes).toEqual(['enabled', 'enabled']);
        expect(guard.refused).toEqual([]);
        expect(await lockOf(dn())).toEqual([PERMANENT_LOCK]);
        expect(await slapd.canBind(dn(), 'raced-pw')).toBe(false);
      });

      it('an Enable finds it unlocked by then: nothing written, and the prior state recorded is enabled', async () => {
        await slapd.setAttribute(dn(), LOCK, [PERMANENT_LOCK]);
        const account = (await adapter.resolve(id('raced'), { checkProtection: false }))!;
        expect(account.disabled).toBe(true);
        const guard = racedBy(() => slapd.setAttribute(dn(), LOCK, []));
        expect(await adapter.enable(account, guard)).toBe('alreadyEnabled');
        expect(guard.writes).toEqual(['disabled']);
        expect(guard.refused).toEqual(['enabled']);
        expect(await slapd.canBind(dn(), 'raced-pw')).toBe(true);
      });

      it('an Enable finds a timed lock instead by then: removed, the prior state enabled', async () => {
        await slapd.setAttribute(dn(), LOCK, [PERMANENT_LOCK]);
        const account = (await adapter.resolve(id('raced'), { checkProtection: false }))!;
        const guard = racedBy(() => slapd.setAttribute(dn(), LOCK, ['20260101000000Z']));
        expect(await adapter.enable(account, guard)).toBe('enabled');
        expect(guard.writes).toEqual(['disabled', 'enabled']);
        expect(guard.refused).toEqual(['enabled']);
        expect(await lockOf(dn())).toBeUndefined();
        expect(await slapd.canBind(dn(), 'raced-pw')).toBe(true);
      });
    });

    it('an aborted attempt writes nothing and does not even ask the guard', async () => {
      const dn = slapd.userDn('fenced');
      const account = (await adapter.resolve(id('fenced')))!;
      const controller = new AbortController();
      const reason = new Error('attempt timed out');
      controller.abort(reason);
      const guard = { ...guardWith(async () => undefined), signal: controller.signal };
      await expect(adapter.disable(account, guard)).rejects.toBe(reason);
      expect(guard.writes).toEqual([]);
      expect(await lockOf(dn)).toBeUndefined();
    });
  });

  describe('protected accounts', () => {
    const groups = `ou=groups,${SUFFIX}`;
    const reasonOf = async (a: DirectoryAdapter, raw: string) => (await a.resolve(id(raw)))?.protectedReason;

    beforeAll(async () => {
      await slapd.addEntry(groups, { objectClass: 'organizationalUnit', ou: 'groups' });
      await slapd.addEntry(`cn=admins,${groups}`, {
        objectClass: 'groupOfNames',
        cn: 'admins',
        // Another spelling of the DN than slapd's: the server must compare them, not the adapter.
        member: `UID=staffer, OU=People,${SUFFIX}`,
      });
      await slapd.addEntry(`cn=unique,${groups}`, {
        objectClass: 'groupOfUniqueNames',
        cn: 'unique',
        uniqueMember: slapd.userDn('unique'),
      });
      await slapd.addEntry(`cn=posix,${groups}`, {
        objectClass: 'posixGroup',
        cn: 'posix',
        gidNumber: '5000',
        memberUid: 'posix',
      });
    });

    it('an ordinary account is not protected, even with every kind of entry in the list', async () => {
      const guarded = newAdapter({
        protectedAccounts: ['vip', `cn=admins,${groups}`, `cn=unique,${groups}`, `cn=posix,${groups}`],
      });
      const found = (await guarded.resolve(id('decoy')))!;
      expect(found.objectId).toBe(slapd.userDn('decoy'));
      expect(found.protectedReason).toBeUndefined();
      expect(await reasonOf(adapter, 'vip')).toBeUndefined();
    });

    it.each([
      ['uid in another case', () => 'VIP'],
      ['mail', () => 'vip@example.org'],
      ['DN in other case and spacing', () => `UID=vip, OU=People,${SUFFIX}`],
      ['entryUUID', async () => uuidOf(slapd.userDn('vip'))],
    ])('listed by %s, the account is protected and no other', async (_form, entry) => {
      const guarded = newAdapter({ protectedAccounts: [await entry()] });
      expect(await reasonOf(guarded, 'vip')).toMatch(/protectedAccounts/);
      expect(await reasonOf(guarded, 'vip@example.org')).toMatch(/protectedAccounts/);
      expect(await reasonOf(guarded, 'decoy')).toBeUndefined();
    });

    it.each([
      ['member (groupOfNames)', 'admins', 'staffer', 'posix'],
      ['uniqueMember (groupOfUniqueNames)', 'unique', 'unique', 'staffer'],
      ['memberUid (posixGroup)', 'posix', 'posix', 'unique'],
    ])(
      'a group listing the account in %s protects it, and not others',
      async (_kind, group, member, outsider) => {
        const guarded = newAdapter({ protectedAccounts: [`cn=${group},${groups}`] });
        expect(await reasonOf(guarded, member)).toMatch(new RegExp(`member of cn=${group}`));
        expect(await reasonOf(guarded, outsider)).toBeUndefined();
        expect(await reasonOf(guarded, 'decoy')).toBeUndefined();
      },
    );

    it('a missing group protects nobody and is reported in the log', async () => {
      const before = logLines.length;
      const guarded = newAdapter({ protectedAccounts: [`cn=nosuchgroup,${groups}`] });
      expect(await reasonOf(guarded, 'staffer')).toBeUndefined();
      expect(logLines.slice(before).join('\n')).toContain('cn=nosuchgroup');
    });

    it('filter syntax in a listed entry is literal text, never a wildcard', async () => {
      const guarded = newAdapter({
        protectedAccounts: ['*', 'cn=*)(objectClass=*', `cn=*,${groups}`, '*@example.org'],
      });
      for (const raw of ['decoy', 'vip', 'staffer', 'posix']) {
        expect({ raw, reason: await reasonOf(guarded, raw) }).toEqual({ raw, reason: undefined });
      }
    });

    it("filter syntax in the account's own uid or DN does not make a group list it", async () => {
      const guarded = newAdapter({
        protectedAccounts: [`cn=admins,${groups}`, `cn=unique,${groups}`, `cn=posix,${groups}`],
      });
      const odd = (await guarded.resolve(id('nobody)(cn=posix')))!;
      expect(odd.identifiers).toContain('nobody)(cn=posix');
      expect(odd.protectedReason).toBeUndefined();
      expect(await reasonOf(guarded, 'posix')).toMatch(/member of cn=posix/);
    });

    it('an entry that is no identifier at all stops the adapter from starting', () => {
      expect(() => newAdapter({ protectedAccounts: ['a\\b\\c'] })).toThrow(/protectedAccounts\[0\]/);
    });
  });

  describe('ambiguity', () => {
    it('refuses an identifier that matches two accounts and changes neither', async () => {
      const err = await adapter.resolve(id('team@example.org')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DirectoryError);
      expect(err).toMatchObject({ code: DirectoryErrorCodes.ambiguousAccount, transient: false });
      for (const uid of ['shared1', 'shared2']) {
        expect(await lockOf(slapd.userDn(uid))).toBeUndefined();
        expect(await slapd.canBind(slapd.userDn(uid), `${uid}-pw`)).toBe(true);
      }
    });
  });

  describe('failures', () => {
    it('reports a wrong bind password as permanent invalidCredentials, without the password', async () => {
      const bad = newAdapter({ bindPassword: 'not-the-password' });
      const err = await bad.resolve(id('jdoe')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DirectoryError);
      expect(err).toMatchObject({ code: DirectoryErrorCodes.invalidCredentials, transient: false });
      expect((err as Error).message).not.toContain('not-the-password');
    });

    it('reports a port with nothing listening as a transient error', async () => {
      const offline = newAdapter({ url: `ldap://127.0.0.1:${await closedPort()}` });
      const err = await offline.resolve(id('jdoe')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DirectoryError);
      expect(err).toMatchObject({ code: DirectoryErrorCodes.unreachable, transient: true });
    });

    it('gives up after timeoutMs on a server that accepts but never answers, as a transient error', async () => {
      const sockets: Socket[] = [];
      const silent = createServer((s) => sockets.push(s));
      const port = await listen(silent);
      try {
        const slow = newAdapter({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 300 });
        const started = Date.now();
        const err = await slow.resolve(id('jdoe')).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DirectoryError);
        expect(err).toMatchObject({ code: DirectoryErrorCodes.timeout, transient: true });
        expect(Date.now() - started).toBeLessThan(3000);
      } finally {
        sockets.forEach((s) => s.destroy());
        await new Promise((r) => silent.close(r));
      }
    });

    it('never writes the bind password to the log', () => {
      expect(logLines.length).toBeGreaterThan(0);
      expect(logLines.join('\n')).not.toContain(slapd.bindPassword);
    });
  });

  describe('connection reuse', () => {
    it('serves every operation over one bound connection, reading each change back within its modify', async () => {
      const before = Math.max(...(await slapd.connections()).map((c) => c.id));
      const fresh = newAdapter();
      // A Disable: the search and the protection check, then one modify whose post-read control reads the
      // lock back.
      const toDisable = (await fresh.resolve(id('decoy')))!;
      expect(await fresh.disable(toDisable, unguarded())).toBe('disabled');
      // An Enable: the search, then one modify.
      const toEnable = (await fresh.resolve(id('decoy@example.org'), { checkProtection: false }))!;
      expect(await fresh.enable(toEnable, unguarded())).toBe('enabled');
      expect(await lockOf(slapd.userDn('decoy'))).toBeUndefined();

      // The reader binds anonymously and nothing else binds as rootdn meanwhile: all rootdn connections
      // opened since `before` are the adapter's.
      const opened = (await slapd.connections()).filter(
        (c) => c.id > before && c.authzDN.toLowerCase() === slapd.bindDN.toLowerCase(),
      );
      expect(opened).toHaveLength(1);
      // The bind, then 3 operations for the Disable and 2 for the Enable.
      expect(opened[0].opsCompleted).toBe(6);
    });
  });

  describe('connection pool', () => {
    const addUsers = async (prefix: string, n: number) => {
      const uids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
      for (const uid of uids) await slapd.addUser({ uid, password: `${uid}-pw` });
      return uids;
    };
    const newestId = async () => Math.max(...(await slapd.connections()).map((c) => c.id));
    /** The rootdn connections slapd lists that were opened after connection `since`: the adapter's own. */
    const rootConnectionsSince = async (since: number) =>
      (await slapd.connections()).filter(
        (c) => c.id > since && c.authzDN.toLowerCase() === slapd.bindDN.toLowerCase(),
      );
    const disableAll = (a: DirectoryAdapter, uids: string[], guard?: AttemptGuard) =>
      Promise.allSettled(
        uids.map(async (uid) => {
          const account = await a.resolve(id(uid));
          return a.disable(account!, guard ?? unguarded());
        }),
      );

    it('spreads concurrent jobs over `connections` bound connections and closes them all on shutdown', async () => {
      const uids = await addUsers('spread', 12);
      const before = await newestId();
      const pooled = newAdapter({ connections: 3 });
      const results = await disableAll(pooled, uids);
      expect(results.map((r) => r.status === 'fulfilled' && r.value)).toEqual(uids.map(() => 'disabled'));

      const opened = await rootConnectionsSince(before);
      expect(opened).toHaveLength(3);
      // Each served jobs, not merely its own bind.
      for (const c of opened) expect(c.opsCompleted).toBeGreaterThan(3);
      for (const uid of uids) expect(await lockOf(slapd.userDn(uid))).toEqual([PERMANENT_LOCK]);

      await pooled.close();
      await waitFor(async () => (await rootConnectionsSince(before)).length === 0);
    });

    it('connections: 1 serves the same concurrent jobs over a single connection', async () => {
      const uids = await addUsers('single', 12);
      const before = await newestId();
      const single = newAdapter({ connections: 1 });
      const results = await disableAll(single, uids);
      expect(results.map((r) => r.status === 'fulfilled' && r.value)).toEqual(uids.map(() => 'disabled'));
      expect(await rootConnectionsSince(before)).toHaveLength(1);
      for (const uid of uids) expect(await lockOf(slapd.userDn(uid))).toEqual([PERMANENT_LOCK]);
    });

    it('a connection dropped while the engine fences the write: transient, nothing written, the next job reconnects', async () => {
      const [uid, next] = await addUsers('dropped', 2);
      const proxy = await startTcpProxy({ host: '127.0.0.1', port: slapd.port });
      try {
        const before = await newestId();
        const pooled = newAdapter({ url: `ldap://127.0.0.1:${proxy.port}`, connections: 2 });
        const account = (await pooled.resolve(id(uid)))!;
        expect(proxy.accepted).toBe(1);
        // beforeWrite is a PostgreSQL round trip in the engine: long enough for the directory to drop the
        // connection. ldapts would send the modify on a fresh, unbound socket, refused as a lack of rights.
        const e = await pooled
          .disable(
            account,
            guardWith(async () => {
              while (proxy.resetOne());
              await waitFor(async () => (await rootConnectionsSince(before)).length === 0);
            }),
          )
          .catch((err: unknown) => err);
        expect(e).toBeInstanceOf(DirectoryError);
        expect(e).toMatchObject({ code: DirectoryErrorCodes.unreachable, transient: true });
        expect(await lockOf(account.objectId)).toBeUndefined();

        const nextAccount = (await pooled.resolve(id(next)))!;
        expect(await pooled.disable(nextAccount, unguarded())).toBe('disabled');
        expect(await lockOf(nextAccount.objectId)).toEqual([PERMANENT_LOCK]);
        expect(proxy.accepted).toBe(2);
      } finally {
        await proxy.stop();
      }
    });

    it('a connection killed mid-run is replaced: every failure is transient and the retried jobs succeed', async () => {
      const uids = await addUsers('killed', 20);
      const proxy = await startTcpProxy({ host: '127.0.0.1', port: slapd.port });
      try {
        const pooled = newAdapter({ url: `ldap://127.0.0.1:${proxy.port}`, connections: 2 });
        let killed = false;
        // The first write to pass its guard kills one of the two connections while the other jobs run.
        const results = await disableAll(
          pooled,
          uids,
          guardWith(async () => {
            if (!killed) killed = proxy.resetOne();
          }),
        );
        expect(killed).toBe(true);
        const failed = uids.filter((_, i) => results[i].status === 'rejected');
        for (const r of results) {
          if (r.status === 'rejected') {
            expect(r.reason).toBeInstanceOf(DirectoryError);
            // Never a permanent failure (a request sent unbound on a reconnected socket would be one).
            expect(r.reason).toMatchObject({ transient: true });
          }
        }
        // What the engine does with a transient failure: the job runs again.
        const retried = await disableAll(pooled, failed);
        for (const r of retried) expect(r.status).toBe('fulfilled');
        for (const uid of uids) expect(await lockOf(slapd.userDn(uid))).toEqual([PERMANENT_LOCK]);

        // Concurrent jobs again use two live connections: the killed one was replaced.
        const accounts = await Promise.all(uids.map(async (uid) => (await pooled.resolve(id(uid)))!));
        await Promise.all(accounts.map((a) => pooled.enable(a, unguarded())));
        for (const uid of uids) expect(await lockOf(slapd.userDn(uid))).toBeUndefined();
        expect(proxy.accepted).toBe(3);
        expect(proxy.open).toBe(2);

        await pooled.close();
        await waitFor(async () => proxy.open === 0);
      } finally {
        await proxy.stop();
      }
    });

    it('where the directory takes one connection only, the jobs go on over that one', async () => {
      const uids = await addUsers('capped', 8);
      let accepted = 0;
      const sockets: Socket[] = [];
      // A front end that caps connections per client: the first is relayed to slapd, later ones are reset.
      const capped = createServer((client) => {
        sockets.push(client);
        client.on('error', () => undefined);
        if (++accepted > 1) return client.resetAndDestroy();
        const upstream = connect(slapd.port, '127.0.0.1');
        sockets.push(upstream);
        upstream.on('error', () => undefined);
        client.pipe(upstream).pipe(client);
      });
      const port = await listen(capped);
      try {
        const pooled = newAdapter({ url: `ldap://127.0.0.1:${port}`, connections: 4 });
        const results = await disableAll(pooled, uids);
        expect(results.map((r) => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual(
          uids.map(() => 'disabled'),
        );
        for (const uid of uids) expect(await lockOf(slapd.userDn(uid))).toEqual([PERMANENT_LOCK]);
        // It tried the others once each, and not again while the refusal is fresh.
        expect(accepted).toBeGreaterThan(1);
        expect(accepted).toBeLessThanOrEqual(4);
        const again = await disableAll(pooled, uids);
        expect(again.every((r) => r.status === 'fulfilled')).toBe(true);
        expect(accepted).toBeLessThanOrEqual(4);
      } finally {
        sockets.forEach((s) => s.destroy());
        await new Promise((r) => capped.close(r));
      }
    });

    it('refuses jobs after shutdown, even while a connection is still being opened', async () => {
      const uids = await addUsers('closing', 2);
      const before = await newestId();
      const pooled = newAdapter({ connections: 2 });
      const pending = pooled.resolve(id(uids[0])).catch((err: unknown) => err);
      await pooled.close();
      // Its bind completes after the close: the connection is unbound at once and the job told to retry.
      const e = await pending;
      expect(e).toBeInstanceOf(DirectoryError);
      expect(e).toMatchObject({ transient: true });
      await expect(pooled.resolve(id(uids[1]))).rejects.toMatchObject({ transient: true });
      await waitFor(async () => (await rootConnectionsSince(before)).length === 0);
    });
  });
});

describe('OpenLDAP adapter bound as a service account that is not the rootdn', () => {
  const people = 'ou=people,dc=example,dc=org';
  const svcDn = `uid=svc-response,${people}`;
  let slapd: SlapdHandle;
  const adapters: DirectoryAdapter[] = [];
  const adapterAs = (bindDN: string, bindPassword: string) => {
    const a = createOpenLdapAdapter(
      { id: 'ldap', kind: 'openLdap', url: slapd.url, bindDN, bindPassword, baseDN: slapd.baseDN },
      { logger: new AppLogger('test', 'error', () => undefined) },
    );
    adapters.push(a);
    return a;
  };

  beforeAll(async () => {
    slapd = await startSlapd({
      acl: serviceAccountAcl(svcDn),
      users: [
        { uid: 'svc-response', password: 'svc-pw' },
        { uid: 'auditor', password: 'auditor-pw' },
        { uid: 'victim', mail: 'victim@example.org', password: 'victim-pw' },
      ],
    });
  });

  afterAll(async () => {
    for (const a of adapters) await a.close();
    await slapd?.stop();
  });

  it('resolves, disables and enables with write access to pwdAccountLockedTime alone', async () => {
    const svc = adapterAs(svcDn, 'svc-pw');
    const dn = slapd.userDn('victim');
    const [uuid] = (await slapd.readAttributes(dn, ['entryUUID'])).entryUUID;
    for (const raw of ['victim', 'victim@example.org', dn, uuid]) {
      expect({ raw, ref: (await svc.resolve(id(raw)))?.objectRef }).toEqual({ raw, ref: uuid });
    }
    const account = (await svc.resolve(id('victim')))!;

    expect(await svc.disable(account, unguarded())).toBe('disabled');
    expect((await slapd.readAttributes(dn, [LOCK]))[LOCK]).toEqual([PERMANENT_LOCK]);
    expect(await slapd.canBind(dn, 'victim-pw')).toBe(false);

    expect(await svc.enable(account, unguarded())).toBe('enabled');
    expect((await slapd.readAttributes(dn, [LOCK]))[LOCK]).toBeUndefined();
    expect(await slapd.canBind(dn, 'victim-pw')).toBe(true);
  });

  it('the account it binds as is protected, however its DN is spelled in bindDN', async () => {
    for (const bindDN of [svcDn, 'UID=svc-response, OU=People,DC=example,DC=org']) {
      const svc = adapterAs(bindDN, 'svc-pw');
      const self = (await svc.resolve(id('svc-response')))!;
      expect(self.objectId).toBe(slapd.userDn('svc-response'));
      expect(self.protectedReason).toMatch(/binds as/);
      expect((await svc.resolve(id('victim')))?.protectedReason).toBeUndefined();
    }
  });

  it('fails permanently with insufficientRights when the account may only read, and changes nothing', async () => {
    const auditor = adapterAs(slapd.userDn('auditor'), 'auditor-pw');
    const dn = slapd.userDn('victim');
    const account = (await auditor.resolve(id('victim')))!;
    expect(account.objectId).toBe(dn);

    await expect(auditor.disable(account, unguarded())).rejects.toMatchObject({
      code: DirectoryErrorCodes.insufficientRights,
      transient: false,
    });
    expect((await slapd.readAttributes(dn, [LOCK]))[LOCK]).toBeUndefined();
    expect(await slapd.canBind(dn, 'victim-pw')).toBe(true);
  });
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/** A port that was free a moment ago and has nothing listening now. */
async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
