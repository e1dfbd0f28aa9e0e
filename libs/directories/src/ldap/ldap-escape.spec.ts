import { escapeDnValue, escapeFilter } from './ldap-escape';

/** RFC 4514 §3 unescaping of one attribute value, to check that escaping loses nothing. */
function unescapeDnValue(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (s[i] === '\\') {
      bytes.push(...Buffer.from(s[++i]));
    } else {
      bytes.push(...Buffer.from(s[i]));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** True when `s` has one of RFC 4514's special characters without a backslash before it. */
function hasUnescapedSpecial(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') {
      i++;
      continue;
    }
    if (',+"<>;=\0'.includes(s[i])) return true;
  }
  return false;
}

describe('escapeDnValue (RFC 4514)', () => {
  it.each([
    ['jdoe', 'jdoe'],
    ['Doe, John', 'Doe\\, John'],
    ['a+b', 'a\\+b'],
    ['say "hi"', 'say \\"hi\\"'],
    ['<admin>', '\\<admin\\>'],
    ['a;b', 'a\\;b'],
    ['uid=x', 'uid\\=x'],
    ['back\\slash', 'back\\\\slash'],
    ['nul\0byte', 'nul\\00byte'],
    ['#hash', '\\#hash'],
    ['mid#hash', 'mid#hash'],
    [' lead', '\\ lead'],
    ['trail ', 'trail\\ '],
    ['in side', 'in side'],
    [' ', '\\ '],
    ['  ', '\\ \\ '],
    ['Jürgen', 'Jürgen'],
    ['', ''],
  ])('escapes %j as %j', (input, expected) => {
    expect(escapeDnValue(input)).toBe(expected);
  });

  it.each([
    'jdoe)(|(uid=*',
    ',ou=admins,dc=example,dc=org',
    'x\\,ou=admins',
    '\\2cou=admins',
    ' #,+"\\<>;= ',
    'multi\nline',
    '日本語, ok',
  ])('keeps %j one value that reads back unchanged', (input) => {
    const escaped = escapeDnValue(input);
    expect(hasUnescapedSpecial(escaped)).toBe(false);
    expect(escaped.startsWith(' ') || escaped.startsWith('#')).toBe(false);
    expect(/(^|[^\\]) $/.test(escaped)).toBe(false);
    expect(unescapeDnValue(escaped)).toBe(input);
  });
});

describe('escapeFilter (RFC 4515)', () => {
  it('escapes the filter metacharacters of interpolated strings', () => {
    expect(escapeFilter`(uid=${'*)(uid=*'})`).toBe('(uid=\\2a\\29\\28uid=\\2a)');
    expect(escapeFilter`(uid=${'jdoe)(|(uid=*'})`).toBe('(uid=jdoe\\29\\28|\\28uid=\\2a)');
    expect(escapeFilter`(cn=${'a\\2ab'})`).toBe('(cn=a\\5c2ab)');
    expect(escapeFilter`(cn=${'nul\0'})`).toBe('(cn=nul\\00)');
  });

  it('leaves the template text and harmless characters alone', () => {
    expect(escapeFilter`(&(objectClass=person)(mail=${'jdoe@example.org'}))`).toBe(
      '(&(objectClass=person)(mail=jdoe@example.org))',
    );
    expect(escapeFilter`(cn=${'Jürgen & co|=!~<>'})`).toBe('(cn=Jürgen & co|=!~<>)');
  });

  it('escapes every byte of a Buffer, for binary attributes such as objectGUID', () => {
    expect(escapeFilter`(objectGUID=${Buffer.from([0x00, 0x0f, 0x2a, 0xff])})`).toBe(
      '(objectGUID=\\00\\0f\\2a\\ff)',
    );
  });

  it('escapes each of several values on its own', () => {
    expect(escapeFilter`(|(mail=${'*'})(uid=${'('}))`).toBe('(|(mail=\\2a)(uid=\\28))');
  });
});
