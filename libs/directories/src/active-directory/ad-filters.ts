import { AndFilter, EqualityFilter, Filter, FilterParser } from 'ldapts';
import { AccountIdentifier, guidToBytes, sidToBytes } from '@app/domain';
import { escapeFilter } from '../ldap';

/**
 * Only accounts that can sign in: users (objectCategory person, which without objectClass=user would also
 * take contacts) and computers (whose objectClass chain includes user too).
 */
export const ACCOUNT_FILTER = '(&(objectClass=user)(|(objectCategory=person)(objectCategory=computer)))';

/**
 * The LDAP filter that finds the account an identifier names, or null when the form cannot name an AD
 * object (an Okta id). Every value is escaped (RFC 4515); GUID and SID are matched on their binary form,
 * which is how AD stores them (the GUID's first three fields little-endian).
 */
export function accountFilter(id: AccountIdentifier): Filter | null {
  const match = matchFilter(id);
  if (match === null) return null;
  return new AndFilter({
    filters: [
      FilterParser.parseString(ACCOUNT_FILTER),
      typeof match === 'string' ? FilterParser.parseString(match) : match,
    ],
  });
}

/**
 * Binary values go in as filter objects, not as escaped text: ldapts parses `\xx` escapes of a filter string
 * back into UTF-16 characters and sends them UTF-8 encoded, which corrupts every byte above 0x7f.
 */
function matchFilter(id: AccountIdentifier): string | Filter | null {
  switch (id.kind) {
    case 'dn':
      // Matched as an attribute rather than used as the search base, so the server compares DNs by their
      // meaning (case, spacing, escapes) and the object must lie under the configured baseDN.
      return escapeFilter`(distinguishedName=${id.value})`;
    case 'guid':
      return new EqualityFilter({ attribute: 'objectGUID', value: guidToBytes(id.value) });
    case 'sid':
      return new EqualityFilter({ attribute: 'objectSid', value: sidToBytes(id.value) });
    case 'email':
      return escapeFilter`(|(userPrincipalName=${id.value})(mail=${id.value}))`;
    case 'downLevel':
      return escapeFilter`(sAMAccountName=${id.value})`;
    case 'name':
      // A computer's sAMAccountName ends in `$`, which administrators usually leave out (`PC01` for `PC01$`).
      return id.value.endsWith('$')
        ? escapeFilter`(sAMAccountName=${id.value})`
        : escapeFilter`(|(sAMAccountName=${id.value})(sAMAccountName=${id.value + '$'}))`;
    default:
      return null;
  }
}
