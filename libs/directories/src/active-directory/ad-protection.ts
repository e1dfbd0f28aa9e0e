import { AccountIdentifier } from '@app/domain';
import { ProtectedEntries, sameIdentifier } from '../ldap';
import { isDomainController } from './user-account-control';

/** What resolve() read of an account, as the protection rules need it. */
export interface AdAccountFacts {
  guid: string;
  sid: string;
  sam?: string;
  upn?: string;
  mail?: string;
  uac: number;
  /** This domain's NetBIOS name, null when it could not be read. */
  netbios: string | null;
}

/** The KDC's account is RID 502; an RODC's own KDC account is `krbtgt_<number>`. */
export function isKrbtgt(facts: Pick<AdAccountFacts, 'sid' | 'sam'>): boolean {
  return /^S-1-5-21-\d+-\d+-\d+-502$/i.test(facts.sid) || /^krbtgt(_.*)?$/i.test(facts.sam ?? '');
}

/** The rule of CONTRACT §4.1 that needs no further directory read, or null. */
export function builtInProtection(facts: AdAccountFacts): string | null {
  if (isDomainController(facts.uac)) {
    return `it is a domain controller's computer account (userAccountControl 0x${facts.uac.toString(16)})`;
  }
  if (isKrbtgt(facts)) return 'it is a krbtgt account (the Kerberos key distribution account)';
  return null;
}

/** The `protectedAccounts` entry (other than a DN) that names this account, or null. */
export function listedEntry(listed: ProtectedEntries['listed'], facts: AdAccountFacts): string | null {
  return listed.find(({ id }) => names(id, facts))?.entry ?? null;
}

function names(id: AccountIdentifier, facts: AdAccountFacts): boolean {
  switch (id.kind) {
    case 'guid':
      return id.value === facts.guid;
    case 'sid':
      return sameIdentifier(id.value, facts.sid);
    case 'email':
      return sameIdentifier(id.value, facts.upn) || sameIdentifier(id.value, facts.mail);
    case 'name':
      return namesSam(id.value, facts.sam);
    case 'downLevel':
      // With the NetBIOS name unknown the domain part cannot be checked; protecting one account too many is
      // the safe mistake here.
      return (
        namesSam(id.value, facts.sam) && (facts.netbios === null || sameIdentifier(id.domain, facts.netbios))
      );
    default:
      return false;
  }
}

/** As resolve() does, `PC01` names the computer `PC01$`. */
function namesSam(name: string, sam: string | undefined): boolean {
  return sameIdentifier(name, sam) || (!!sam?.endsWith('$') && sameIdentifier(name, sam.slice(0, -1)));
}
