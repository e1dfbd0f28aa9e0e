import { Attribute, Change, Client, NoSuchObjectError } from 'ldapts';
import { ActiveDirectoryProviderConfig } from '@app/config';
import { AccountIdentifier, guidFromBytes, sidFromBytes } from '@app/domain';
import { AppLogger } from '@app/logging';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter, DisableOutcome, EnableOutcome, ResolvedAccount } from '../directory-adapter';
import { DirectoryErrorCodes, permanentError } from '../directory-error';
import { LdapConnection, escapeFilter } from '../ldap';
import { accountFilter } from './ad-filters';
import { isDisabled, parseUac, withDisabled } from './user-account-control';

const READ_ATTRIBUTES = [
  'objectGUID',
  'objectSid',
  'sAMAccountName',
  'userPrincipalName',
  'mail',
  'userAccountControl',
];
const BINARY_ATTRIBUTES = ['objectGUID', 'objectSid'];

interface AccountState {
  uac: number;
  lockoutTime: string;
}

/**
 * On-premises Active Directory over LDAPS or StartTLS. Disable and enable flip only ACCOUNTDISABLE (0x2) of
 * userAccountControl: read, change the bit, replace, read back. Objects are acted on through `<GUID=…>`, so a
 * rename or move between resolve and action does not lose them.
 */
export class ActiveDirectoryAdapter implements DirectoryAdapter {
  readonly kind = 'activeDirectory' as const;
  readonly id: string;
  private readonly connection: LdapConnection;
  private readonly logger: AppLogger;
  private netbiosName: Promise<string | null> | null = null;

  constructor(
    private readonly config: ActiveDirectoryProviderConfig,
    context: AdapterContext,
  ) {
    this.id = config.id;
    this.logger = context.logger;
    if (/^ldap:\/\//i.test(config.url) && !config.startTls) {
      // AD refuses simple binds without transport encryption (strongAuthRequired), and the password must not
      // cross the network in clear anyway.
      throw new Error(`provider ${config.id}: url ${config.url} needs startTls: true (or use ldaps://)`);
    }
    this.connection = LdapConnection.forProvider(config);
  }

  async resolve(account: AccountIdentifier): Promise<ResolvedAccount | null> {
    const filter = accountFilter(account);
    if (filter === null) return null;
    if (account.kind === 'downLevel' && !(await this.isOurDomain(account.domain))) return null;

    const entry = await this.connection.findUnique(
      this.config.baseDN,
      {
        filter,
        attributes: READ_ATTRIBUTES,
        explicitBufferAttributes: BINARY_ATTRIBUTES,
      },
      account.raw,
      this.id,
    );
    if (!entry) return null;
    const guid = guidFromBytes(entry.objectGUID as Buffer);
    const sid = sidFromBytes(entry.objectSid as Buffer);
    const sam = first(entry.sAMAccountName);
    const netbios = await this.netbios();
    const identifiers = [entry.dn, guid, sid, first(entry.userPrincipalName), first(entry.mail), sam];
    if (sam && netbios) identifiers.push(`${netbios}\\${sam}`);
    return {
      objectId: entry.dn,
      objectRef: `<GUID=${guid}>`,
      identifiers: [...new Set(identifiers.filter((v): v is string => !!v))],
      disabled: isDisabled(parseUac(entry.userAccountControl)),
    };
  }

  async disable(account: ResolvedAccount): Promise<DisableOutcome> {
    return this.connection.use(async (client) => {
      const target = this.target(account);
      const before = await readState(client, target, account);
      if (isDisabled(before.uac)) return 'alreadyDisabled';
      await replace(client, target, account, 'userAccountControl', uacString(withDisabled(before.uac, true)));
      const after = await readState(client, target, account);
      if (!isDisabled(after.uac)) throw verificationFailed(account, 'is still enabled after the write');
      return 'disabled';
    });
  }

  async enable(account: ResolvedAccount): Promise<EnableOutcome> {
    const clearLockout = this.config.clearLockoutOnEnable ?? true;
    return this.connection.use(async (client) => {
      const target = this.target(account);
      const before = await readState(client, target, account);
      if (!isDisabled(before.uac)) return 'alreadyEnabled';
      // Lockout first: if the job dies between the two writes, the retry still sees a disabled account and
      // comes back here, instead of reporting alreadyEnabled with the lockout left in place.
      if (clearLockout && before.lockoutTime !== '0')
        await replace(client, target, account, 'lockoutTime', '0');
      await replace(
        client,
        target,
        account,
        'userAccountControl',
        uacString(withDisabled(before.uac, false)),
      );
      const after = await readState(client, target, account);
      if (isDisabled(after.uac)) throw verificationFailed(account, 'is still disabled after the write');
      if (clearLockout && after.lockoutTime !== '0')
        throw verificationFailed(account, 'is still locked out after the write');
      return 'enabled';
    });
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  /** `<GUID=…>` finds the object wherever it has moved since resolve(); the DN is the fallback. */
  private target(account: ResolvedAccount): string {
    return /^<GUID=[0-9a-f-]{36}>$/i.test(account.objectRef) ? account.objectRef : account.objectId;
  }

  /**
   * A down-level name names an account only in the domain it names: `OTHER\jdoe` is not our jdoe. When the
   * NetBIOS name cannot be read (no rights on the configuration partition), the domain part is not checked.
   */
  private async isOurDomain(domain: string | undefined): Promise<boolean> {
    const ours = await this.netbios();
    return !domain || !ours || ours.toUpperCase() === domain.toUpperCase();
  }

  private netbios(): Promise<string | null> {
    this.netbiosName ??= this.readNetbiosName().catch((e: Error) => {
      this.netbiosName = null;
      this.logger.warn('could not read the domain NetBIOS name; DOMAIN\\name is matched on the name only', {
        error: e.message,
      });
      return null;
    });
    return this.netbiosName;
  }

  private async readNetbiosName(): Promise<string | null> {
    return this.connection.use(async (client) => {
      const root = await client.search('', {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['defaultNamingContext', 'configurationNamingContext'],
      });
      const domainNc = first(root.searchEntries[0]?.defaultNamingContext);
      const configNc = first(root.searchEntries[0]?.configurationNamingContext);
      if (!domainNc || !configNc) return null;
      const { searchEntries } = await client.search(`CN=Partitions,${configNc}`, {
        scope: 'one',
        filter: escapeFilter`(&(objectClass=crossRef)(nCName=${domainNc})(nETBIOSName=*))`,
        attributes: ['nETBIOSName'],
      });
      return first(searchEntries[0]?.nETBIOSName) ?? null;
    });
  }
}

async function readState(client: Client, target: string, account: ResolvedAccount): Promise<AccountState> {
  try {
    const { searchEntries } = await client.search(target, {
      scope: 'base',
      filter: '(objectClass=user)',
      attributes: ['userAccountControl', 'lockoutTime'],
    });
    if (searchEntries.length === 0) throw gone(account);
    return {
      uac: parseUac(searchEntries[0].userAccountControl),
      lockoutTime: first(searchEntries[0].lockoutTime) ?? '0',
    };
  } catch (e) {
    throw e instanceof NoSuchObjectError ? gone(account) : e;
  }
}

async function replace(
  client: Client,
  target: string,
  account: ResolvedAccount,
  type: string,
  value: string,
): Promise<void> {
  try {
    await client.modify(
      target,
      new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) }),
    );
  } catch (e) {
    throw e instanceof NoSuchObjectError ? gone(account) : e;
  }
}

/** AD's userAccountControl syntax is a signed 32-bit integer. */
const uacString = (uac: number): string => String(uac | 0);

const gone = (account: ResolvedAccount) =>
  permanentError(DirectoryErrorCodes.notFound, `${account.objectId} no longer exists in the directory`);

const verificationFailed = (account: ResolvedAccount, what: string) =>
  permanentError(DirectoryErrorCodes.verificationFailed, `${account.objectId} ${what}`);

function first(v: unknown): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined || x === null || x === '' ? undefined : String(x);
}
