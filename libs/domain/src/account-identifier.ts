import { badRequest } from './domain-error';

/**
 * The account identifier forms of CONTRACT §4. A GUID may be an AD objectGUID, an OpenLDAP entryUUID or an
 * Entra object id; which one it is only the directory can say, so parsing stops at the form.
 */
export type IdentifierKind = 'dn' | 'guid' | 'sid' | 'email' | 'downLevel' | 'oktaId' | 'name';

export interface AccountIdentifier {
  /** As the caller wrote it (trimmed). */
  readonly raw: string;
  readonly kind: IdentifierKind;
  /** Canonical value: lower-case GUID without braces, `S-1-…` SID, the DN as given, the bare name. */
  readonly value: string;
  /** The NetBIOS domain of a down-level name (`CORP` in `CORP\jdoe`). */
  readonly domain?: string;
}

export const MAX_ACCOUNT_LENGTH = 1024;

const GUID = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i;
const SID = /^S-1-\d{1,15}(-\d{1,10}){1,15}$/i;
const HEX = /^(?:[0-9a-f]{2})+$/i;
const OKTA_ID = /^00u[A-Za-z0-9]{17}$/;
const EMAIL = /^[^@\s\\]+@[^@\s\\]+\.[^@\s\\]+$/;
const DOWN_LEVEL = /^([^\\/:*?"<>|,=@\s][^\\/:*?"<>|,=@]{0,14})\\([^\\]+)$/;
// An attribute type (name or OID) followed by '=' starts an RFC 4514 DN.
const DN_START = /^\s*(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)\s*=/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Half of a UTF-16 surrogate pair on its own: not a character, and no database or directory can store it. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function parseAccountIdentifier(input: unknown): AccountIdentifier {
  if (typeof input !== 'string') throw badRequest('invalidAccount', 'account must be a string');
  const raw = input.trim();
  if (raw.length === 0) throw badRequest('invalidAccount', 'account must not be empty');
  // Counted in UTF-8 bytes: identifiers are indexed, and PostgreSQL's b-tree refuses entries over ~2.7 kB.
  if (Buffer.byteLength(raw, 'utf8') > MAX_ACCOUNT_LENGTH)
    throw badRequest('invalidAccount', `account must be at most ${MAX_ACCOUNT_LENGTH} bytes (UTF-8)`);
  if (CONTROL.test(raw)) throw badRequest('invalidAccount', 'account must not contain control characters');
  if (LONE_SURROGATE.test(raw))
    throw badRequest('invalidAccount', 'account must be valid Unicode text (it holds a lone surrogate)');
  // Compatibility look-alikes (full-width ｊｄｏｅ, math bold, circled letters) and singletons such as the
  // Kelvin sign are folded to plain letters by some directories' matching rules (slapd's uid), so they could
  // name an account the analyst never typed. A name written composed or decomposed (ü or u + ¨) stays allowed.
  const nfc = raw.normalize('NFC');
  if ((raw !== nfc && raw !== raw.normalize('NFD')) || nfc.normalize('NFKC') !== nfc) {
    throw badRequest(
      'invalidAccount',
      `account contains look-alike characters (of ${JSON.stringify(nfc.normalize('NFKC'))}); write it in plain characters`,
    );
  }

  const extended = /^<(GUID|SID)=([^>]+)>$/i.exec(raw);
  if (extended) {
    const [, tag, body] = extended;
    if (tag.toUpperCase() === 'GUID') {
      const guid =
        parseGuid(body) ?? (HEX.test(body) && body.length === 32 ? guidFromBytes(hexToBytes(body)) : null);
      if (!guid) throw badRequest('invalidAccount', `not a GUID: ${body}`);
      return { raw, kind: 'guid', value: guid };
    }
    const sid = SID.test(body)
      ? canonicalSid(body)
      : HEX.test(body)
        ? sidFromBytesSafe(hexToBytes(body))
        : null;
    if (!sid) throw badRequest('invalidAccount', `not a SID: ${body}`);
    return { raw, kind: 'sid', value: sid };
  }
  const guid = parseGuid(raw);
  if (guid) return { raw, kind: 'guid', value: guid };
  if (SID.test(raw)) return { raw, kind: 'sid', value: canonicalSid(raw) };
  if (HEX.test(raw) && raw.length >= 24) {
    const sid = sidFromBytesSafe(hexToBytes(raw));
    if (sid) return { raw, kind: 'sid', value: sid };
  }
  if (OKTA_ID.test(raw)) return { raw, kind: 'oktaId', value: raw };
  if (DN_START.test(raw) && !raw.includes('\\\\') && looksLikeDn(raw)) return { raw, kind: 'dn', value: raw };
  const downLevel = DOWN_LEVEL.exec(raw);
  if (downLevel) return { raw, kind: 'downLevel', value: downLevel[2], domain: downLevel[1].toUpperCase() };
  if (EMAIL.test(raw)) return { raw, kind: 'email', value: raw };
  if (/[\\@]/.test(raw)) throw badRequest('invalidAccount', `not a recognised account identifier: ${raw}`);
  return { raw, kind: 'name', value: raw };
}

/** A DN needs every RDN to be `type=value`; a name like `a=b` with no comma still counts as a one-RDN DN. */
function looksLikeDn(raw: string): boolean {
  return splitUnescaped(raw, ',').every((rdn) => DN_START.test(rdn) && rdn.indexOf('=') < rdn.length - 1);
}

function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      current += c + s[++i];
    } else if (c === sep) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * The key under which an identifier is recorded and looked up to match an Enable request with its Disable
 * task: `<kind>:<canonical value>`, case-insensitive as every directory here compares these identifiers. The
 * kind is part of the key so that a down-level name matches only its own domain (`downlevel:corp\jdoe` is
 * not `downlevel:lab\jdoe`, and neither is the bare name `name:jdoe`), CONTRACT §4.1.
 */
export function matchKeys(id: AccountIdentifier): string[] {
  switch (id.kind) {
    case 'downLevel':
      return [`downlevel:${normaliseKey(`${id.domain}\\${id.value}`)}`];
    case 'dn':
      return [`dn:${normaliseDn(id.value)}`];
    default:
      return [`${id.kind.toLowerCase()}:${normaliseKey(id.value)}`];
  }
}

/**
 * The keys of identifiers a directory reported for an account it resolved. An identifier that does not parse
 * (a directory may hold values our parser refuses) is simply not recorded.
 */
export function keysOfIdentifiers(identifiers: readonly string[]): string[] {
  const keys = new Set<string>();
  for (const raw of identifiers) {
    try {
      for (const k of matchKeys(parseAccountIdentifier(raw))) keys.add(k);
    } catch {
      /* not an identifier we match on */
    }
  }
  return [...keys];
}

export function normaliseKey(s: string): string {
  return s.trim().toLowerCase();
}

/** Case and the spacing around separators do not change a DN's meaning (RFC 4514 §2.4 aside). */
function normaliseDn(dn: string): string {
  return normaliseKey(dn).replace(/\s*([,=+])\s*/g, '$1');
}

// ---- GUID and SID encodings (pure, shared by the AD adapter and the parser) ----

export function parseGuid(s: string): string | null {
  const m = GUID.exec(s.trim());
  return m ? m[1].toLowerCase() : null;
}

/** AD stores objectGUID with its first three fields little-endian relative to the string form. */
export function guidToBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8),
  ]);
}

export function guidFromBytes(bytes: Buffer): string {
  if (bytes.length !== 16) throw new Error(`objectGUID must be 16 bytes, got ${bytes.length}`);
  const h = Buffer.concat([
    Buffer.from(bytes.subarray(0, 4)).reverse(),
    Buffer.from(bytes.subarray(4, 6)).reverse(),
    Buffer.from(bytes.subarray(6, 8)).reverse(),
    bytes.subarray(8),
  ]).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** MS-DTYP 2.4.2.2: revision, sub-authority count, 48-bit big-endian authority, little-endian sub-authorities. */
export function sidFromBytes(bytes: Buffer): string {
  const sid = sidFromBytesSafe(bytes);
  if (!sid) throw new Error('not a binary SID');
  return sid;
}

function sidFromBytesSafe(bytes: Buffer): string | null {
  if (bytes.length < 8 || bytes[0] !== 1) return null;
  const count = bytes[1];
  if (bytes.length !== 8 + 4 * count || count === 0) return null;
  const authority = bytes.readUIntBE(2, 6);
  const subs: number[] = [];
  for (let i = 0; i < count; i++) subs.push(bytes.readUInt32LE(8 + 4 * i));
  return `S-1-${authority}-${subs.join('-')}`;
}

export function sidToBytes(sid: string): Buffer {
  const parts = canonicalSid(sid).split('-').slice(1);
  const [revision, authority, ...subs] = parts.map(Number);
  const b = Buffer.alloc(8 + 4 * subs.length);
  b[0] = revision;
  b[1] = subs.length;
  b.writeUIntBE(authority, 2, 6);
  subs.forEach((s, i) => b.writeUInt32LE(s, 8 + 4 * i));
  return b;
}

function canonicalSid(s: string): string {
  return 'S' + s.slice(1);
}

function hexToBytes(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}
