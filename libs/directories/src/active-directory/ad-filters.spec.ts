import { AndFilter, EqualityFilter } from 'ldapts';
import { parseAccountIdentifier } from '@app/domain';
import { accountFilter } from './ad-filters';
import { isDisabled, parseUac, withDisabled } from './user-account-control';

const filterFor = (account: string) => accountFilter(parseAccountIdentifier(account))?.toString() ?? null;

describe('accountFilter', () => {
  it('matches a GUID on its AD byte order, every byte escaped', () => {
    expect(filterFor('7a4267ce-d354-44e7-8bd6-c681f1284a41')).toContain(
      '(objectGUID=\\ce\\67\\42\\7a\\54\\d3\\e7\\44\\8b\\d6\\c6\\81\\f1\\28\\4a\\41)',
    );
    expect(filterFor('<GUID=7a4267ce-d354-44e7-8bd6-c681f1284a41>')).toBe(
      filterFor('7a4267ce-d354-44e7-8bd6-c681f1284a41'),
    );
  });

  it('matches a SID on its binary form', () => {
    expect(filterFor('S-1-5-21-1-2-3-1104')).toContain(
      '(objectSid=\\01\\05\\00\\00\\00\\00\\00\\05\\15\\00\\00\\00\\01\\00\\00\\00\\02\\00\\00\\00\\03\\00\\00\\00\\50\\04\\00\\00)',
    );
  });

  it('sends a GUID as its raw 16 bytes, not as re-encoded text', () => {
    const f = accountFilter(parseAccountIdentifier('7a4267ce-d354-44e7-8bd6-c681f1284a41')) as AndFilter;
    const guid = f.filters[1] as EqualityFilter;
    expect(guid.value).toEqual(Buffer.from('ce67427a54d3e7448bd6c681f1284a41', 'hex'));
  });

  it('escapes filter metacharacters so a crafted name cannot widen the search', () => {
    const f = filterFor('*)(sAMAccountName=*')!;
    expect(f).toContain('(sAMAccountName=\\2a\\29\\28sAMAccountName=\\2a)');
    expect(f).not.toMatch(/[^\\]\*/);
  });

  it('looks an e-mail form up as UPN or mail, and a bare name also as a computer name', () => {
    expect(filterFor('jdoe@corp.example')).toContain(
      '(|(userPrincipalName=jdoe@corp.example)(mail=jdoe@corp.example))',
    );
    expect(filterFor('CORP\\pc01')).toContain('(sAMAccountName=pc01)');
    expect(filterFor('pc01')).toContain('(|(sAMAccountName=pc01)(sAMAccountName=pc01$))');
  });

  it('has no filter for forms that cannot name an AD object', () => {
    expect(filterFor('00u1abcdefghijklmnop')).toBeNull();
  });
});

describe('userAccountControl', () => {
  it('changes only ACCOUNTDISABLE', () => {
    const uac = 0x200 | 0x20 | 0x10000;
    expect(withDisabled(uac, true)).toBe(uac | 2);
    expect(withDisabled(uac | 2, false)).toBe(uac);
    expect(isDisabled(514)).toBe(true);
    expect(parseUac('-2147483136')).toBe(0x80000200);
  });
});
