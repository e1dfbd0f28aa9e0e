import { ProviderConfig } from '@app/config';
import { TaskView } from '@app/engine';
import { SambaAdmin, UF, sambaProvider } from '../harness/samba';
import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';
import { fullWidth } from './hostile';

/**
 * LDAP filter and DN injection (RFC 4515 / RFC 4514, CONTRACT §9) against the real directories: a real slapd
 * and the run's real Samba AD DC. Each string below would, unescaped, match one or many accounts; sent as the
 * account of a Disable, it must end as a 400 or a task `unsuccessful` with `accountNotFound`, and every
 * account read back from both directories must be exactly as it was. Unicode look-alikes of the accounts'
 * names (full-width and other compatibility forms) are held to the same rule.
 */
describe('LDAP filter and DN injection against slapd and Samba AD', () => {
  let slapd: SlapdHandle;
  let ad: SambaAdmin;
  let engine: TestEngine;
  const env = process.env;
  const LDAP_USERS = ['admin', 'jdoe', 'fzvictim', 'fzother', 'fzlocked'];
  let control: { ldapDn: string; adDn: string; upn: string };
  const ldapState = new Map<string, Record<string, string[]>>();
  const adAccounts: Array<{ dn: string; sam: string }> = [];
  const adState = new Map<string, number>();
  const LDAP_STATE = ['pwdAccountLockedTime', 'modifyTimestamp', 'entryCSN'];

  beforeAll(async () => {
    slapd = await startSlapd({
      users: LDAP_USERS.map((uid) => ({ uid, mail: `${uid}@example.org`, password: `${uid}-pw` })),
    });
    await slapd.setAttribute(slapd.userDn('fzlocked'), 'pwdAccountLockedTime', ['000001010000Z']);
    ad = await SambaAdmin.connect();
    // Accounts of this spec's own (unique names: the DC is shared by the run), one of them already disabled.
    for (const [prefix, uac] of [
      ['fzvictim', UF.NORMAL_ACCOUNT],
      ['jdoe', UF.NORMAL_ACCOUNT],
      ['fzother', UF.NORMAL_ACCOUNT | UF.DONT_EXPIRE_PASSWORD],
      ['fzlocked', UF.NORMAL_ACCOUNT | UF.ACCOUNTDISABLE],
    ] as const) {
      const sam = SambaAdmin.uniqueName(prefix);
      adAccounts.push(await ad.createUser({ sam, upn: `${sam}@corp.test`, mail: `${sam}@corp.test`, uac }));
    }
    // A control, named exactly: it proves that both directories answer and that a match would be acted on.
    const controlSam = SambaAdmin.uniqueName('fzcontrol');
    const controlUpn = `${controlSam}@example.org`;
    control = {
      ldapDn: await slapd.addUser({ uid: controlSam, mail: controlUpn, password: 'control-pw' }),
      adDn: (await ad.createUser({ sam: controlSam, upn: controlUpn, mail: controlUpn })).dn,
      upn: controlUpn,
    };
    // The directory's own accounts, which a wildcard would reach first.
    adAccounts.push({ dn: `CN=Administrator,CN=Users,${ad.baseDN}`, sam: 'Administrator' });
    adAccounts.push({ dn: env.TEST_AD_READONLY_DN as string, sam: 'svc-readonly' });
    for (const uid of LDAP_USERS)
      ldapState.set(uid, await slapd.readAttributes(slapd.userDn(uid), LDAP_STATE));
    for (const a of adAccounts) adState.set(a.dn, await ad.readUac(a.dn));

    const providers: ProviderConfig[] = [openLdapProvider(slapd), sambaProvider()];
    engine = await startEngine({ label: 'fuzz-injection', workers: 1, providers });
  });
  afterAll(async () => {
    await engine?.stop();
    await Promise.allSettled([slapd?.stop(), ad?.close()]);
  });

  /** Strings that would match something if any byte of them reached a filter or a DN unescaped. */
  function injections(): { generic: string[]; targeted: string[] } {
    const base = ad.baseDN;
    const generic = [
      '*',
      '**',
      '*)(uid=*',
      '*)(sAMAccountName=*',
      '*))(|(uid=*',
      'jdoe)(|(objectClass=*',
      'admin)(|(objectClass=*',
      '*)(|(objectClass=*',
      '*)(objectClass=user)(sAMAccountName=*',
      '(&)',
      '(|)',
      '\\2a',
      '\\00',
      '\\',
      'cn=x,dc=y\\',
      `CN=*,${base}`,
      `CN=*,CN=Users,${base}`,
      `CN=Administrator,CN=Users,${base})(cn=*`,
      'uid=*,ou=people,dc=example,dc=org',
      'uid=admin)(uid=*,ou=people,dc=example,dc=org',
      '<GUID=*>',
      '<SID=*>',
      '<SID=S-1-5-21-*>',
      'CORP\\*',
      'CORP\\*)(sAMAccountName=*',
      'CORP\\Administrator*',
      '*@corp.test',
      '*@example.org',
      '*)(mail=*',
      'S-1-5-21-*',
      'admin\u0000',
      'Administrator*',
      'Admin*',
    ];
    const targeted = [
      ...LDAP_USERS.filter((u) => u.startsWith('fz')).flatMap((uid) => [
        `${uid}*`,
        `${uid.slice(0, -2)}*`,
        `*${uid.slice(2)}`,
        `${uid})(|(objectClass=*`,
        `*)(uid=${uid}`,
        `${uid}*@example.org`,
        `uid=${uid}*,ou=people,dc=example,dc=org`,
        `uid=${uid.slice(0, -1)}*,ou=people,dc=example,dc=org`,
      ]),
      ...adAccounts
        .slice(0, 4)
        .flatMap(({ sam }) => [
          `${sam}*`,
          `${sam.slice(0, -2)}*`,
          `*${sam.slice(3)}`,
          `${sam})(|(objectClass=*`,
          `*)(sAMAccountName=${sam}`,
          `CORP\\${sam.slice(0, -1)}*`,
          `${sam.slice(0, -1)}*@corp.test`,
          `CN=${sam}*,CN=Users,${base}`,
          `CN=${sam.slice(0, -1)}*,CN=Users,${base}`,
          `CN=*,CN=${sam},CN=Users,${base}`,
        ]),
    ];
    // Unicode compatibility forms: full-width, mathematical and circled letters, the Kelvin sign. None of them
    // is the account's name; a directory whose matching rule folds them (NFKC) must still not be led to it.
    const confusables = [
      ...LDAP_USERS.filter((u) => u.startsWith('fz')),
      ...adAccounts.slice(0, 4).map((a) => a.sam),
    ]
      .flatMap((name) =>
        [
          fullWidth(name),
          fullWidth(name.toUpperCase()),
          name.replace(/k/g, '\u212a'),
          name.replace(/[a-z]/g, (c) => String.fromCodePoint(0x1d41a + c.charCodeAt(0) - 97)),
          name.replace(/[a-z]/g, (c) => String.fromCodePoint(0x24d0 + c.charCodeAt(0) - 97)),
        ].filter((x) => x !== name),
      )
      .filter((x, i, all) => all.indexOf(x) === i);
    return { generic, targeted: [...targeted, ...confusables] };
  }

  it('ends every injected Disable as a 400 or unsuccessful/accountNotFound, and changes no account', async () => {
    const { generic, targeted } = injections();
    const sent = [...generic, ...targeted];
    const created = await Promise.all(
      sent.map((account) => engine.request('POST', '/api/v1/tasks/disable-account', { body: { account } })),
    );
    // The Adaxes-style and Vision One-style doors take the same strings to the same TaskService.
    const adaxes = await Promise.all(
      generic.map((directoryObject) =>
        engine.request('POST', '/restApi/api/directoryObjects/account/disable', {
          key: null,
          headers: { 'adm-authorization': engine.adminKey, 'adm-wait': '0' },
          body: { directoryObject },
        }),
      ),
    );
    const visionOne = await engine.request('POST', '/v3.0/response/domainAccounts/disable', {
      body: generic.map((accountName) => ({ accountName })),
    });
    expect(visionOne.status).toBe(207);

    const taskIds: Array<{ account: string; door: string; id: string }> = [];
    const outcomes: Array<{ account: string; door: string; answer: string }> = [];
    sent.forEach((account, i) => {
      const n = created[i];
      if (n.status === 202) taskIds.push({ account, door: 'native', id: n.body.id });
      else outcomes.push({ account, door: 'native', answer: `${n.status} ${n.body?.error?.code}` });
    });
    generic.forEach((account, i) => {
      const a = adaxes[i];
      if (a.status === 202) taskIds.push({ account, door: 'adaxes', id: a.body.operationId });
      else outcomes.push({ account, door: 'adaxes', answer: `${a.status} ${a.body?.error?.code}` });
      const v = visionOne.body[i];
      if (v.status === 202)
        taskIds.push({ account, door: 'visionOne', id: v.headers[0].value.split('/').pop() });
      else
        outcomes.push({
          account,
          door: 'visionOne',
          answer: `${v.status} ${v.body?.error?.innererror?.code}`,
        });
    });
    // Refusals are 400s for a reason of the identifier's own (never a 5xx, never a rate limit).
    const wronglyRefused = outcomes.filter(
      (o) => !/^400 (invalidAccount|invalidDirectoryObject)$/.test(o.answer),
    );
    const ended: Array<{ account: string; door: string; task: TaskView }> = [];
    for (const t of taskIds) ended.push({ ...t, task: await engine.waitForTask(t.id, 60_000) });
    const NOT_FOUND = ['corp-ad:skipped/notFound', 'ldap:skipped/notFound'];
    const found = ended
      .map(({ account, door, task }) => ({
        account,
        door,
        task: task.id,
        status: task.status,
        error: task.error?.code,
        targets: task.targets.map((x) => `${x.provider}:${x.status}/${x.outcome} ${x.objectId ?? ''}`.trim()),
      }))
      .filter(
        (r) =>
          r.status !== 'unsuccessful' ||
          r.error !== 'accountNotFound' ||
          r.targets.join() !== NOT_FOUND.join(),
      );
    console.log(
      `injection: ${sent.length} strings (${generic.length} of them at all 3 doors): ${ended.length} tasks, ${outcomes.length} refused with 400`,
    );

    // The control: named exactly, it is found and disabled in both directories.
    const controlTask = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: control.upn },
    });
    const controlEnded = await engine.waitForTask(controlTask.body.id, 60_000);
    expect(controlEnded.targets.map((x) => `${x.provider}:${x.status}/${x.outcome}`).sort()).toEqual([
      'corp-ad:succeeded/disabled',
      'ldap:succeeded/disabled',
    ]);
    expect(
      (await slapd.readAttributes(control.ldapDn, ['pwdAccountLockedTime'])).pwdAccountLockedTime,
    ).toEqual(['000001010000Z']);
    expect((await ad.readUac(control.adDn)) & UF.ACCOUNTDISABLE).toBe(UF.ACCOUNTDISABLE);

    // Read back from the directories themselves.
    const changed: unknown[] = [];
    for (const uid of LDAP_USERS) {
      const now = await slapd.readAttributes(slapd.userDn(uid), LDAP_STATE);
      if (JSON.stringify(now) !== JSON.stringify(ldapState.get(uid)))
        changed.push({ ldap: uid, before: ldapState.get(uid), after: now });
    }
    for (const a of adAccounts) {
      const uac = await ad.readUac(a.dn);
      if (uac !== adState.get(a.dn)) changed.push({ ad: a.dn, before: adState.get(a.dn), after: uac });
    }
    // Every refusal, every task that found an account and every account changed, all in one report.
    expect({ wronglyRefused, found, changed }).toEqual({ wronglyRefused: [], found: [], changed: [] });
  });
});
