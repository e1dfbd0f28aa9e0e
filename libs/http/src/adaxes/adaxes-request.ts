import { badRequest, DomainError, IdentifierKind, parseAccountIdentifier } from '@app/domain';
import { checkBody } from '../dto';

/** The forms Adaxes accepts for `directoryObject` (DN, GUID, SID; `<GUID=…>` and `<SID=…>` are their LDAP forms). */
const DIRECTORY_OBJECT_KINDS: readonly IdentifierKind[] = ['dn', 'guid', 'sid'];

/** Returns `directoryObject` as the caller wrote it; any other body, or any other identifier form, is a 400. */
export function directoryObjectOf(body: unknown): string {
  const { directoryObject } = checkBody(body, ['directoryObject']);
  if (directoryObject === undefined)
    throw badRequest('invalidDirectoryObject', 'directoryObject is required: a DN, a GUID or a SID.');
  if (typeof directoryObject !== 'string')
    throw badRequest('invalidDirectoryObject', 'directoryObject must be a string: a DN, a GUID or a SID.');
  let kind: IdentifierKind;
  try {
    kind = parseAccountIdentifier(directoryObject).kind;
  } catch (e) {
    if (e instanceof DomainError)
      throw badRequest('invalidDirectoryObject', `directoryObject is not valid: ${e.message}`);
    throw e;
  }
  if (!DIRECTORY_OBJECT_KINDS.includes(kind)) {
    throw badRequest(
      'invalidDirectoryObject',
      `directoryObject must be a DN, a GUID or a SID, as in Adaxes; this looks like ${KIND_NAMES[kind]}. ` +
        'Other identifiers are accepted by the native API (/api/v1).',
    );
  }
  return directoryObject;
}

const KIND_NAMES: Record<IdentifierKind, string> = {
  dn: 'a DN',
  guid: 'a GUID',
  sid: 'a SID',
  email: 'a user principal name or mail address',
  downLevel: 'a down-level logon name (DOMAIN\\name)',
  oktaId: 'an Okta user id',
  name: 'a bare account name',
};

/** Without `Adm-Wait` the answer still comes in bounded time: long enough for a directory round trip or three. */
export const DEFAULT_WAIT_SECONDS = 30;
/** Held connections cost little, but a proxy in between rarely keeps one open longer than this. */
export const MAX_WAIT_SECONDS = 300;

/** `Adm-Wait: <seconds>` in milliseconds; absent means the default, above the maximum means the maximum. */
export function admWaitMs(header: string | undefined): number {
  if (header === undefined) return DEFAULT_WAIT_SECONDS * 1000;
  if (!/^\s*\d{1,9}(\.\d{1,3})?\s*$/.test(header)) {
    throw badRequest('invalidAdmWait', `Adm-Wait must be a number of seconds (0 to ${MAX_WAIT_SECONDS}).`);
  }
  return Math.round(Math.min(Number(header), MAX_WAIT_SECONDS) * 1000);
}
