import { createServer, Server, Socket } from 'node:net';
import { OpenLdapProviderConfig } from '@app/config';
import { parseAccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
import { DirectoryAdapter, DirectoryError, DirectoryErrorCodes } from '@app/directories';
import { createOpenLdapAdapter, PERMANENT_LOCK } from '../../libs/directories/src/openldap';
import { SlapdHandle, openLdapProvider, startSlapd } from '../harness/slapd';

const id = parseAccountIdentifier;
const LOCK = 'pwdAccountLockedTime';

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
      hasActiveDirectory: false,
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
        'CORP\\jdoe',
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

    it('answers null for SIDs and Okta ids without contacting the directory', async () => {
      const offline = newAdapter({ url: `ldap://127.0.0.1:${await closedPort()}` });
      expect(await offline.resolve(id('S-1-5-21-1004336348-1177238915-682003330-512'))).toBeNull();
      expect(await offline.resolve(id('00u1a2b3c4d5e6f7g8h9'))).toBeNull();
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

      expect(await adapter.disable(odd!)).toBe('disabled');
      expect(await lockOf(oddDn)).toEqual([PERMANENT_LOCK]);
      expect(await slapd.canBind(oddDn, 'odd-pw')).toBe(false);
      for (const uid of ['jdoe', 'decoy']) {
        expect(await lockOf(slapd.userDn(uid))).toBeUndefined();
      }
      expect(await slapd.canBind(slapd.userDn('jdoe'), 'jdoe-pw')).toBe(true);
      expect(await slapd.canBind(slapd.userDn('decoy'), 'decoy-pw')).toBe(true);
      expect(await adapter.enable(odd!)).toBe('enabled');
    });
  });

  describe('disable and enable', () => {
    it('locks the account with pwdAccountLockedTime, so its own bind fails, and reports a second disable', async () => {
      const dn = slapd.userDn('jdoe');
      expect(await slapd.canBind(dn, 'jdoe-pw')).toBe(true);
      const account = (await adapter.resolve(id('jdoe')))!;

      expect(await adapter.disable(account)).toBe('disabled');
      expect(await lockOf(dn)).toEqual([PERMANENT_LOCK]);
      expect(await slapd.canBind(dn, 'jdoe-pw')).toBe(false);

      expect(await adapter.disable(account)).toBe('alreadyDisabled');
      expect(await lockOf(dn)).toEqual([PERMANENT_LOCK]);
      expect((await adapter.resolve(id('jdoe')))?.disabled).toBe(true);
    });

    it('unlocks the account, so its own bind works again, and reports a second enable', async () => {
      const dn = slapd.userDn('jdoe');
      const account = (await adapter.resolve(id('jdoe')))!;
      expect(account.disabled).toBe(true);

      expect(await adapter.enable(account)).toBe('enabled');
      expect(await lockOf(dn)).toBeUndefined();
      expect(await slapd.canBind(dn, 'jdoe-pw')).toBe(true);

      expect(await adapter.enable(account)).toBe('alreadyEnabled');
      expect(await slapd.canBind(dn, 'jdoe-pw')).toBe(true);
      expect((await adapter.resolve(id('jdoe')))?.disabled).toBe(false);
    });

    it('turns a timed lock (as failed binds leave) into the permanent administrative lock', async () => {
      const dn = slapd.userDn('timed');
      await slapd.setAttribute(dn, LOCK, ['20260101000000Z']);
      const account = (await adapter.resolve(id('timed')))!;
      expect(account.disabled).toBe(false);

      expect(await adapter.disable(account)).toBe('disabled');
      expect(await lockOf(dn)).toEqual([PERMANENT_LOCK]);
      expect(await slapd.canBind(dn, 'timed-pw')).toBe(false);
    });

    it('fails permanently with notFound when the entry was deleted after resolve', async () => {
      const account = (await adapter.resolve(id('gone')))!;
      await slapd.deleteEntry(account.objectId);
      await expect(adapter.disable(account)).rejects.toMatchObject({
        code: DirectoryErrorCodes.notFound,
        transient: false,
      });
      await expect(adapter.enable(account)).rejects.toMatchObject({ code: DirectoryErrorCodes.notFound });
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
    it('serves many operations over one bound connection', async () => {
      const before = Math.max(...(await slapd.connections()).map((c) => c.id));
      const fresh = newAdapter();
      const account = (await fresh.resolve(id('decoy')))!;
      await fresh.resolve(id('decoy@example.org'));
      expect(await fresh.disable(account)).toBe('disabled');
      expect(await fresh.enable(account)).toBe('enabled');

      // The reader binds anonymously and nothing else binds as rootdn meanwhile: all rootdn connections
      // opened since `before` are the adapter's.
      const opened = (await slapd.connections()).filter(
        (c) => c.id > before && c.authzDN.toLowerCase() === slapd.bindDN.toLowerCase(),
      );
      expect(opened).toHaveLength(1);
      // bind + 2 resolves + (read, modify, read) twice.
      expect(opened[0].opsCompleted).toBeGreaterThanOrEqual(9);
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
      { logger: new AppLogger('test', 'error', () => undefined), hasActiveDirectory: false },
    );
    adapters.push(a);
    return a;
  };

  beforeAll(async () => {
    // The rights docs/providers/openldap.md asks for: write on pwdAccountLockedTime, read (and so search)
    // on the rest. Everyone else may only read.
    slapd = await startSlapd({
      acl: [
        `access to attrs=pwdAccountLockedTime by dn.exact="${svcDn}" write by users read`,
        'access to attrs=userPassword by self write by anonymous auth by * none',
        'access to * by users read by anonymous auth',
      ],
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

    expect(await svc.disable(account)).toBe('disabled');
    expect((await slapd.readAttributes(dn, [LOCK]))[LOCK]).toEqual([PERMANENT_LOCK]);
    expect(await slapd.canBind(dn, 'victim-pw')).toBe(false);

    expect(await svc.enable(account)).toBe('enabled');
    expect((await slapd.readAttributes(dn, [LOCK]))[LOCK]).toBeUndefined();
    expect(await slapd.canBind(dn, 'victim-pw')).toBe(true);
  });

  it('fails permanently with insufficientRights when the account may only read, and changes nothing', async () => {
    const auditor = adapterAs(slapd.userDn('auditor'), 'auditor-pw');
    const dn = slapd.userDn('victim');
    const account = (await auditor.resolve(id('victim')))!;
    expect(account.objectId).toBe(dn);

    await expect(auditor.disable(account)).rejects.toMatchObject({
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
