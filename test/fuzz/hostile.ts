import fc from 'fast-check';
import type { Door, WireRequest } from './fuzz-client';

/**
 * Generators of hostile input for the doors: bodies, identifiers, query strings, headers and Vision One
 * filters. Everything is sent as it comes out; the only constraint is what Node's HTTP client itself will put
 * on the wire (no control characters in header values, no spaces in the request target).
 */

/** What the generators name that only exists at run time: keys, and ids the API has answered with. */
export interface FuzzContext {
  keys: { admin: string; reader: string; writer: string; hooks: string };
  /** Grown as the fuzz runs, so later requests name real tasks and subscriptions. */
  taskIds: string[];
  subscriptionIds: string[];
  /** Provider ids configured in the engine under test. */
  providers: string[];
  /** Identifiers of real accounts the fuzz may name (the slapd phase); empty for the API-only phase. */
  accounts: string[];
}

const pick = <T>(pool: () => T[], fallback: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.tuple(fc.nat(), fallback).map(([i, f]) => {
    const p = pool();
    return p.length ? p[i % p.length] : f;
  });

// ---- strings ----

/** LDAP filter and DN injection, SQL/template noise, encodings and confusables (CONTRACT §9: RFC 4515/4514). */
export const INJECTIONS: readonly string[] = [
  '*',
  '**',
  '*)(uid=*',
  '*)(uid=*))(|(uid=*',
  'admin)(|(objectClass=*',
  'jdoe)(|(objectClass=*',
  '*)(|(objectClass=*',
  '*)(objectClass=*',
  ')(cn=*',
  '(&)',
  '(|)',
  '(!(uid=nobody))',
  'x)(!(uid=nobody)',
  '\\2a',
  '\\2A)(uid=\\2a',
  '\\00',
  '\\',
  '\\\\',
  'cn=x,dc=y\\',
  'cn=x,dc=y\\,',
  'cn=x\\,dc=y',
  'uid=*,ou=people,dc=example,dc=org',
  'uid=*)(uid=*,ou=people,dc=example,dc=org',
  'uid=a\\2a,ou=people,dc=example,dc=org',
  'uid=a+cn=b,ou=people,dc=example,dc=org',
  'CN=*,DC=corp,DC=test',
  'CN=*,CN=Users,DC=corp,DC=test',
  'CN=Administrator,CN=Users,DC=corp,DC=test)(cn=*',
  'distinguishedName=*',
  'entryDN=*',
  '1.3.6.1.4.1.1466.0=#04024869',
  '=x',
  'a=',
  ',,,',
  '<GUID=*>',
  '<GUID=>',
  '<GUID=00000000-0000-0000-0000-00000000000g>',
  '<SID=*>',
  '<SID=S-1-*>',
  '<SID=0105000000000005>',
  '<WKGUID=a9d1ca15768811d1aded00c04fd8d5cd,DC=corp,DC=test>',
  'CORP\\*',
  'CORP\\*)(sAMAccountName=*',
  '*\\*',
  '\\jdoe',
  'CORP\\',
  '*@*',
  '*@corp.example',
  '*)(mail=*@corp.example',
  'a*',
  'S-1-5-21-*',
  'S-1-5-21-1-2-3-500',
  'S-1-5-18',
  '00u*',
  '00uAAAAAAAAAAAAAAAAA',
  '" OR 1=1 --',
  "'; DROP TABLE tasks; --",
  "' OR ''='",
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%00',
  '%2a',
  '\u0000',
  'a\u0000b',
  'jdoe\u0000)(uid=*',
  '\u0007\u001b[31m',
  'admin\r\nX-Injected: 1',
  '\t',
  ' ',
  '',
  '\u00a0admin\u00a0',
  'ad\u200bmin',
  'аdmin', // Cyrillic а
  'ａｄｍｉｎ', // full-width
  'admin\u202e',
  '\u202egnp.exe',
  'Ädmin',
  'A\u0308dmin', // decomposed Ä
  'İ',
  'ß',
  'ﬁ',
  '\ufeffadmin',
  '\ud800',
  '\udfff',
  'a\ud800b',
  '😀',
  '🏳️‍🌈',
];

/** The full-width form (U+FF01-U+FF5E) of every visible ASCII character: a look-alike, not the same name. */
export function fullWidth(s: string): string {
  return s.replace(/[\x21-\x7e]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
}

const SPECIAL = '*()\\,=+<>#;"\'\u0000 \t\n@{}/%&|!~:.-_$`'.split('');
const specialSoup = fc.string({
  unit: fc.oneof(fc.constantFrom(...SPECIAL), fc.constantFrom(...'abcxyzUIDCN019'.split(''))),
  maxLength: 30,
});
const cjk = fc.integer({ min: 0x4e00, max: 0x9fff }).map((c) => String.fromCharCode(c));
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Strings of every kind: ASCII, any code point, graphemes, lone surrogates, syntax soup, injections glued on. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({
    unit: fc.oneof(loneSurrogate, fc.constantFrom('a', '\u0000', '\u001f', '\u007f')),
    maxLength: 8,
  }),
  specialSoup,
  fc
    .tuple(fc.constantFrom(...INJECTIONS), fc.string({ maxLength: 12 }), fc.constantFrom(...INJECTIONS))
    .map(([a, b, c]) => a + b + c),
);

/** Names at and past the 1,024-character limit, in 1-, 3- and 4-byte characters, and far past it. */
export function longString(max = 20_000): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: cjk, minLength: 1000, maxLength: 1024 }),
    fc.integer({ min: 1000, max: 1030 }).map((n) => 'a'.repeat(n)),
    fc.integer({ min: 1, max: 3 }).map((n) => '\u{1f600}'.repeat(511 + n)),
    fc.integer({ min: 1030, max }).map((n) => 'x'.repeat(n)),
    fc.constant(' '.repeat(1000) + 'jdoe' + ' '.repeat(1000)),
  );
}

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'.split('')), minLength: n, maxLength: n });

/** Identifier forms the engine accepts (CONTRACT §4), for accounts that do not exist here. */
export const wellFormedIdentifier: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => `{${u.toUpperCase()}}`),
  fc.uuid().map((u) => `<GUID=${u}>`),
  hex(32).map((h) => `<GUID=${h}>`),
  fc.array(fc.nat({ max: 4294967295 }), { minLength: 1, maxLength: 6 }).map((s) => `S-1-5-${s.join('-')}`),
  fc
    .array(fc.nat({ max: 4294967295 }), { minLength: 1, maxLength: 6 })
    .map((s) => `<SID=S-1-5-${s.join('-')}>`),
  fc.string({ minLength: 1, maxLength: 12 }).map((n) => `uid=${n},ou=people,dc=example,dc=org`),
  fc.string({ minLength: 1, maxLength: 12 }).map((n) => `CN=${n},CN=Users,DC=corp,DC=test`),
  fc.string({ minLength: 1, maxLength: 12 }).map((n) => `${n}@corp.example`),
  fc.string({ minLength: 1, maxLength: 12 }).map((n) => `CORP\\${n}`),
  fc
    .string({
      unit: fc.constantFrom(...'abcdefghABCDEFGH0123456789'.split('')),
      minLength: 17,
      maxLength: 17,
    })
    .map((s) => `00u${s}`),
  fc.stringMatching(/^[a-z][a-z0-9.-]{0,15}$/),
);

/** JSON values that are not strings. */
const nonString: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);

/** An account identifier: injections, well-formed ones, any string, long ones, non-strings, real ones. */
export function identifier(ctx: FuzzContext, longMax = 20_000): fc.Arbitrary<unknown> {
  const kinds: Array<fc.WeightedArbitrary<unknown>> = [
    { weight: 4, arbitrary: fc.constantFrom(...INJECTIONS) },
    { weight: 3, arbitrary: wellFormedIdentifier },
    { weight: 3, arbitrary: hostileString },
    { weight: 1, arbitrary: longString(longMax) },
    { weight: 1, arbitrary: nonString },
  ];
  if (ctx.accounts.length)
    kinds.push({ weight: 6, arbitrary: pick(() => ctx.accounts, fc.constant('nobody')) });
  return fc.oneof(...kinds);
}

// ---- JSON bodies, written as text so that they can hold what JSON.stringify never writes ----

/** A JSON text (or an unencoded piece of one) for a value slot. */
type JsonText = string;

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

/** Arrays and objects nested past any sane depth: 64 kB of brackets is over 10,000 levels. */
export const deepJson: fc.Arbitrary<JsonText> = fc.oneof(
  fc.integer({ min: 100, max: 30_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.integer({ min: 100, max: 12_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.integer({ min: 100, max: 10_000 }).map((n) => '[{"__proto__":'.repeat(n) + 'null' + '}]'.repeat(n)),
);

const anyJsonText: fc.Arbitrary<JsonText> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: deepJson },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '1e999',
      '-0',
      '123456789012345678901234567890',
      '"\\ud800"',
      '"\\u0000"',
      'true',
    ),
  },
);

/** A JSON text for a string slot: the value, or (less often) any other JSON. */
export const textOf = (arb: fc.Arbitrary<unknown>): fc.Arbitrary<JsonText> =>
  fc.oneof(
    { weight: 6, arbitrary: arb.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: anyJsonText },
  );

/**
 * A JSON object text with the given fields (each present or not) and, sometimes, fields that do not belong:
 * prototype-pollution keys, case and spacing variants, the same key twice.
 */
export function objectText(
  fields: Record<string, fc.Arbitrary<JsonText>>,
  opts: { required?: string[] } = {},
): fc.Arbitrary<JsonText> {
  const names = Object.keys(fields);
  const extraKey = fc.oneof(
    fc.constantFrom(...PROTO_KEYS),
    fc.constantFrom(...names.map((n) => n.toUpperCase()), ...names.map((n) => ` ${n}`), ''),
    fc.string({ maxLength: 10 }),
    fc.constantFrom(...names), // a duplicate of a known key: the last one wins in JSON.parse
  );
  const present = fc.tuple(
    ...names.map((n) => (opts.required?.includes(n) ? fc.constant(true) : fc.boolean())),
  );
  return fc
    .tuple(
      present,
      fc.tuple(...names.map((n) => fields[n])),
      fc.oneof(
        { weight: 4, arbitrary: fc.constant([] as Array<[string, JsonText]>) },
        { weight: 1, arbitrary: fc.array(fc.tuple(extraKey, anyJsonText), { minLength: 1, maxLength: 3 }) },
      ),
    )
    .map(([on, values, extras]) => {
      const pairs: string[] = [];
      names.forEach((n, i) => {
        if (on[i]) pairs.push(`${JSON.stringify(n)}:${values[i]}`);
      });
      for (const [k, v] of extras) pairs.push(`${JSON.stringify(k)}:${v}`);
      return `{${pairs.join(',')}}`;
    });
}

/** Bodies that are not JSON, or not quite. */
const notJson: fc.Arbitrary<string> = fc.constantFrom(
  '',
  '   ',
  'account=jdoe',
  '<account>jdoe</account>',
  "{'account':'jdoe'}",
  '{"account":"jdoe",}',
  '{"account":"jdoe"',
  '{"account":jdoe}',
  '[{"accountName":"jdoe"}',
  'NaN',
  'undefined',
  '{"account":"\\uZZZZ"}',
  '{"account":"\\x41"}',
  '\u0000',
  '{"account":"a"}\u0000',
  '{}{}',
);

/** How the body's text becomes bytes: UTF-8 (mostly), with a BOM, Latin-1, UTF-16, cut short, or bytes broken. */
export function encodeBody(text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> {
  const badBytes = fc.constantFrom(
    [0x80],
    [0xc0, 0xaf],
    [0xff],
    [0xfe, 0xff],
    [0xed, 0xa0, 0x80], // an encoded surrogate
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0xe2, 0x82],
    [0x00],
  );
  return fc.oneof(
    { weight: 12, arbitrary: text.map((t) => Buffer.from(t, 'utf8')) },
    {
      weight: 1,
      arbitrary: text.map((t) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(t, 'utf8')])),
    },
    { weight: 1, arbitrary: text.map((t) => Buffer.from(t, 'latin1')) },
    { weight: 1, arbitrary: text.map((t) => Buffer.from(t, 'utf16le')) },
    {
      weight: 2,
      arbitrary: fc.tuple(text, fc.nat(), badBytes).map(([t, at, bad]) => {
        const b = Buffer.from(t, 'utf8');
        const i = b.length ? at % b.length : 0;
        return Buffer.concat([b.subarray(0, i), Buffer.from(bad), b.subarray(i)]);
      }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(text, fc.nat()).map(([t, at]) => {
        const b = Buffer.from(t, 'utf8');
        return b.subarray(0, b.length ? at % b.length : 0);
      }),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: notJson.map((t) => Buffer.from(t, 'utf8')) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 65_000, max: 90_000 })
        .map((n) => Buffer.from(`{"account":"${'a'.repeat(n)}"}`)),
    },
  );
}

// ---- headers ----

/** Characters Node's HTTP client lets through in a header value: tab, visible ASCII, space, and 0x80-0xFF. */
const headerChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
  fc.constant('\t'),
);
export const headerValue = fc.string({ unit: headerChar, maxLength: 60 });

export const contentType: fc.Arbitrary<Array<[string, string]>> = fc.oneof(
  { weight: 14, arbitrary: fc.constant([['Content-Type', 'application/json']] as Array<[string, string]>) },
  {
    weight: 4,
    arbitrary: fc
      .constantFrom(
        'application/json; charset=utf-8',
        'application/json;charset=UTF-8',
        'application/json; charset=latin1',
        'application/json; charset=iso-8859-1',
        'application/json; charset=windows-1252',
        'application/json; charset=utf-16',
        'application/json; charset=utf-16le',
        'application/json; charset=ebcdic',
        'application/json; charset=',
        'application/json; charset="utf-8"',
        'application/merge-patch+json',
        'application/vnd.api+json',
        'text/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        '*/*',
        '',
        'application/json, text/plain',
      )
      .map((v) => [['Content-Type', v]] as Array<[string, string]>),
  },
  { weight: 1, arbitrary: fc.constant([] as Array<[string, string]>) },
  { weight: 1, arbitrary: headerValue.map((v) => [['Content-Type', v]] as Array<[string, string]>) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-garbage', 'gzip, gzip').map(
      (enc) =>
        [
          ['Content-Type', 'application/json'],
          ['Content-Encoding', enc],
        ] as Array<[string, string]>,
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constant([
      ['Content-Type', 'application/json'],
      ['Transfer-Encoding', 'chunked'],
    ] as Array<[string, string]>),
  },
);

/** `Authorization: Bearer <key>` mostly right, and every way of getting it wrong. */
export function bearer(ctx: FuzzContext): fc.Arbitrary<Array<[string, string]>> {
  const k = ctx.keys;
  const one = (v: string): Array<[string, string]> => [['Authorization', v]];
  return fc.oneof(
    { weight: 24, arbitrary: fc.constant(one(`Bearer ${k.admin}`)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        one(`Bearer ${k.reader}`),
        one(`Bearer ${k.writer}`),
        one(`Bearer ${k.hooks}`),
      ),
    },
    { weight: 1, arbitrary: fc.constant([] as Array<[string, string]>) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        one('Bearer'),
        one('Bearer '),
        one(`bearer ${k.admin}`),
        one(`BEARER   ${k.admin}   `),
        one('Basic YWRtaW46YWRtaW4='),
        one(`Bearer ${k.admin} extra`),
        one(`Bearer ${k.admin},Bearer ${k.admin}`),
        one('Bearer are_'),
        one(`Bearer ${k.admin.toUpperCase()}`),
        one(`Bearer ${k.admin.slice(0, -1)}`),
        one(`Bearer ${k.admin}\u00e9`),
        one(`Token ${k.admin}`),
        one(k.admin),
        one(`Bearer are_${'A'.repeat(300)}`),
        one(`Bearer are_${'x'.repeat(6_000)}`),
        one(`Bearer ${'\u00ff'.repeat(3_000)}`),
        [
          ['Authorization', `Bearer ${k.admin}`],
          ['Authorization', 'Bearer are_bogus'],
        ],
        [
          ['Authorization', 'Bearer are_bogus'],
          ['Authorization', `Bearer ${k.admin}`],
        ],
        [['Adm-Authorization', k.admin]],
        [['Adm-Authorization', 'are_bogus']],
      ),
    },
    { weight: 1, arbitrary: headerValue.map((v) => one(v)) },
    { weight: 1, arbitrary: headerValue.map((v) => one(`Bearer ${v}`)) },
  );
}

/** `Adm-Authorization: <key>` for the Adaxes-style door, right and wrong. */
export function admAuthorization(ctx: FuzzContext): fc.Arbitrary<Array<[string, string]>> {
  const k = ctx.keys;
  const one = (v: string): Array<[string, string]> => [['Adm-Authorization', v]];
  return fc.oneof(
    { weight: 24, arbitrary: fc.constant(one(k.admin)) },
    { weight: 1, arbitrary: fc.constantFrom(one(k.reader), one(k.writer), one(k.hooks)) },
    { weight: 1, arbitrary: fc.constant([] as Array<[string, string]>) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        one(''),
        one('   '),
        one(`Bearer ${k.admin}`),
        one(`  ${k.admin}  `),
        one(`${k.admin} ${k.admin}`),
        one(`are_${'x'.repeat(6_000)}`),
        [['Authorization', `Bearer ${k.admin}`]],
        [
          ['Adm-Authorization', k.admin],
          ['Adm-Authorization', 'are_bogus'],
        ],
        [
          ['Adm-Authorization', 'are_bogus'],
          ['Authorization', `Bearer ${k.admin}`],
        ],
      ),
    },
    { weight: 1, arbitrary: headerValue.map((v) => one(v)) },
  );
}

/** Idempotency-Key: mostly absent; a few fixed keys (so replays and mismatches happen), and bad ones. */
export const idempotencyKey: fc.Arbitrary<Array<[string, string]>> = fc.oneof(
  { weight: 10, arbitrary: fc.constant([] as Array<[string, string]>) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.constantFrom('fuzz-key-1', 'fuzz-key-2', '"fuzz-key-3"'), fc.uuid())
      .map((v) => [['Idempotency-Key', v]] as Array<[string, string]>),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          '',
          ' ',
          '""',
          '"',
          'a b',
          'x'.repeat(256),
          'x'.repeat(255),
          '\u00e9t\u00e9',
          '"a"b"',
          'a\t',
        ),
        headerValue,
      )
      .map((v) => [['Idempotency-Key', v]] as Array<[string, string]>),
  },
  {
    weight: 1,
    arbitrary: fc.constant([
      ['Idempotency-Key', 'fuzz-key-1'],
      ['Idempotency-Key', 'fuzz-key-2'],
    ] as Array<[string, string]>),
  },
);

/** Headers nobody asked for: a huge request id, a forwarded host, a method override, cookies. */
export const strayHeaders: fc.Arbitrary<Array<[string, string]>> = fc.oneof(
  { weight: 8, arbitrary: fc.constant([] as Array<[string, string]>) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Array<[string, string]>>(
      [['X-Request-Id', 'r'.repeat(2_000)]],
      [['X-Request-Id', '\u00ff\u00fe']],
      [['X-Forwarded-Host', 'evil.example']],
      [['X-Forwarded-Proto', 'javascript']],
      [['X-HTTP-Method-Override', 'DELETE']],
      [['Cookie', 'session=x; __proto__=y']],
      [['Accept', 'text/html']],
      [['Accept-Charset', 'ebcdic']],
      [['Range', 'bytes=0-1']],
      [['Host', 'evil.example']],
      [['Host', '[::1']],
      [['Host', 'x'.repeat(500)]],
    ),
  },
  { weight: 1, arbitrary: headerValue.map((v) => [['X-Request-Id', v]] as Array<[string, string]>) },
);

// ---- paths and query strings ----

/** A path segment: a real id, a UUID, or something no route expects, percent-encoded or not quite. */
export function segment(pool: () => string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: pick(pool, fc.uuid()) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.uuid().map((u) => u.toUpperCase()) },
    { weight: 1, arbitrary: fc.uuid().map((u) => encodeURIComponent(`{${u}}`)) },
    {
      weight: 2,
      arbitrary: hostileString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'not-a-uuid',
        '%00',
        '%',
        '%zz',
        '%ED%A0%80',
        '%C0%AF',
        '..',
        '%2e%2e',
        '%2F',
        '%252F',
        '0',
        '-1',
        '9223372036854775808',
        'null',
        'undefined',
        '__proto__',
        'constructor',
        '00000000-0000-0000-0000-000000000000',
        'ffffffff-ffff-ffff-ffff-ffffffffffff',
        '00000000-0000-4000-8000-000000000000%00',
        'x'.repeat(4_000),
        '%C3%A9',
        '%FF',
      ),
    },
  );
}

/** How one query value is written: encoded properly, or with raw `%` sequences a decoder chokes on. */
function queryValue(value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const safe = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'));
  return fc.oneof(
    { weight: 8, arbitrary: value.map(safe) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(value, fc.constantFrom('%00', '%', '%zz', '%ED%A0%80', '%FF', '+', '%2B', '&', '=', '%u0041'))
        .map(([v, raw]) => safe(v) + raw),
    },
  );
}

/** A query string from (name, value) pairs: names repeat, arrays and objects in qs syntax, junk names. */
export function queryString(params: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const names = Object.keys(params);
  const pair = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(...names).chain((n) => queryValue(params[n]).map((v) => `${n}=${v}`)),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...names).chain((n) => queryValue(params[n]).map((v) => `${n}[]=${v}`)),
    },
    { weight: 1, arbitrary: fc.constantFrom(...names).map((n) => `${n}[a][b]=1`) },
    { weight: 1, arbitrary: fc.constantFrom(...names).map((n) => n) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom('__proto__', 'constructor', 'prototype', '', '%00', 'x'.repeat(300)),
          queryValue(hostileString),
        )
        .map(([n, v]) => `${n}=${v}`),
    },
  );
  // Node refuses a request whose header section passes 16 kB before the application sees it (431, no body):
  // that is checked on its own, so here the URL stays well below.
  return fc
    .array(pair, { maxLength: 6 })
    .map((pairs) => (pairs.length ? `?${pairs.join('&')}` : '').slice(0, 6_000));
}

/** Date-times: good ones, and bad ones (years 0 and past 9999, impossible days, no zone, not dates at all). */
export const dateTime: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '2026-11-20T09:00:00Z',
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00Z',
    '0001-01-01T00:00:00+00:01',
    '0001-01-01T00:30:00+01:00',
    '9999-12-31T23:59:59Z',
    '9999-12-31T23:59:59-00:01',
    '9999-12-31T23:30:00-01:00',
    '10000-01-01T00:00:00Z',
    '+275760-09-13T00:00:00Z',
    '+275760-09-13T00:00:00.001Z',
    '-271821-04-20T00:00:00Z',
    '-000001-01-01T00:00:00Z',
    '-200000-01-01T00:00:00.000Z',
    '2021-02-30T00:00:00Z',
    '2021-02-29T00:00:00Z',
    '2020-02-29T00:00:00Z',
    '2021-13-01T00:00:00Z',
    '2021-00-01T00:00:00Z',
    '2021-04-05T24:00:00Z',
    '2021-04-05T23:60:00Z',
    '2021-04-05T23:59:60Z',
    '2021-04-05',
    '2021-04-05T00:00:00',
    '2021-04-05T00:00:00.1234567890Z',
    '2021-04-05T00:00:00+24:00',
    '2021-04-05T00:00:00+99:99',
    'yesterday',
    'now',
    '0',
    '-1',
    '1e400',
    '8640000000000001',
    '',
    ' ',
    'NaN',
    'Infinity',
    '2021-04-05T00:00:00Z\u0000',
    '２０２１-04-05T00:00:00Z',
    'Tue, 05 Apr 2021 00:00:00 GMT',
    '1 BC',
  ),
  fc
    .tuple(
      fc.integer({ min: -300_000, max: 300_000 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 61 }),
      fc.constantFrom('Z', '+00:00', '-23:59', '+14:00', '', 'z', '+1'),
    )
    .map(([y, mo, d, h, mi, z]) => {
      const p = (n: number, w = 2) => String(n).padStart(w, '0');
      const year = y < 0 ? `-${p(-y, 6)}` : y > 9999 ? `+${p(y, 6)}` : p(y, 4);
      return `${year}-${p(mo)}-${p(d)}T${p(h)}:${p(mi)}:00${z}`;
    }),
  fc
    .date({ noInvalidDate: false })
    .map((d) => (Number.isNaN(d.getTime()) ? 'Invalid Date' : d.toISOString())),
);

/**
 * An opaque `created|id` paging cursor as the API hands it out (base64url), re-made with any date in the
 * range a JavaScript Date can hold: most of them outside the years 1 to 9999.
 */
export const forgedCursor: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      dateTime,
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    ),
    fc.uuid(),
  )
  .map(([d, id]) => Buffer.from(`${d}|${id}`).toString('base64url'));

/** Numbers as a query string writes them, and things that look like numbers. */
export const numberish: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: -5, max: 300 }).map(String),
  fc.constantFrom(
    '50',
    '100',
    '200',
    '1e2',
    '50.0',
    ' 50',
    '50 ',
    '0x32',
    '０',
    '1e400',
    '-0',
    'NaN',
    '',
    '9'.repeat(400),
  ),
);

// ---- Vision One filters ----

const FIELD = fc.constantFrom('id', 'status', 'action', 'account', 'Status', 'createdBy', 'accountName', '');
const FILTER_VALUE = fc.oneof(
  fc.constantFrom(
    'queued',
    'running',
    'succeeded',
    'failed',
    'canceled',
    'disableAccount',
    'enableAccount',
    'isolate',
    'test-admin',
  ),
  fc.uuid(),
  hostileString,
  fc.string({ unit: cjk, maxLength: 300 }),
);
const quoted = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** Filters that follow the grammar (CONTRACT §6), nested to a bounded depth. */
const grammarFilter: fc.Arbitrary<string> = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(FIELD, FILTER_VALUE).map(([f, v]) => `${f} eq ${quoted(v)}`),
    fc.array(tie('expr'), { minLength: 2, maxLength: 4 }).map((xs) => xs.join(' and ')),
    fc.array(tie('expr'), { minLength: 2, maxLength: 4 }).map((xs) => xs.join(' or ')),
    tie('expr').map((x) => `not ${x}`),
    tie('expr').map((x) => `(${x})`),
  ),
})).expr;

const TOKENS = [
  'eq',
  'ne',
  'gt',
  'and',
  'or',
  'not',
  'AND',
  'Or',
  '(',
  ')',
  "'",
  "''",
  "'''",
  '"',
  'id',
  'status',
  'action',
  'account',
  "'running'",
  "'disableAccount'",
  ' ',
  '\t',
  '\u0000',
  '\\',
  '%',
  '*',
  ',',
  'eq eq',
  'true',
  'null',
  '1',
];

/** Token soup from the grammar's words, broken grammar, and the bounds (length, comparisons, depth). */
export const filterString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: grammarFilter },
  {
    weight: 4,
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom(...TOKENS), FILTER_VALUE.map(quoted), fc.string({ maxLength: 6 })), {
        maxLength: 40,
      })
      .chain((ts) => fc.constantFrom(' ', '', '  ').map((sep) => ts.join(sep))),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(grammarFilter, fc.nat(), fc.constantFrom("'", '(', ')', ' ', 'x', '', "''"))
      .map(([f, at, ins]) => {
        const i = f.length ? at % (f.length + 1) : 0;
        return f.slice(0, i) + ins + f.slice(i + (at % 2));
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '('.repeat(32) + "status eq 'running'" + ')'.repeat(32),
      '('.repeat(33) + "status eq 'running'" + ')'.repeat(33),
      'not '.repeat(33) + "status eq 'running'",
      '('.repeat(2_000) + "status eq 'running'" + ')'.repeat(2_000),
      'not '.repeat(1_000) + "status eq 'running'",
      Array.from({ length: 200 }, () => "status eq 'running'").join(' or '),
      Array.from({ length: 201 }, () => "status eq 'running'").join(' or '),
      Array.from({ length: 201 }, () => "id eq 'x'").join(' and '),
      `account eq '${'a'.repeat(4_080)}'`,
      `account eq '${'a'.repeat(5_000)}'`,
      `account eq '${"''".repeat(1_000)}'`,
      "account eq 'a\u0000b'",
      "account eq '\ud800'",
      "id eq '00000000-0000-0000-0000-000000000000' or id eq 'not-a-uuid'",
    ),
  },
);

/** `?dryRun=` on a create: mostly absent; true and false; and what is neither (CONTRACT §5 dry run). */
export const dryRunQuery: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.constantFrom('?dryRun=true', '?dryRun=false') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '?dryRun=1',
      '?dryRun=TRUE',
      '?dryRun',
      '?dryRun=',
      '?dryRun=true&dryRun=true',
      '?dryRun=true&dryRun=false',
      '?dryRun[]=true',
      '?dryRun[a]=true',
      '?dryRun=true%00',
      '?dryrun=true',
    ),
  },
);

// ---- requests, door by door ----

const tasksPool = (ctx: FuzzContext) => () => ctx.taskIds;
const METHODS = fc.constantFrom('PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'GET', 'POST', 'TRACE');

interface Shape {
  door: Door;
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body?: Buffer;
}

const merge = (...hs: Array<Array<[string, string]>>) => ([] as Array<[string, string]>).concat(...hs);

function post(
  door: Door,
  path: fc.Arbitrary<string>,
  auth: fc.Arbitrary<Array<[string, string]>>,
  body: fc.Arbitrary<Buffer>,
  extra: fc.Arbitrary<Array<[string, string]>> = fc.constant([]),
): fc.Arbitrary<WireRequest> {
  return fc.record({ path, auth, body, type: contentType, extra, stray: strayHeaders }).map((r): Shape => ({
    door,
    method: 'POST',
    path: r.path,
    headers: merge(r.auth, r.type, r.extra, r.stray),
    body: r.body,
  }));
}

function get(
  door: Door,
  path: fc.Arbitrary<string>,
  auth: fc.Arbitrary<Array<[string, string]>>,
): fc.Arbitrary<WireRequest> {
  return fc
    .record({ path, auth, stray: strayHeaders })
    .map((r): Shape => ({ door, method: 'GET', path: r.path, headers: merge(r.auth, r.stray) }));
}

/** Any method on a door's path, a body or none: unknown routes and methods answer in the door's shape too. */
function odd(door: Door, path: fc.Arbitrary<string>, auth: fc.Arbitrary<Array<[string, string]>>) {
  return fc
    .record({
      method: METHODS,
      path,
      auth,
      body: fc.option(encodeBody(anyJsonText), { nil: undefined }),
      type: contentType,
    })
    .map((r): Shape => ({
      door,
      method: r.method,
      path: r.path,
      headers: merge(r.auth, r.body === undefined ? [] : r.type),
      // A HEAD or GET with a body is legal HTTP but not what clients send; keep bodies to the other methods.
      body: r.method === 'HEAD' || r.method === 'GET' || r.method === 'TRACE' ? undefined : r.body,
    }));
}

const description = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.integer({ min: 1990, max: 2010 }).map((n) => 'd'.repeat(n)) },
  { weight: 1, arbitrary: fc.string({ unit: cjk, minLength: 1990, maxLength: 2001 }) },
  { weight: 1, arbitrary: nonString },
);

const callbackUrl = fc.oneof(
  fc.constantFrom(
    'https://soar.example/hook',
    'https://soar.example/hook?token=abc',
    'http://127.0.0.1:1/cb',
    'http://169.254.169.254/latest/meta-data',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'gopher://127.0.0.1:6379/_FLUSHALL',
    'https://user:pass@soar.example/',
    '//soar.example/x',
    'https://soar.example/' + 'a'.repeat(3_000),
    'https://例え.jp/',
    'http://[::1]/',
    'http://0x7f.1/',
    'https://soar.example/\u0000',
    'not a url',
  ),
  fc.webUrl().map(String),
  nonString,
);

export function nativeRequest(ctx: FuzzContext): fc.Arbitrary<WireRequest> {
  const auth = bearer(ctx);
  const account = textOf(identifier(ctx));
  const providers = textOf(
    fc.oneof(
      fc.subarray(ctx.providers),
      fc.array(
        fc.oneof(
          fc.constantFrom(...ctx.providers),
          hostileString,
          fc.constant(ctx.providers[0].toUpperCase()),
        ),
        { maxLength: 3 },
      ),
      nonString,
    ),
  );
  const disableBody = objectText(
    { account, description: textOf(description), providers, callbackUrl: textOf(callbackUrl) },
    { required: ['account'] },
  );
  const enableBody = objectText(
    { account, description: textOf(description), callbackUrl: textOf(callbackUrl) },
    { required: ['account'] },
  );
  const fromBody = objectText({ description: textOf(description), callbackUrl: textOf(callbackUrl) });
  // Bulk bodies (issue #10): a few accounts of every hostile kind, or something that is not a list at all.
  const accounts = textOf(
    fc.oneof(fc.array(identifier(ctx, 2_000), { minLength: 0, maxLength: 12 }), nonString),
  );
  const bulkDisableBody = objectText(
    { accounts, description: textOf(description), providers, callbackUrl: textOf(callbackUrl) },
    { required: ['accounts'] },
  );
  const bulkEnableBody = objectText(
    { accounts, description: textOf(description), callbackUrl: textOf(callbackUrl) },
    { required: ['accounts'] },
  );
  const seg = segment(tasksPool(ctx));
  const listQuery = queryString({
    action: fc.oneof(fc.constantFrom('disableAccount', 'enableAccount', 'DisableAccount'), hostileString),
    status: fc.oneof(
      fc.constantFrom('inProgress', 'successful', 'partiallySuccessful', 'unsuccessful'),
      hostileString,
    ),
    account: identifier(ctx, 3_000).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))),
    q: fc.oneof(hostileString, longString(3_000)),
    createdAfter: dateTime,
    createdBefore: dateTime,
    limit: numberish,
    cursor: fc.oneof(
      forgedCursor,
      fc.tuple(dateTime, hostileString).map(([d, id]) => Buffer.from(`${d}|${id}`).toString('base64url')),
      hostileString,
      fc.constantFrom('%%%', '====', 'fA', ''),
    ),
  });
  return fc.oneof(
    {
      weight: 5,
      arbitrary: post(
        'native',
        dryRunQuery.map((q) => `/api/v1/tasks/disable-account${q}`),
        auth,
        encodeBody(disableBody),
        idempotencyKey,
      ),
    },
    {
      weight: 3,
      arbitrary: post(
        'native',
        dryRunQuery.map((q) => `/api/v1/tasks/enable-account${q}`),
        auth,
        encodeBody(enableBody),
        idempotencyKey,
      ),
    },
    {
      weight: 2,
      arbitrary: post(
        'native',
        dryRunQuery.map((q) => `/api/v1/tasks/disable-accounts${q}`),
        auth,
        encodeBody(bulkDisableBody),
        idempotencyKey,
      ),
    },
    {
      weight: 2,
      arbitrary: post(
        'native',
        dryRunQuery.map((q) => `/api/v1/tasks/enable-accounts${q}`),
        auth,
        encodeBody(bulkEnableBody),
        idempotencyKey,
      ),
    },
    {
      weight: 1,
      arbitrary: get(
        'native',
        seg.map((s) => `/api/v1/batches/${s}`),
        auth,
      ),
    },
    {
      weight: 2,
      arbitrary: post(
        'native',
        fc.tuple(seg, dryRunQuery).map(([s, q]) => `/api/v1/tasks/${s}/enable${q}`),
        auth,
        encodeBody(fromBody),
        idempotencyKey,
      ),
    },
    {
      weight: 1,
      arbitrary: post(
        'native',
        seg.map((s) => `/api/v1/tasks/${s}/cancel`),
        auth,
        encodeBody(anyJsonText),
        idempotencyKey,
      ),
    },
    {
      weight: 2,
      arbitrary: get(
        'native',
        seg.map((s) => `/api/v1/tasks/${s}`),
        auth,
      ),
    },
    {
      weight: 4,
      arbitrary: get(
        'native',
        listQuery.map((q) => `/api/v1/tasks${q}`),
        auth,
      ),
    },
    {
      weight: 1,
      arbitrary: get(
        'native',
        seg.map((s) => `/api/v1/tasks/${s}/events`),
        auth,
      ),
    },
    { weight: 1, arbitrary: get('native', fc.constant('/api/v1/providers'), auth) },
    {
      weight: 1,
      arbitrary: post(
        'native',
        fc
          .oneof(
            fc.constantFrom(...ctx.providers),
            segment(() => []),
          )
          .map((p) => `/api/v1/providers/${p}/test`),
        auth,
        encodeBody(anyJsonText),
      ),
    },
    {
      weight: 1,
      arbitrary: odd(
        'native',
        fc.oneof(
          fc.constantFrom(
            '/api/v1/tasks',
            '/api/v1/providers',
            '/api/v1/tasks/disable-account',
            '/api/v1/nothing',
            '/api/v1/',
            '/api/v2/tasks',
            '/health/live',
            '/health/ready',
            '/',
          ),
          seg.map((s) => `/api/v1/tasks/${s}/events`),
        ),
        auth,
      ),
    },
  );
}

export function visionOneRequest(ctx: FuzzContext): fc.Arbitrary<WireRequest> {
  const auth = bearer(ctx);
  const item = objectText(
    { accountName: textOf(identifier(ctx)), description: textOf(description) },
    { required: ['accountName'] },
  );
  const batch = fc.oneof(
    { weight: 8, arbitrary: fc.array(item, { minLength: 1, maxLength: 3 }).map((xs) => `[${xs.join(',')}]`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '[]',
        '{}',
        '[null]',
        '[[]]',
        '["jdoe"]',
        '[1]',
        '[{}]',
        '[{"accountName":null}]',
      ),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1_001, max: 1_200 }).map((n) => `[${Array(n).fill('{}').join(',')}]`),
    },
    { weight: 1, arbitrary: item },
    { weight: 1, arbitrary: anyJsonText },
  );
  const seg = segment(tasksPool(ctx));
  const listQuery = queryString({
    filter: filterString,
    top: numberish,
    startDateTime: dateTime,
    endDateTime: dateTime,
    dateTimeTarget: fc.oneof(
      fc.constantFrom('createdDateTime', 'lastActionDateTime', 'CreatedDateTime'),
      hostileString,
    ),
    skipToken: fc.oneof(
      fc
        .constantFrom(
          '1',
          '0',
          '-1',
          '9223372036854775807',
          '9223372036854775808',
          '99999999999999999999',
          '01',
          ' 1',
        )
        .map((s) => Buffer.from(`seq:${s}`).toString('base64url')),
      fc.constantFrom('c2VxOjE', 'c2VxOjE=', 'c2VxOjE==', '%%%', ''),
      hostileString,
    ),
  });
  const prefix = fc.constantFrom('/v3.0/response', '/V3.0/Response');
  return fc.oneof(
    {
      weight: 5,
      arbitrary: post(
        'visionOne',
        fc
          .tuple(prefix, fc.constantFrom('disable', 'enable', 'Disable'), dryRunQuery)
          .map(([p, a, q]) => `${p}/domainAccounts/${a}${q}`),
        auth,
        encodeBody(batch),
        idempotencyKey,
      ),
    },
    {
      weight: 2,
      arbitrary: get(
        'visionOne',
        seg.map((s) => `/v3.0/response/tasks/${s}`),
        auth,
      ),
    },
    {
      weight: 5,
      arbitrary: get(
        'visionOne',
        listQuery.map((q) => `/v3.0/response/tasks${q}`),
        auth,
      ),
    },
    {
      weight: 1,
      arbitrary: odd(
        'visionOne',
        fc.oneof(
          fc.constantFrom(
            '/v3.0/response/tasks',
            '/v3.0/response/domainAccounts/disable',
            '/v3.0/response/nothing',
            '/v3.0/',
            '/v3.0/xdr/response/tasks',
          ),
          seg.map((s) => `/v3.0/response/tasks/${s}/x`),
        ),
        auth,
      ),
    },
  );
}

/** Adm-Wait values: garbage (a 400 before anything is created), and waits of about nothing. */
const admWaitShort = fc.oneof(
  fc.constantFrom('0', '0.0', ' 0 ', '000', '0.001', '0.000'),
  fc.constantFrom(
    '',
    ' ',
    '-1',
    '1e3',
    '0x10',
    '5s',
    'NaN',
    'Infinity',
    '1.2345',
    '1,5',
    '\u00b3',
    '0.0.0',
    '99999999999',
  ),
  headerValue.filter((v) => !/^\s*\d{1,9}(\.\d{1,3})?\s*$/.test(v) || /^\s*0*(\.0*)?\s*$/.test(v)),
);

export function adaxesRequest(ctx: FuzzContext): fc.Arbitrary<WireRequest> {
  const auth = admAuthorization(ctx);
  const base = fc.constantFrom('/restApi/api', '/restapi/api', '/RESTAPI/API', '/restApi/api/');
  const action = fc.constantFrom('disable', 'enable', 'DISABLE');
  const objectField = textOf(identifier(ctx));
  const body = objectText({ directoryObject: objectField }, { required: ['directoryObject'] });
  // A body with a field Adaxes does not know is a 400 whatever else it says: safe to send with a long wait.
  const refusedBody = objectText(
    { directoryObject: objectField, extra: textOf(hostileString) },
    { required: ['extra'] },
  );
  const singleQuoted = fc
    .tuple(identifier(ctx), fc.boolean())
    .map(
      ([id, spaced]) =>
        `{${spaced ? ' ' : ''}'directoryObject'${spaced ? ' ' : ''}:'${(typeof id === 'string' ? id : JSON.stringify(id)).replace(/'/g, "\\'")}'}`,
    );
  const wait = (values: fc.Arbitrary<string>) =>
    values.map((v) => [['Adm-Wait', v]] as Array<[string, string]>);
  const longWait = fc.oneof(
    fc.constant([] as Array<[string, string]>),
    wait(fc.constantFrom('5', '300', '301', '999999999', '1.5')),
    fc.constant([
      ['Adm-Wait', '0'],
      ['Adm-Wait', '5'],
    ] as Array<[string, string]>),
  );
  const seg = segment(tasksPool(ctx));
  const path = fc
    .tuple(base, action, dryRunQuery)
    .map(([b, a, q]) => `${b.replace(/\/$/, '')}/directoryObjects/account/${a}${q}`);
  return fc.oneof(
    {
      weight: 6,
      arbitrary: post(
        'adaxes',
        path,
        auth,
        encodeBody(fc.oneof({ weight: 4, arbitrary: body }, { weight: 1, arbitrary: singleQuoted })),
        wait(admWaitShort),
      ),
    },
    {
      weight: 2,
      arbitrary: post('adaxes', path, auth, encodeBody(refusedBody), fc.oneof(longWait, wait(admWaitShort))),
    },
    // Windows PowerShell 5.1: ISO-8859-1 bytes, no charset named.
    {
      weight: 1,
      arbitrary: fc
        .record({ path, auth, id: identifier(ctx), w: wait(admWaitShort) })
        .map((r): WireRequest => ({
          door: 'adaxes',
          method: 'POST',
          path: r.path,
          headers: merge(r.auth, [['Content-Type', 'application/json']], r.w),
          body: Buffer.from(JSON.stringify({ directoryObject: r.id }), 'latin1'),
        })),
    },
    {
      weight: 2,
      arbitrary: get(
        'adaxes',
        fc.tuple(base, seg).map(([b, s]) => `${b.replace(/\/$/, '')}/runningOperations/${s}`),
        auth,
      ),
    },
    {
      weight: 1,
      arbitrary: odd(
        'adaxes',
        fc.oneof(
          fc.constantFrom(
            '/restApi/api/directoryObjects/account',
            '/restApi/api/nothing',
            '/restApi/',
            '/restApi/api/runningOperations',
          ),
          seg.map((s) => `/restApi/api/runningOperations/${s}/x`),
        ),
        auth,
      ),
    },
  );
}

const webhookUrl = fc.oneof(
  fc.constantFrom(
    'https://hooks.example.com/x',
    'https://hooks.example.com/x?token=t',
    'https://u:p@hooks.example.com/',
    'http://127.0.0.1/',
    'http://localhost/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://169.254.169.254/latest/meta-data/',
    'http://0x7f.1/',
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://10.0.0.1/',
    'http://[fe80::1%25eth0]/',
    'http://[fd00:ec2::254]/',
    'ftp://hooks.example.com/',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'https://hooks.example.com/' + 'a'.repeat(2_100),
    'https://例え.jp/',
    'https://xn--r8jz45g.jp/',
    'https://hooks.example.com:99999/',
    'https://hooks.example.com/#frag',
    '',
  ),
  fc.webUrl().map(String),
  hostileString,
  nonString,
);
const EVENTS = ['task.created', 'task.targetUpdated', 'task.completed'];
const events = fc.oneof(
  fc.subarray(EVENTS),
  fc.array(fc.oneof(fc.constantFrom(...EVENTS, 'task.*', '*', 'Task.Created'), hostileString), {
    maxLength: 4,
  }),
  nonString,
);
const whsec = fc.oneof(
  fc
    .integer({ min: 20, max: 70 })
    .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))
    .map((b) => `whsec_${Buffer.from(b).toString('base64')}`),
  fc.constantFrom('whsec_', 'whsec_!!!!', 'whsec_' + 'A'.repeat(10_000), 'secret', ''),
  hostileString,
  nonString,
);

export function webhooksRequest(ctx: FuzzContext): fc.Arbitrary<WireRequest> {
  const auth = bearer(ctx);
  const seg = segment(() => ctx.subscriptionIds);
  const createBody = objectText(
    { url: textOf(webhookUrl), events: textOf(events), secret: textOf(whsec) },
    { required: ['url', 'events'] },
  );
  const rotateBody = objectText({ secret: textOf(whsec) });
  const deliveries = queryString({
    subscriptionId: fc.oneof(fc.uuid(), hostileString),
    taskId: fc.oneof(pick(tasksPool(ctx), fc.uuid()), hostileString),
    status: fc.oneof(fc.constantFrom('pending', 'delivered', 'failed'), hostileString),
    limit: numberish,
    cursor: fc.oneof(forgedCursor, hostileString),
  });
  return fc.oneof(
    { weight: 4, arbitrary: post('webhooks', fc.constant('/api/v1/webhooks'), auth, encodeBody(createBody)) },
    { weight: 1, arbitrary: get('webhooks', fc.constant('/api/v1/webhooks'), auth) },
    {
      weight: 2,
      arbitrary: get(
        'webhooks',
        seg.map((s) => `/api/v1/webhooks/${s}`),
        auth,
      ),
    },
    {
      weight: 1,
      arbitrary: fc.record({ s: seg, auth }).map((r): WireRequest => ({
        door: 'webhooks',
        method: 'DELETE',
        path: `/api/v1/webhooks/${r.s}`,
        headers: r.auth,
      })),
    },
    {
      weight: 2,
      arbitrary: post(
        'webhooks',
        seg.map((s) => `/api/v1/webhooks/${s}/rotate-secret`),
        auth,
        encodeBody(rotateBody),
      ),
    },
    {
      weight: 3,
      arbitrary: get(
        'webhooks',
        deliveries.map((q) => `/api/v1/webhooks/deliveries${q}`),
        auth,
      ),
    },
    {
      weight: 1,
      arbitrary: post(
        'webhooks',
        segment(() => []).map((s) => `/api/v1/webhooks/deliveries/${s}/redeliver`),
        auth,
        encodeBody(anyJsonText),
      ),
    },
    {
      weight: 1,
      arbitrary: odd(
        'webhooks',
        fc.constantFrom('/api/v1/webhooks', '/api/v1/webhooks/deliveries', '/api/v1/webhooks/x/y/z'),
        auth,
      ),
    },
  );
}

/**
 * Requests that get past every check, so that tasks really are created (the slapd phase): the real key,
 * JSON, and mostly the identifiers of real accounts or injections around them, at every door that creates.
 */
export function taskRequest(ctx: FuzzContext): fc.Arbitrary<WireRequest> {
  const id = fc.oneof(
    { weight: 3, arbitrary: pick(() => ctx.accounts, fc.constant('nobody')) },
    { weight: 1, arbitrary: identifier(ctx) },
  );
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const headers: Array<[string, string]> = [
    ['Authorization', `Bearer ${ctx.keys.admin}`],
    ['Content-Type', 'application/json'],
  ];
  const action = fc.constantFrom('disable', 'enable');
  return fc.oneof(
    fc.tuple(id, action).map(([account, a]): WireRequest => ({
      door: 'native',
      method: 'POST',
      path: `/api/v1/tasks/${a}-account`,
      headers,
      body: json({ account }),
    })),
    fc.tuple(fc.array(id, { minLength: 1, maxLength: 3 }), action).map(([accounts, a]): WireRequest => ({
      door: 'visionOne',
      method: 'POST',
      path: `/v3.0/response/domainAccounts/${a}`,
      headers,
      body: json(accounts.map((accountName) => ({ accountName }))),
    })),
    fc.tuple(id, action).map(([directoryObject, a]): WireRequest => ({
      door: 'adaxes',
      method: 'POST',
      path: `/restApi/api/directoryObjects/account/${a}`,
      headers: [
        ['Adm-Authorization', ctx.keys.admin],
        ['Content-Type', 'application/json'],
        ['Adm-Wait', '0'],
      ],
      body: json({ directoryObject }),
    })),
    pick(tasksPool(ctx), fc.uuid()).map((taskId): WireRequest => ({
      door: 'native',
      method: 'POST',
      path: `/api/v1/tasks/${taskId}/enable`,
      headers,
      body: json({}),
    })),
  );
}

/** Remembers the ids the API answered with, so later requests name real tasks and subscriptions. */
export function learn(ctx: FuzzContext, req: WireRequest, res: { status: number; json: unknown }): void {
  const j = res.json as Record<string, unknown> | unknown[] | undefined;
  const add = (pool: string[], id: unknown) => {
    if (typeof id === 'string' && pool.length < 500 && !pool.includes(id)) pool.push(id);
  };
  if (req.door === 'native' && res.status === 202 && j && !Array.isArray(j)) add(ctx.taskIds, j.id);
  if (req.door === 'adaxes' && res.status === 202 && j && !Array.isArray(j)) add(ctx.taskIds, j.operationId);
  if (req.door === 'webhooks' && res.status === 201 && j && !Array.isArray(j)) add(ctx.subscriptionIds, j.id);
  if (req.door === 'visionOne' && res.status === 207 && Array.isArray(j)) {
    for (const item of j as Array<{ headers?: Array<{ value?: string }> }>) {
      const loc = item.headers?.[0]?.value;
      if (typeof loc === 'string') add(ctx.taskIds, loc.split('/').pop());
    }
  }
}
