import { Attribute, Change, Client, NoSuchObjectError } from 'ldapts';
import { OpenLdapProviderConfig } from '@app/config';
import { AccountIdentifier } from '@app/domain';
import { AdapterContext } from '../adapter-context';
import { DirectoryAdapter, DisableOutcome, EnableOutcome, ResolvedAccount } from '../directory-adapter';
import { DirectoryError, DirectoryErrorCodes, permanentError } from '../directory-error';
import { LdapConnection } from '../ldap';
import { accountFilter } from './openldap-filter';

/** slapo-ppolicy(5): "permanently locked and may only be unlocked by an administrator". */
export const PERMANENT_LOCK = '000001010000Z';
const LOCK_ATTR = 'pwdAccountLockedTime';
const NO_SUCH_ATTRIBUTE = 'ldapResult16';

/**
 * OpenLDAP with the ppolicy overlay: an account is disabled by the administrative lock value of
 * pwdAccountLockedTime and enabled by deleting the attribute. Every change is read back before it is reported.
 */
export class OpenLdapAdapter implements DirectoryAdapter {
  readonly kind = 'openLdap' as const;
  readonly id: string;
  private readonly connection: LdapConnection;

  constructor(
    private readonly config: OpenLdapProviderConfig,
    private readonly context: AdapterContext,
  ) {
    this.id = config.id;
    const method = config.disableMethod ?? 'ppolicy';
    if (method !== 'ppolicy')
      throw new Error(`provider ${config.id}: unknown disableMethod ${String(method)}`);
    this.connection = LdapConnection.forProvider(config);
  }

  async resolve(account: AccountIdentifier): Promise<ResolvedAccount | null> {
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
    const uuid = first(entry.entryUUID);
    const identifiers = [entry.dn, ...values(entry.uid), ...values(entry.mail), ...(uuid ? [uuid] : [])];
    return {
      objectId: entry.dn,
      // entryUUID survives renames and moves; a plain GUID string parses back to kind 'guid'.
      objectRef: uuid ?? entry.dn,
      identifiers: [...new Set(identifiers)],
      disabled: first(entry[LOCK_ATTR]) === PERMANENT_LOCK,
    };
  }

  async disable(account: ResolvedAccount): Promise<DisableOutcome> {
    const dn = account.objectId;
    if ((await this.readLock(dn)) === PERMANENT_LOCK) return 'alreadyDisabled';
    // Replace, not add: a timed lock left by failed binds (any other value) expires with pwdLockoutDuration,
    // so it is no disable; replacing it makes the lock permanent, and replace cannot race with such a lock.
    await this.connection.use((client) =>
      client.modify(dn, new Change({ operation: 'replace', modification: lockAttribute([PERMANENT_LOCK]) })),
    );
    const after = await this.readLock(dn);
    if (after !== PERMANENT_LOCK) {
      throw permanentError(
        DirectoryErrorCodes.verificationFailed,
        `${dn}: ${LOCK_ATTR} reads back as ${after ?? 'absent'} after the disable`,
      );
    }
    this.context.logger.info('account disabled', { provider: this.id, dn });
    return 'disabled';
  }

  async enable(account: ResolvedAccount): Promise<EnableOutcome> {
    const dn = account.objectId;
    if ((await this.readLock(dn)) === null) return 'alreadyEnabled';
    try {
      await this.connection.use((client) =>
        client.modify(dn, new Change({ operation: 'delete', modification: lockAttribute([]) })),
      );
    } catch (e) {
      // Someone (or a lock expiry) removed it between our read and our write: the read-back decides.
      if (!(e instanceof DirectoryError && e.code === NO_SUCH_ATTRIBUTE)) throw e;
    }
    const after = await this.readLock(dn);
    if (after !== null) {
      throw permanentError(
        DirectoryErrorCodes.verificationFailed,
        `${dn}: ${LOCK_ATTR} is still ${after} after the enable`,
      );
    }
    this.context.logger.info('account enabled', { provider: this.id, dn });
    return 'enabled';
  }

  close(): Promise<void> {
    return this.connection.close();
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
    if (!entry) throw permanentError(DirectoryErrorCodes.notFound, `${dn} no longer exists`);
    return first(entry[LOCK_ATTR]) ?? null;
  }
}

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
