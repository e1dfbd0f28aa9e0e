import { AccountIdentifier } from '@app/domain';
import { escapeFilter } from '../ldap';

/** Only person entries are accounts: a group or an OU with a matching `mail` or DN must never be locked. */
export const PERSON_FILTER = '(|(objectClass=inetOrgPerson)(objectClass=posixAccount)(objectClass=person))';

/**
 * The search filter that finds the account an identifier names, or null for identifier kinds OpenLDAP has
 * no attribute for (SIDs, Okta ids), so those cost no round trip.
 *
 * A down-level name (`CORP\jdoe`) is null too: OpenLDAP has no domains, so nothing can confirm that CORP is
 * this directory, and the jdoe of another domain must not be disabled here.
 *
 * A DN is matched through `entryDN` (RFC 5020) inside a subtree search under baseDN, rather than by searching
 * the DN itself: slapd then normalises the DN (case, spacing, escapes) and the scope check comes for free.
 */
export function accountFilter(id: AccountIdentifier): string | null {
  const v = id.value;
  let match: string;
  switch (id.kind) {
    case 'dn':
      match = escapeFilter`(entryDN=${v})`;
      break;
    case 'guid':
      match = escapeFilter`(entryUUID=${v})`;
      break;
    case 'email':
      // Many sites put the login name in uid as a full address; mail may also hold several addresses.
      match = escapeFilter`(|(mail=${v})(uid=${v}))`;
      break;
    case 'name':
      match = escapeFilter`(uid=${v})`;
      break;
    default:
      return null;
  }
  return `(&${PERSON_FILTER}${match})`;
}
