import { Attribute, Change, Client, NoSuchObjectError } from 'ldapts';
import { ActiveDirectoryProviderConfig } from '@app/config';
import { AccountIdentifier, guidFromBytes, parseAccountIdentifier, sidFromBytes } from '@app/domain';
import { AppLogger } from '@app/logging';
import { AdapterContext } from '../adapter-context';
import {
  AccountState,
  AttemptGuard,
  DirectoryAdapter,
  DisableOutcome,
  EnableOutcome,
  ResolvedAccount,
  ResolveOptions,
} from '../directory-adapter';
import { DirectoryError, DirectoryErrorCodes, permanentError, transientError } from '../directory-error';
import {
  LdapConnection,
  ProbeResult,
  ProtectedEntries,
  escapeFilter,
  isLdapResult,
  parseProtectedEntries,
  probeLdap,
  sameDn,
} from '../ldap';
import { ProviderCheck } from '../provider-check';
import { AdAccountFacts, builtInProtection, listedEntry } from './ad-protection';
import { accountFilter } from './ad-filters';
import { isDisabled, isDomainController, parseUac, withDisabled } from './user-account-control';

const READ_ATTRIBUTES = [
  'objectGUID',
  'objectSid',
  'sAMAccountName',
  'userPrincipalName',
  'mail',
  'userAccountControl',
];
const BINARY_ATTRIBUTES = ['objectGUID', 'objectSid'];

/**
 * How often one disable or enable re-reads and retries when userAccountControl changed between its read and
 * its write. Another writer changing the same account three times within a few round trips is a fight
 * worth surfacing, and the engine retries the whole attempt later anyway.
 */
const MAX_WRITE_ATTEMPTS = 3;
const NO_SUCH_ATTRIBUTE = 16;
const NO_SUCH_OBJECT = 32;
/**
 * Ordinary users, the ones the engine will be asked to disable: AdminSDHolder-protected accounts (adminCount)
 * and critical system objects carry other ACLs, so the rights seen on them say nothing about the rest.
 */
const ORDINARY_USERS =
  '(&(objectCategory=person)(objectClass=user)(!(adminCount=1))(!(isCriticalSystemObject=TRUE)))';

interface ReadState {
  /** userAccountControl exactly as the DC returned it: the value the atomic write deletes. */
  uacRaw: string;
  uac: number;
  lockoutTime: string;
}

interface NamingContexts {
  domain: string;
  configuration: string;
}

/**
 * On-premises Active Directory over LDAPS or StartTLS. Disable and enable flip only ACCOUNTDISABLE (0x2) of
 * userAccountControl with one modify that deletes the value read and adds the new one, so a concurrent
 * change to any other flag makes the DC refuse the write instead of being overwritten. Objects are acted on
 * through `<GUID=…>`, so a rename or move between resolve and action does not lose them.
 */
export class ActiveDirectoryAdapter implements DirectoryAdapter {
  readonly kind = 'activeDirectory' as const;
  readonly id: string;
  private readonly connection: LdapConnection;
  private readonly logger: AppLogger;
  private readonly protectedEntries: ProtectedEntries;
  private naming: Promise<NamingContexts> | null = null;
  private netbiosName: Promise<string | null> | null = null;
  private bindAccount: Promise<string | null> | null = null;

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
    this.protectedEntries = parseProtectedEntries(config.protectedAccounts, config.id);
    this.connection = LdapConnection.forProvider(config);
  }

  async resolve(account: AccountIdentifier, options?: ResolveOptions): Promise<ResolvedAccount | null> {
    const filter = accountFilter(account);
    if (filter === null) return null;
    if (account.kind === 'downLevel' && !(await this.isOurDomain(account))) return null;

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
    const facts: AdAccountFacts = {
      guid: guidFromBytes(entry.objectGUID as Buffer),
      sid: sidFromBytes(entry.objectSid as Buffer),
      sam: first(entry.sAMAccountName),
      upn: first(entry.userPrincipalName),
      mail: first(entry.mail),
      uac: parseUac(entry.userAccountControl),
      netbios: await this.netbios(),
    };
    const identifiers = [entry.dn, facts.guid, facts.sid, facts.upn, facts.mail, facts.sam];
    if (facts.sam && facts.netbios) identifiers.push(`${facts.netbios}\\${facts.sam}`);
    const protectedReason =
      options?.checkProtection === false ? undefined : await this.protectedReason(facts);
    return {
      objectId: entry.dn,
      objectRef: `<GUID=${facts.guid}>`,
      identifiers: [...new Set(identifiers.filter((v): v is string => !!v))],
      disabled: isDisabled(facts.uac),
      ...(protectedReason ? { protectedReason } : {}),
    };
  }

  async disable(account: ResolvedAccount, guard: AttemptGuard): Promise<DisableOutcome> {
    const target = this.target(account);
    for (let attempt = 1; ; attempt++) {
      guard.signal.throwIfAborted();
      const before = await this.readState(target, account);
      if (isDisabled(before.uac)) return 'alreadyDisabled';
      // resolve() reports domain controllers and the engine stops there; this only guards against a caller
      // that skipped that check, at the cost of nothing (the value is read anyway).
      if (isDomainController(before.uac)) {
        throw permanentError(
          'protectedAccount',
          `${account.objectId} is a domain controller; nothing was changed`,
        );
      }
      if (await this.swapUac(guard, 'enabled', target, account, before, withDisabled(before.uac, true)))
        break;
      if (attempt === MAX_WRITE_ATTEMPTS) throw concurrentlyModified(account);
    }
    const after = await this.readState(target, account);
    if (!isDisabled(after.uac)) throw verificationFailed(account, 'is still enabled after the write');
    return 'disabled';
  }

  async enable(account: ResolvedAccount, guard: AttemptGuard): Promise<EnableOutcome> {
    const clearLockout = this.config.clearLockoutOnEnable ?? true;
    const target = this.target(account);
    for (let attempt = 1; ; attempt++) {
      guard.signal.throwIfAborted();
      const before = await this.readState(target, account);
      if (!isDisabled(before.uac)) return 'alreadyEnabled';
      // Lockout first: if the job dies between the two writes, the retry still sees a disabled account and
      // comes back here, instead of reporting alreadyEnabled with the lockout left in place. lockoutTime only
      // ever goes to 0 by hand, so a plain replace cannot undo someone else's change.
      if (clearLockout && before.lockoutTime !== '0') {
        await this.replace(guard, 'disabled', target, account, 'lockoutTime', '0');
      }
      if (await this.swapUac(guard, 'disabled', target, account, before, withDisabled(before.uac, false)))
        break;
      if (attempt === MAX_WRITE_ATTEMPTS) throw concurrentlyModified(account);
    }
    const after = await this.readState(target, account);
    if (isDisabled(after.uac)) throw verificationFailed(account, 'is still disabled after the write');
    if (clearLockout && after.lockoutTime !== '0')
      throw verificationFailed(account, 'is still locked out after the write');
    return 'enabled';
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  /**
   * Reads users under baseDN, then asks the DC which attributes the bind account may write on one of them
   * (`allowedAttributesEffective`, which the DC computes from the object's security descriptor for the caller):
   * userAccountControl, and lockoutTime unless clearLockoutOnEnable is false. Nothing is written.
   */
  test(): Promise<ProviderCheck[]> {
    let sample: string | null = null;
    const { baseDN } = this.config;
    return probeLdap(this.config, {
      read: async (client): Promise<ProbeResult> => {
        const { searchEntries } = await client.search(baseDN, {
          scope: 'sub',
          filter: ORDINARY_USERS,
          attributes: ['sAMAccountName', 'userPrincipalName'],
          sizeLimit: 10,
        });
        if (searchEntries.length === 0) {
          return {
            ok: false,
            message: `no user object is visible under ${baseDN}: there is none, or the service account may not read them`,
          };
        }
        const other = searchEntries.find(
          (e) => !this.isBindAccount(e.dn, first(e.sAMAccountName), first(e.userPrincipalName)),
        );
        sample = other?.dn ?? null;
        return { ok: true, message: `read user objects under ${baseDN} (e.g. ${searchEntries[0].dn})` };
      },
      change: async (client): Promise<ProbeResult> => {
        if (!sample) {
          return {
            ok: null,
            message: `no user under ${baseDN} other than the service account to check the rights on`,
          };
        }
        const { searchEntries } = await client.search(sample, {
          scope: 'base',
          filter: '(objectClass=user)',
          attributes: ['allowedAttributesEffective'],
        });
        const raw = searchEntries[0]?.allowedAttributesEffective;
        const writable = new Set(
          (Array.isArray(raw) ? raw : raw ? [raw] : []).map((a) => String(a).toLowerCase()),
        );
        const needed = [
          'userAccountControl',
          ...((this.config.clearLockoutOnEnable ?? true) ? ['lockoutTime'] : []),
        ];
        const missing = needed.filter((a) => !writable.has(a.toLowerCase()));
        if (missing.length === 0)
          return {
            ok: true,
            message: `may write ${needed.join(' and ')} of ${sample} (allowedAttributesEffective)`,
          };
        return {
          ok: false,
          message:
            `may not write ${missing.join(' or ')} of ${sample} (allowedAttributesEffective lists ${writable.size} ` +
            'attributes without it); delegate Read/Write userAccountControl and lockoutTime on user objects (docs/providers/active-directory.md)',
        };
      },
    });
  }

  /** Whether an entry is the account bindDN names, in any of the three forms AD accepts for a bind. */
  private isBindAccount(dn: string, sam: string | undefined, upn: string | undefined): boolean {
    const bind = this.config.bindDN;
    if (sameDn(dn, bind)) return true;
    if (upn && sameText(upn, bind)) return true;
    const downLevel = /^[^\\]+\\(.+)$/.exec(bind)?.[1];
    return !!sam && (sameText(sam, downLevel) || bind.toUpperCase().startsWith(`${sam.toUpperCase()}@`));
  }

  /** `<GUID=…>` finds the object wherever it has moved since resolve(); the DN is the fallback. */
  private target(account: ResolvedAccount): string {
    return /^<GUID=[0-9a-f-]{36}>$/i.test(account.objectRef) ? account.objectRef : account.objectId;
  }

  private readState(target: string, account: ResolvedAccount): Promise<ReadState> {
    return this.connection.use((client) => readState(client, target, account));
  }

  /**
   * Delete-old-value plus add-new-value in one modify is AD's compare-and-swap: the DC applies both or
   * neither, and refuses the delete (noSuchAttribute) when the value is no longer the one read. False means
   * exactly that, and the caller reads again.
   */
  private async swapUac(
    guard: AttemptGuard,
    stateBefore: AccountState,
    target: string,
    account: ResolvedAccount,
    before: ReadState,
    next: number,
  ): Promise<boolean> {
    try {
      await this.connection.write(guard, stateBefore, (client) =>
        client.modify(target, [
          new Change({
            operation: 'delete',
            modification: new Attribute({ type: 'userAccountControl', values: [before.uacRaw] }),
          }),
          new Change({
            operation: 'add',
            modification: new Attribute({ type: 'userAccountControl', values: [uacString(next)] }),
          }),
        ]),
      );
      return true;
    } catch (e) {
      if (isLdapResult(e, NO_SUCH_ATTRIBUTE)) {
        this.logger.info('userAccountControl changed since it was read; reading it again', {
          provider: this.id,
          dn: account.objectId,
        });
        return false;
      }
      if (isLdapResult(e, NO_SUCH_OBJECT)) throw gone(account);
      throw e;
    }
  }

  private async replace(
    guard: AttemptGuard,
    stateBefore: AccountState,
    target: string,
    account: ResolvedAccount,
    type: string,
    value: string,
  ): Promise<void> {
    try {
      await this.connection.write(guard, stateBefore, (client) =>
        client.modify(
          target,
          new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) }),
        ),
      );
    } catch (e) {
      throw isLdapResult(e, NO_SUCH_OBJECT) ? gone(account) : e;
    }
  }

  /** Which rule of CONTRACT §4.1 forbids disabling this account, or undefined. */
  private async protectedReason(facts: AdAccountFacts): Promise<string | undefined> {
    const builtIn = builtInProtection(facts);
    if (builtIn) return builtIn;
    if ((await this.bindAccountGuid()) === facts.guid) {
      return `it is the service account provider ${this.id} binds as (${this.config.bindDN})`;
    }
    const listed = listedEntry(this.protectedEntries.listed, facts);
    if (listed) return `${listed} is listed in protectedAccounts of provider ${this.id}`;
    const dn = await this.protectedDnMatch(`<GUID=${facts.guid}>`);
    return dn
      ? `it is, or is a member of, ${dn}, listed in protectedAccounts of provider ${this.id}`
      : undefined;
  }

  /**
   * The DN entry of protectedAccounts that is this account or a group it belongs to (at any depth), or null.
   * The DC compares the DNs, so case, spacing and escaping do not matter. One combined search answers the
   * usual "none"; only a match pays for finding out which entry it was.
   */
  private async protectedDnMatch(target: string): Promise<string | null> {
    const { dns } = this.protectedEntries;
    if (dns.length === 0) return null;
    // 1.2.840.113556.1.4.1941 is LDAP_MATCHING_RULE_IN_CHAIN: membership through nested groups at any depth,
    // evaluated by the DC. Membership through primaryGroupID alone is not in memberOf, so not seen here.
    const clause = (dn: string) =>
      escapeFilter`(|(distinguishedName=${dn})(memberOf:1.2.840.113556.1.4.1941:=${dn}))`;
    const matches = (filter: string) =>
      this.connection.use(async (client) => {
        const { searchEntries } = await client.search(target, { scope: 'base', filter, attributes: ['1.1'] });
        return searchEntries.length > 0;
      });
    if (!(await matches(`(|${dns.map(clause).join('')})`))) return null;
    for (const dn of dns) if (await matches(clause(dn))) return dn;
    return null;
  }

  /**
   * The objectGUID of the account this provider binds as, looked up once in the whole domain (the service
   * account usually lives outside baseDN). bindDN may be a DN, a UPN or DOMAIN\name, as AD accepts all three.
   */
  private bindAccountGuid(): Promise<string | null> {
    this.bindAccount ??= this.lookUpBindAccount().catch((e: unknown) => {
      this.bindAccount = null;
      throw e;
    });
    return this.bindAccount;
  }

  private async lookUpBindAccount(): Promise<string | null> {
    const bind = this.config.bindDN;
    let id: AccountIdentifier;
    try {
      id = parseAccountIdentifier(bind);
    } catch {
      id = { raw: bind, kind: 'name', value: bind };
    }
    const { domain } = await this.namingContexts();
    const find = async (filter: string) => {
      const entry = await this.connection.findUnique(
        domain,
        {
          filter: `(&(objectClass=user)${filter})`,
          attributes: ['objectGUID'],
          explicitBufferAttributes: ['objectGUID'],
        },
        bind,
        this.id,
      );
      return entry ? guidFromBytes(entry.objectGUID as Buffer) : null;
    };
    let guid: string | null = null;
    switch (id.kind) {
      case 'dn':
        guid = await find(escapeFilter`(distinguishedName=${id.value})`);
        break;
      case 'email': {
        guid = await find(escapeFilter`(userPrincipalName=${id.value})`);
        // AD also takes `sam@<DNS domain>` from an account whose userPrincipalName is empty or different.
        const [local, suffix] = splitAt(id.value);
        if (!guid && sameText(suffix, dnsNameOf(domain)))
          guid = await find(escapeFilter`(sAMAccountName=${local})`);
        break;
      }
      case 'downLevel': {
        // A trusted domain's account is not ours, however its name reads here.
        const ours = await this.netbios();
        if (ours === null || sameText(ours, id.domain))
          guid = await find(escapeFilter`(sAMAccountName=${id.value})`);
        break;
      }
      case 'name':
        guid = await find(escapeFilter`(sAMAccountName=${id.value})`);
        break;
      default:
        break;
    }
    if (!guid) {
      this.logger.warn(
        'the bind account was not found in the domain, so it cannot be recognised as protected',
        {
          provider: this.id,
          bindDN: bind,
        },
      );
    }
    return guid;
  }

  /**
   * A down-level name names an account only in the domain it names: `OTHER\jdoe` is not our jdoe. Without
   * our NetBIOS name there is no telling, and guessing could disable another domain's namesake.
   */
  private async isOurDomain(account: AccountIdentifier): Promise<boolean> {
    const ours = await this.netbios();
    if (ours === null) {
      this.logger.warn('DOMAIN\\name not resolved: the NetBIOS name of the domain is unknown', {
        provider: this.id,
        account: account.raw,
      });
      return false;
    }
    return sameText(ours, account.domain);
  }

  /**
   * Read once. A transient failure is passed on (the engine retries, and the next call reads again); a
   * permanent one (no rights on the configuration partition) leaves the name unknown for this process.
   */
  private netbios(): Promise<string | null> {
    this.netbiosName ??= this.readNetbiosName().catch((e: unknown) => {
      if (!(e instanceof DirectoryError) || e.transient) {
        this.netbiosName = null;
        throw e;
      }
      this.logger.warn('could not read the domain NetBIOS name; DOMAIN\\name identifiers will not resolve', {
        provider: this.id,
        error: e.message,
      });
      return null;
    });
    return this.netbiosName;
  }

  private async readNetbiosName(): Promise<string | null> {
    const { domain, configuration } = await this.namingContexts();
    const name = await this.connection.use(async (client) => {
      const { searchEntries } = await client.search(`CN=Partitions,${configuration}`, {
        scope: 'one',
        filter: escapeFilter`(&(objectClass=crossRef)(nCName=${domain})(nETBIOSName=*))`,
        attributes: ['nETBIOSName'],
      });
      return first(searchEntries[0]?.nETBIOSName) ?? null;
    });
    if (name === null) {
      this.logger.warn(
        'the domain has no readable crossRef with a NetBIOS name; DOMAIN\\name identifiers will not resolve',
        {
          provider: this.id,
        },
      );
    }
    return name;
  }

  private namingContexts(): Promise<NamingContexts> {
    this.naming ??= this.connection
      .use(async (client) => {
        const root = await client.search('', {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: ['defaultNamingContext', 'configurationNamingContext'],
        });
        const domain = first(root.searchEntries[0]?.defaultNamingContext);
        const configuration = first(root.searchEntries[0]?.configurationNamingContext);
        if (!domain || !configuration) {
          throw permanentError(
            DirectoryErrorCodes.notFound,
            'the root DSE names no default or configuration naming context',
          );
        }
        return { domain, configuration };
      })
      .catch((e: unknown) => {
        this.naming = null;
        throw e;
      });
    return this.naming;
  }
}

async function readState(client: Client, target: string, account: ResolvedAccount): Promise<ReadState> {
  try {
    const { searchEntries } = await client.search(target, {
      scope: 'base',
      filter: '(objectClass=user)',
      attributes: ['userAccountControl', 'lockoutTime'],
    });
    if (searchEntries.length === 0) throw gone(account);
    const uacRaw = first(searchEntries[0].userAccountControl);
    return {
      uacRaw: uacRaw ?? '',
      uac: parseUac(uacRaw),
      lockoutTime: first(searchEntries[0].lockoutTime) ?? '0',
    };
  } catch (e) {
    throw e instanceof NoSuchObjectError ? gone(account) : e;
  }
}

/** AD's userAccountControl syntax is a signed 32-bit integer. */
const uacString = (uac: number): string => String(uac | 0);

/** `DC=corp,DC=example` → `corp.example`. */
function dnsNameOf(domainDn: string): string {
  return domainDn
    .split(',')
    .map((rdn) => /^\s*DC=(.*)$/i.exec(rdn)?.[1]?.trim())
    .filter((label): label is string => !!label)
    .join('.');
}

function splitAt(address: string): [string, string] {
  const at = address.lastIndexOf('@');
  return [address.slice(0, at), address.slice(at + 1)];
}

const sameText = (a: string | undefined, b: string | undefined): boolean =>
  a !== undefined && b !== undefined && a.toUpperCase() === b.toUpperCase();

const gone = (account: ResolvedAccount) =>
  permanentError(DirectoryErrorCodes.notFound, `${account.objectId} no longer exists in the directory`);

const verificationFailed = (account: ResolvedAccount, what: string) =>
  permanentError(DirectoryErrorCodes.verificationFailed, `${account.objectId} ${what}`);

const concurrentlyModified = (account: ResolvedAccount) =>
  transientError(
    'concurrentModification',
    `userAccountControl of ${account.objectId} kept changing between read and write (${MAX_WRITE_ATTEMPTS} tries); nothing of ours was written`,
  );

function first(v: unknown): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined || x === null || x === '' ? undefined : String(x);
}
