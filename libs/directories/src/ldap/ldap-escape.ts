import { escapeFilter } from 'ldapts';

/**
 * RFC 4515 filter building: every interpolated string is escaped by ldapts. Not for binary values: ldapts
 * re-parses the filter string and sends bytes above 0x7f as UTF-8, so objectGUID/objectSid lookups must use
 * `new EqualityFilter({ attribute, value: buffer })` instead (see active-directory/ad-filters.ts).
 */
export { escapeFilter };

/**
 * RFC 4514 §2.4 escaping of one attribute value for use inside a DN we build (`uid=<value>,ou=…`).
 * Values that came back from the directory are already DNs and must not be passed through this.
 */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\0') out += '\\00';
    else if (',+"\\<>;='.includes(c)) out += '\\' + c;
    else if ((c === ' ' || c === '#') && i === 0) out += '\\' + c;
    else if (c === ' ' && i === value.length - 1) out += '\\ ';
    else out += c;
  }
  return out;
}
