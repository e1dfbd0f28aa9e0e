import { DomainError } from '@app/domain';
import { admWaitMs, directoryObjectOf } from './adaxes-request';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof DomainError ? `${e.httpStatus} ${e.code}` : `not a DomainError: ${String(e)}`;
  }
  return undefined;
};

describe('directoryObjectOf', () => {
  it.each([
    'CN=John Smith,CN=Users,DC=example,DC=com',
    '7a4267ce-d354-44e7-8bd6-c681f1284a41',
    '{7A4267CE-D354-44E7-8BD6-C681F1284A41}',
    '<GUID=7a4267ce-d354-44e7-8bd6-c681f1284a41>',
    'S-1-5-21-3635565734-1729062999-1822655016-1627',
    '<SID=S-1-5-21-3635565734-1729062999-1822655016-1627>',
  ])('takes %s as written', (id) => {
    expect(directoryObjectOf({ directoryObject: id })).toBe(id);
  });

  it.each([
    ['a user principal name', 'jdoe@corp.example'],
    ['a down-level name', 'CORP\\jdoe'],
    ['a bare name', 'jdoe'],
    ['an Okta id', '00u1abcdefghijklmnop'],
    ['an empty string', '   '],
    ['a malformed <GUID=…>', '<GUID=nope>'],
  ])('refuses %s with 400 invalidDirectoryObject', (_what, id) => {
    expect(codeOf(() => directoryObjectOf({ directoryObject: id }))).toBe('400 invalidDirectoryObject');
  });

  it.each([
    ['no body', undefined, '400 invalidBody'],
    ['an array', [{ directoryObject: 'S-1-5-21-1-2-3-4' }], '400 invalidBody'],
    ['an unknown field', { directoryObject: 'S-1-5-21-1-2-3-4', properties: [] }, '400 invalidBody'],
    ['no directoryObject', {}, '400 invalidDirectoryObject'],
    ['a number', { directoryObject: 42 }, '400 invalidDirectoryObject'],
    ['null', { directoryObject: null }, '400 invalidDirectoryObject'],
  ])('refuses %s', (_what, body, code) => {
    expect(codeOf(() => directoryObjectOf(body))).toBe(code);
  });
});

describe('admWaitMs', () => {
  it('defaults to 30 s, caps at 300 s, and takes fractions', () => {
    expect(admWaitMs(undefined)).toBe(30_000);
    expect(admWaitMs('0')).toBe(0);
    expect(admWaitMs(' 5 ')).toBe(5000);
    expect(admWaitMs('0.25')).toBe(250);
    expect(admWaitMs('3600')).toBe(300_000);
  });

  it.each(['', 'soon', '-1', '1e3', '5s', '1,2'])('refuses %j with 400 invalidAdmWait', (v) => {
    expect(codeOf(() => admWaitMs(v))).toBe('400 invalidAdmWait');
  });
});
