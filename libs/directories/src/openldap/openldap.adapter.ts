import { Attribute, Change, Client, NoSuchObjectError } from 'ldapts';
import { OpenLdapProviderConfig } from '@app/config';
import { AccountIdentifier } from '@app/domain';
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
import { DirectoryErrorCodes, permanentError } from '../directory-error';
import {
  LdapConnection,
  ProbeResult,
  ProtectedEntries,
  escapeFilter,
  isLdapResult,
  parseProtectedEntries,
  PostReadControl,
  probeLdap,
  probeWriteRight,
  sameDn,
  sameIdentifier,
} from '../ldap';
import { ProviderCheck } from '../provider-check';
import { accountFilter, PERSON_FILTER } from './openldap-filter';

/** slapo-ppolicy(5): "permanently locked and may only be unlocked by an administrator". */
export const PERMANENT_LOCK = '000001010000Z';
const LOCK_ATTR = 'pwdAccountLockedTime';
const NO_SUCH_ATTRIBUTE = 16;
const CONSTRAINT_VIOLATION = 19;
const TYPE_OR_VALUE_EXISTS = 20;
const NO_SUCH_OBJECT = 32;
/** A lock value nothing sets (the epoch), deleted by the write-right probe only where it is absent. */
const PROBE_VALUE = '19700101000000Z';

/** What resolve() read of an entry, as the protection rules need it. */
interface EntryFacts {
  dn: string;
  uids: string[];
  mails: string[];
  uuid?: string;
}

/**
 * OpenLDAP with the ppolicy overlay: an account is disabled by the administrative lock value of
 * pwdAccountLockedTime and enabled by deleting the attribute. Every change is read back before it is reported,
 * through the post-read control of the modify itself.
 */
export class OpenLdapAdapter implements DirectoryAdapter {
  readonly kind = 'openLdap' as const;
  readonly id: string;
  private readonly connection: LdapConnection;
  private readonly protectedEntries: ProtectedEntries;

  constructor(
    private readonly config: OpenLdapProviderConfig,
    private readonly context: AdapterContext,
  ) {
    this.id = config.id;
    const method = config.disableMethod ?? 'ppolicy';
    if (method !== 'ppolicy')
      throw new Error(`provider ${config.id}: unknown disableMethod ${String(method)}`);
    this.protectedEntries = parseProtectedEntries(config.protectedAccounts, config.id);
    this.connection = LdapConnection.forProvider(config);
  }

  async resolve(account: AccountIdentifier, options?: ResolveOptions): Promise<ResolvedAccount | null> {
    const filter = accountFilter(account);
    if (!filter) return null;
    const entry = await this.connection.findUnique(
      this.config.baseDN,
      {
        filter,
        attributes: ['uid', 'mail', 'entryUUID', LOCK_ATTR],
      },
      account.raw,
      this.id,
    );
    if (!entry) return null;
    if (!namesThisEntry(account, values(entry.uid), values(entry.mail))) return null;
    const facts: EntryFacts = {
      dn: entry.dn,
      uids: values(entry.uid),
      mails: values(entry.mail),
      uuid: first(entry.entryUUID),
    };
    const identifiers = [entry.dn, ...facts.uids, ...facts.mails, ...(facts.uuid ? [facts.uuid] : [])];
    const protectedReason =
      options?.checkProtection === false ? undefined : await this.protectedReason(facts);
    return {
      objectId: entry.dn,
      // entryUUID survives renames and moves; a plain GUID string parses back to kind 'guid'.
      objectRef: facts.uuid ?? entry.dn,
      identifiers: [...new Set(identifiers)],
      disabled: first(entry[LOCK_ATTR]) === PERMANENT_LOCK,
      ...(protectedReason ? { protectedReason } : {}),
    };
  }

  async disable(account: ResolvedAccount, guard: AttemptGuard): Promise<DisableOutcome> {
    const dn = account.objectId;
    guard.signal.throwIfAborted();
    if (account.disabled === false) {
      // resolve() read no administrative lock, but before the engine's lease. Adding it checks that under the
      // lease, in the write itself: slapd refuses an add when a lock is there by now (20 this value, 19 a timed
      // one), so the add either locks an entry that held no lock or changes nothing.
      try {
        return this.locked(dn, await this.writeLock(guard, 'enabled', dn, 'add', [PERMANENT_LOCK]));
      } catch (e) {
        if (isLdapResult(e, TYPE_OR_VALUE_EXISTS)) {
          await guard.writeRefused('disabled');
          return 'alreadyDisabled';
        }
        // A timed lock (failed binds): read and replaced below.
        if (!isLdapResult(e, CONSTRAINT_VIOLATION)) throw e;
      }
    }
    if ((await this.readLock(dn)) === PERMANENT_LOCK) return 'alreadyDisabled';
    // Replace, not add: a timed lock left by failed binds (any other value) expires with pwdLockoutDuration,
    // so it is no disable; replacing it makes the lock permanent, and replace cannot race with such a lock.
    return this.locked(dn, await this.writeLock(guard, 'enabled', dn, 'replace', [PERMANENT_LOCK]));
  }

  async enable(account: ResolvedAccount, guard: AttemptGuard): Promise<EnableOutcome> {
    const dn = account.objectId;
    guard.signal.throwIfAborted();
    if (account.disabled === true) {
      // resolve() read the administrative lock, before the engine's lease. Deleting that very value checks it
      // under the lease, in the write itself: slapd refuses (16) when it is gone or another value replaced it.
      try {
        return this.unlocked(dn, await this.writeLock(guard, 'disabled', dn, 'delete', [PERMANENT_LOCK]));
      } catch (e) {
        if (!isLdapResult(e, NO_SUCH_ATTRIBUTE)) throw e;
        // No administrative lock by now (none, or a timed one): the account was not disabled.
        await guard.writeRefused('enabled');
      }
    }
    const lock = await this.readLock(dn);
    if (lock === null) return 'alreadyEnabled';
    let after: string | null;
    try {
      after = await this.writeLock(guard, lock === PERMANENT_LOCK ? 'disabled' : 'enabled', dn, 'delete', []);
    } catch (e) {
      // Someone (or a lock expiry) removed it between our read and our write: the read-back decides.
      if (!isLdapResult(e, NO_SUCH_ATTRIBUTE)) throw e;
      after = await this.readLock(dn);
    }
    return this.unlocked(dn, after);
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  /**
   * Reads accounts under baseDN, then checks the right to write pwdAccountLockedTime on one of them (not the
   * bind identity's own entry, whose ACL often differs) with a modify the server must refuse either way.
   */
  test(): Promise<ProviderCheck[]> {
    let sample: { dn: string; locks: string[] } | null = null;
    const { baseDN, bindDN } = this.config;
    return probeLdap(this.config, {
      read: async (client): Promise<ProbeResult> => {
        try {
          await client.search(baseDN, { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] });
        } catch (e) {
          if (!(e instanceof NoSuchObjectError)) throw e;
          return {
            ok: false,
            message: `baseDN ${baseDN} does not exist, or the bind identity may not see it`,
          };
        }
        const { searchEntries } = await client.search(baseDN, {
          scope: 'sub',
          filter: PERSON_FILTER,
          attributes: [LOCK_ATTR],
          sizeLimit: 10,
        });
        if (searchEntries.length === 0) {
          return {
            ok: false,
            message: `no account entry is visible under ${baseDN}: there is none, or the bind identity may not read them`,
          };
        }
        const other = searchEntries.find((e) => !sameDn(e.dn, bindDN));
        if (other) sample = { dn: other.dn, locks: values(other[LOCK_ATTR]) };
        return { ok: true, message: `read account entries under ${baseDN} (e.g. ${searchEntries[0].dn})` };
      },
      change: async (client): Promise<ProbeResult> => {
        if (!sample) {
          return {
            ok: null,
            message: `no account under ${baseDN} other than the bind identity's own to check the right on`,
          };
        }
        // The probe deletes a value the entry does not hold; pick one that it indeed does not.
        const absent = sample.locks.includes(PROBE_VALUE) ? '19700101000001Z' : PROBE_VALUE;
        return probeWriteRight(client, sample.dn, LOCK_ATTR, absent);
      },
    });
  }

  /** Which rule of CONTRACT §4.1 forbids disabling this entry, or undefined. */
  private async protectedReason(facts: EntryFacts): Promise<string | undefined> {
    const listed = this.protectedEntries.listed.find(({ id }) => names(id, facts));
    if (listed) return `${listed.entry} is listed in protectedAccounts of provider ${this.id}`;
    const { dns } = this.protectedEntries;
    // One search answers the usual "none of these DNs"; only a match pays for finding out which it was.
    if (await this.isOneOf(facts.dn, [this.config.bindDN, ...dns])) {
      if (await this.isOneOf(facts.dn, [this.config.bindDN])) {
        return `it is the identity provider ${this.id} binds as (${this.config.bindDN})`;
      }
      for (const dn of dns) {
        if (await this.isOneOf(facts.dn, [dn]))
          return `${dn} is listed in protectedAccounts of provider ${this.id}`;
      }
    }
    for (const dn of dns) {
      if (await this.groupLists(dn, facts)) {
        return `it is a member of ${dn}, listed in protectedAccounts of provider ${this.id}`;
      }
    }
    return undefined;
  }

  /** Whether one of `dns` names the entry at `entryDn`; slapd compares them (case, spacing, escapes). */
  private isOneOf(entryDn: string, dns: string[]): Promise<boolean> {
    const filter = `(|${dns.map((dn) => escapeFilter`(entryDN=${dn})`).join('')})`;
    return this.connection.use(async (client) => {
      const { searchEntries } = await client.search(entryDn, { scope: 'base', filter, attributes: ['1.1'] });
      return searchEntries.length > 0;
    });
  }

  /**
   * Whether the entry at `groupDn` lists the account directly, by DN (groupOfNames, groupOfUniqueNames) or by
   * uid (posixGroup). A group that does not exist, or that the bind identity cannot read, lists nobody.
   */
  private async groupLists(groupDn: string, facts: EntryFacts): Promise<boolean> {
    const byUid = facts.uids.map((uid) => escapeFilter`(memberUid=${uid})`).join('');
    const filter = escapeFilter`(|(member=${facts.dn})(uniqueMember=${facts.dn})` + byUid + ')';
    try {
      return await this.connection.use(async (client) => {
        const { searchEntries } = await client.search(groupDn, {
          scope: 'base',
          filter,
          attributes: ['1.1'],
        });
        return searchEntries.length > 0;
      });
    } catch (e) {
      if (!isLdapResult(e, NO_SUCH_OBJECT)) throw e;
      this.context.logger.warn('a group listed in protectedAccounts does not exist (or cannot be read)', {
        provider: this.id,
        group: groupDn,
      });
      return false;
    }
  }

  /**
   * One fenced modify of the lock; returns the lock as that modify left it, from the post-read control (a
   * read when the server returned none). slapd's refusals (16, 19, 20) reach the caller as DirectoryErrors.
   */
  private async writeLock(
    guard: AttemptGuard,
    stateBefore: AccountState,
    dn: string,
    operation: 'add' | 'replace' | 'delete',
    vals: string[],
  ): Promise<string | null> {
    const after = new PostReadControl([LOCK_ATTR]);
    try {
      await this.connection.write(guard, stateBefore, (client) =>
        client.modify(dn, new Change({ operation, modification: lockAttribute(vals) }), after),
      );
    } catch (e) {
      throw isLdapResult(e, NO_SUCH_OBJECT) ? gone(dn) : e;
    }
    const read = after.valuesOf(LOCK_ATTR);
    return read ? (read[0] ?? null) : this.readLock(dn);
  }

  private locked(dn: string, after: string | null): DisableOutcome {
    if (after !== PERMANENT_LOCK) {
      throw permanentError(
        DirectoryErrorCodes.verificationFailed,
        `${dn}: ${LOCK_ATTR} reads back as ${after ?? 'absent'} after the disable`,
      );
    }
    this.context.logger.info('account disabled', { provider: this.id, dn });
    return 'disabled';
  }

  private unlocked(dn: string, after: string | null): EnableOutcome {
    if (after !== null) {
      throw permanentError(
        DirectoryErrorCodes.verificationFailed,
        `${dn}: ${LOCK_ATTR} is still ${after} after the enable`,
      );
    }
    this.context.logger.info('account enabled', { provider: this.id, dn });
    return 'enabled';
  }

  /** The entry's pwdAccountLockedTime (operational, so named explicitly), or null when it is unlocked. */
  private async readLock(dn: string): Promise<string | null> {
    const entry = await this.connection.use(async (client: Client) => {
      try {
        const { searchEntries } = await client.search(dn, {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: [LOCK_ATTR],
        });
        return searchEntries[0] ?? null;
      } catch (e) {
        if (e instanceof NoSuchObjectError) return null;
        throw e;
      }
    });
    if (!entry) throw gone(dn);
    return first(entry[LOCK_ATTR]) ?? null;
  }
}

/** Whether a `protectedAccounts` entry other than a DN names this account, as resolve() would. */
function names(id: AccountIdentifier, facts: EntryFacts): boolean {
  switch (id.kind) {
    case 'guid':
      return sameIdentifier(id.value, facts.uuid);
    case 'email':
      return [...facts.mails, ...facts.uids].some((v) => sameIdentifier(id.value, v));
    // resolve() takes no DOMAIN\name here, but an administrator who listed one meant that uid: protecting it is
    // the safe reading.
    case 'name':
    case 'downLevel':
      return facts.uids.some((uid) => sameIdentifier(id.value, uid));
    default:
      return false;
  }
}

const gone = (dn: string) => permanentError(DirectoryErrorCodes.notFound, `${dn} no longer exists`);

function lockAttribute(vals: string[]): Attribute {
  return new Attribute({ type: LOCK_ATTR, values: vals });
}

type AttrValue = string | string[] | Buffer | Buffer[] | undefined;

function values(v: AttrValue): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => x.toString());
}

function first(v: AttrValue): string | undefined {
  return values(v)[0];
}

/**
 * slapd compares uid and mail with Unicode folding beyond case (width, compatibility forms): a look-alike of a
 * name would find that account. A name or address finds an entry only if the entry holds exactly that value,
 * ignoring case.
 */
function namesThisEntry(account: AccountIdentifier, uids: string[], mails: string[]): boolean {
  if (account.kind !== 'name' && account.kind !== 'email') return true;
  const wanted = account.value.toLowerCase();
  const held = account.kind === 'name' ? uids : [...uids, ...mails];
  return held.some((v) => v.toLowerCase() === wanted);
}
