import { ProviderConfig } from '@app/config';
import { openLdapProvider, startSlapd } from '../../test/harness/slapd';
import { SambaAdmin, startSambaDc, UF } from '../../test/harness/samba';
import { startOktaEmulator } from '../../test/emulators/okta';
import { entraIdProvider, startEntraEmulator } from '../../test/emulators/entra-id';

/** One directory the demo brings up on this machine, with one account in it and a way to show its state. */
export interface BundledDirectory {
  provider: ProviderConfig;
  /** The account's state read from the directory itself, in that directory's words. */
  describe(): Promise<string>;
  stop(): Promise<void>;
}

export const DEMO_ACCOUNT = 'jdoe@corp.example';

export async function startOpenLdap(): Promise<BundledDirectory> {
  const slapd = await startSlapd();
  const dn = await slapd.addUser({
    uid: 'jdoe',
    cn: 'John Doe',
    mail: DEMO_ACCOUNT,
    password: 'Demo-Passw0rd',
  });
  return {
    provider: openLdapProvider(slapd, { id: 'openldap', disableMethod: 'ppolicy' }),
    async describe() {
      const locked = (await slapd.readAttributes(dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime ?? [];
      const canBind = await slapd.canBind(dn, 'Demo-Passw0rd');
      return `pwdAccountLockedTime=${locked[0] ?? '(none)'}, user bind ${canBind ? 'works' : 'refused'}`;
    },
    stop: () => slapd.stop(),
  };
}

/** A real Samba AD domain controller, provisioned on loopback (kept under .tmp/samba-dc for the next run). */
export async function startActiveDirectory(): Promise<BundledDirectory> {
  const dc = await startSambaDc();
  Object.assign(process.env, dc.env);
  const admin = await SambaAdmin.connect();
  const sam = SambaAdmin.uniqueName('jdoe');
  const user = await admin.createUser({ sam, cn: `John Doe ${sam}`, upn: DEMO_ACCOUNT, mail: DEMO_ACCOUNT });
  return {
    provider: {
      id: 'corp-ad',
      kind: 'activeDirectory',
      url: dc.env.TEST_AD_URL,
      bindDN: dc.env.TEST_AD_BIND_DN,
      bindPassword: dc.env.TEST_AD_BIND_PASSWORD,
      baseDN: dc.env.TEST_AD_BASE_DN,
      tls: { caFile: dc.env.TEST_AD_CA_FILE, rejectUnauthorized: true },
    },
    async describe() {
      const uac = await admin.readUac(user.dn);
      const disabled = (uac & UF.ACCOUNTDISABLE) !== 0;
      return `userAccountControl=0x${uac.toString(16)} (${disabled ? 'ACCOUNTDISABLE set' : 'enabled'})`;
    },
    async stop() {
      await admin.close();
      await dc.stop();
    },
  };
}

/** Okta cannot be reached from here: the project's emulator of its Management API stands in for it. */
export async function startOkta(): Promise<BundledDirectory> {
  const okta = await startOktaEmulator({
    fixture: {
      users: [
        {
          id: '00udemoJDOE000000001',
          status: 'ACTIVE',
          sessions: 2,
          profile: { login: DEMO_ACCOUNT, email: DEMO_ACCOUNT, firstName: 'John', lastName: 'Doe' },
        },
      ],
    },
  });
  return {
    provider: { id: 'okta', kind: 'okta', orgUrl: okta.orgUrl, token: okta.apiToken },
    async describe() {
      const u = okta.users.get('00udemoJDOE000000001');
      return `status=${u?.status}, sessions=${u?.sessions} (emulator)`;
    },
    stop: () => okta.stop(),
  };
}

/** Entra ID cannot be reached from here: the project's emulator of its token endpoint and Graph stands in. */
export async function startEntraId(): Promise<BundledDirectory> {
  const userId = '5e1f0a3b-9c8d-4e7f-a6b5-c4d3e2f1a0b9';
  const entra = await startEntraEmulator({
    fixture: {
      tenant: { id: '4b1c2d3e-0000-4a5b-8c9d-0e1f2a3b4c5d', domain: 'corp.example' },
      applications: [
        {
          displayName: 'account-response-engine',
          clientId: '6f0d3c1a-1111-4e2b-9a3c-5d6e7f8091a2',
          secret: 'demo-secret~value.1234567890abcdefgh',
          certificate: true,
          roles: ['User.Read.All', 'User.EnableDisableAccount.All', 'User.RevokeSessions.All'],
        },
      ],
      users: [
        {
          id: userId,
          displayName: 'John Doe',
          userPrincipalName: DEMO_ACCOUNT,
          mail: DEMO_ACCOUNT,
          accountEnabled: true,
          onPremisesSyncEnabled: null,
        },
      ],
    },
  });
  return {
    provider: entraIdProvider(entra),
    async describe() {
      const u = entra.users.get(userId);
      return `accountEnabled=${u?.accountEnabled}, sessions revoked ${entra.users.sessionRevocations(userId)} time(s) (emulator)`;
    },
    stop: () => entra.stop(),
  };
}

/** Every directory kind the demo can bring up here; each later directory adds one entry. */
export const BUNDLED: Array<{ name: string; start: () => Promise<BundledDirectory> }> = [
  { name: 'OpenLDAP (slapd)', start: startOpenLdap },
  { name: 'Active Directory (Samba AD DC on loopback)', start: startActiveDirectory },
  { name: 'Entra ID (local emulator of its token endpoint and Microsoft Graph)', start: startEntraId },
  { name: 'Okta (local emulator of the Management API)', start: startOkta },
];
