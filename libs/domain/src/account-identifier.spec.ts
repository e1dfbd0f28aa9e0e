import { DomainError } from './domain-error';
import {
  guidFromBytes,
  guidToBytes,
  keysOfIdentifiers,
  matchKeys,
  parseAccountIdentifier,
  sidFromBytes,
  sidToBytes,
} from './account-identifier';

describe('parseAccountIdentifier (CONTRACT §4 identifier forms)', () => {
  it('keeps a whole surrogate pair (an emoji is a character like any other)', () => {
    expect(parseAccountIdentifier('jdoe\ud83d\ude00').raw).toBe('jdoe\u{1F600}');
  });

  it.each([
    ['jdoe@corp.example', 'email', 'jdoe@corp.example'],
    ['CORP\\jdoe', 'downLevel', 'jdoe'],
    ['jdoe', 'name', 'jdoe'],
    ['CN=John Smith,CN=Users,DC=example,DC=com', 'dn', 'CN=John Smith,CN=Users,DC=example,DC=com'],
    ['uid=jdoe,ou=people,dc=example,dc=org', 'dn', 'uid=jdoe,ou=people,dc=example,dc=org'],
    ['CN=Smith\\, John,OU=Staff,DC=corp,DC=example', 'dn', 'CN=Smith\\, John,OU=Staff,DC=corp,DC=example'],
    ['7A4267CE-D354-44E7-8BD6-C681F1284A41', 'guid', '7a4267ce-d354-44e7-8bd6-c681f1284a41'],
    ['{7a4267ce-d354-44e7-8bd6-c681f1284a41}', 'guid', '7a4267ce-d354-44e7-8bd6-c681f1284a41'],
    ['<GUID=7a4267ce-d354-44e7-8bd6-c681f1284a41>', 'guid', '7a4267ce-d354-44e7-8bd6-c681f1284a41'],
    [
      'S-1-5-21-3635565734-1729062999-1822655016-1627',
      'sid',
      'S-1-5-21-3635565734-1729062999-1822655016-1627',
    ],
    ['<SID=S-1-5-21-1-2-3-500>', 'sid', 'S-1-5-21-1-2-3-500'],
    ['00ub0oNGTSWTBKOLGLNR', 'oktaId', '00ub0oNGTSWTBKOLGLNR'],
    ['  jdoe  ', 'name', 'jdoe'],
  ])('reads %s as %s', (input, kind, value) => {
    const id = parseAccountIdentifier(input);
    expect(id.kind).toBe(kind);
    expect(id.value).toBe(value);
  });

  it('keeps the NetBIOS domain of a down-level name', () => {
    expect(parseAccountIdentifier('corp\\jdoe').domain).toBe('CORP');
  });

  it('reads a binary SID given as hex, alone or in <SID=…>', () => {
    const hex = sidToBytes('S-1-5-21-3635565734-1729062999-1822655016-1627').toString('hex');
    expect(parseAccountIdentifier(hex)).toMatchObject({
      kind: 'sid',
      value: 'S-1-5-21-3635565734-1729062999-1822655016-1627',
    });
    expect(parseAccountIdentifier(`<SID=${hex}>`).value).toBe(
      'S-1-5-21-3635565734-1729062999-1822655016-1627',
    );
  });

  it.each([
    [''],
    ['   '],
    ['a\u0000b'],
    ['x'.repeat(1025)],
    ['a@b@c'],
    ['<GUID=nope>'],
    ['<SID=S-1-x>'],
    // Lone surrogates: what a broken client sends for half an emoji; PostgreSQL cannot store them.
    ['jdoe\udc66'],
    ['\ud83djdoe'],
    [42],
    [null],
  ])('rejects %p with a 400 invalidAccount', (input) => {
    const attempt = () => parseAccountIdentifier(input);
    expect(attempt).toThrow(DomainError);
    try {
      attempt();
    } catch (e) {
      expect(e).toMatchObject({ httpStatus: 400, code: 'invalidAccount' });
    }
  });

  it('treats filter metacharacters as part of a plain name (the adapters escape them)', () => {
    expect(parseAccountIdentifier('*)(sAMAccountName=*')).toMatchObject({
      kind: 'name',
      value: '*)(sAMAccountName=*',
    });
  });

  it('bounds an identifier by its UTF-8 bytes, so multibyte names cannot overflow an index entry', () => {
    expect(parseAccountIdentifier('a'.repeat(1024)).kind).toBe('name');
    expect(() => parseAccountIdentifier('a'.repeat(1025))).toThrow(
      expect.objectContaining({ code: 'invalidAccount' }),
    );
    // 700 characters, 2,100 bytes: PostgreSQL's b-tree would refuse it as a key.
    expect(() => parseAccountIdentifier('€'.repeat(700))).toThrow(
      expect.objectContaining({ code: 'invalidAccount' }),
    );
  });

  it('refuses look-alikes that directories fold to plain letters, and keeps composed or decomposed accents', () => {
    for (const lookAlike of ['ｊｄｏｅ', '𝐣𝐝𝐨𝐞', 'ⓙⓓⓞⓔ', 'fzloc\u212Aed']) {
      expect(() => parseAccountIdentifier(lookAlike)).toThrow(
        expect.objectContaining({ code: 'invalidAccount' }),
      );
    }
    expect(parseAccountIdentifier('Jürgen').value).toBe('Jürgen');
    expect(parseAccountIdentifier('Ju\u0308rgen').kind).toBe('name');
  });

  it('gives case-insensitive match keys that carry their kind', () => {
    expect(matchKeys(parseAccountIdentifier('CORP\\JDoe'))).toEqual(['downlevel:corp\\jdoe']);
    expect(matchKeys(parseAccountIdentifier('JDoe@Corp.Example'))).toEqual(['email:jdoe@corp.example']);
    expect(matchKeys(parseAccountIdentifier('jdoe'))).toEqual(['name:jdoe']);
    expect(matchKeys(parseAccountIdentifier('CN=J Doe , OU=People,DC=corp'))).toEqual([
      'dn:cn=j doe,ou=people,dc=corp',
    ]);
  });

  it('never lets a down-level name match another domain or the bare name (CONTRACT §4.1)', () => {
    const corp = matchKeys(parseAccountIdentifier('CORP\\jdoe'));
    for (const other of ['LAB\\jdoe', 'NOSUCHDOMAIN\\jdoe', 'jdoe']) {
      expect(matchKeys(parseAccountIdentifier(other)).some((k) => corp.includes(k))).toBe(false);
    }
  });

  it('keys what a directory reports, dropping values that are no identifier', () => {
    expect(
      keysOfIdentifiers([
        'CN=jdoe,DC=corp',
        'CORP\\jdoe',
        'jdoe',
        'S-1-5-21-1-2-3-1104',
        '',
        'a\\b\\c',
      ]).sort(),
    ).toEqual(['dn:cn=jdoe,dc=corp', 'downlevel:corp\\jdoe', 'name:jdoe', 'sid:s-1-5-21-1-2-3-1104']);
  });
});

describe('GUID and SID byte orders', () => {
  it('writes objectGUID with the first three fields little-endian, and reads it back', () => {
    const guid = '7a4267ce-d354-44e7-8bd6-c681f1284a41';
    const bytes = guidToBytes(guid);
    expect(bytes.toString('hex')).toBe('ce67427a54d3e7448bd6c681f1284a41');
    expect(guidFromBytes(bytes)).toBe(guid);
  });

  it('round-trips a SID through its binary form (MS-DTYP 2.4.2.2)', () => {
    const sid = 'S-1-5-21-3635565734-1729062999-1822655016-1627';
    const bytes = sidToBytes(sid);
    expect(bytes[0]).toBe(1);
    expect(bytes[1]).toBe(5);
    expect(sidFromBytes(bytes)).toBe(sid);
  });
});
