import { parseAccountIdentifier } from '@app/domain';
import { accountFilter, PERSON_FILTER } from './openldap-filter';

const filterFor = (raw: string) => accountFilter(parseAccountIdentifier(raw));

describe('accountFilter', () => {
  it('matches a name by uid, always among person entries', () => {
    expect(filterFor('jdoe')).toBe(`(&${PERSON_FILTER}(uid=jdoe))`);
  });

  it('has no filter for a down-level name: OpenLDAP has no domain to check it against', () => {
    expect(filterFor('CORP\\jdoe')).toBeNull();
    expect(filterFor('ANY\\*)(uid=*')).toBeNull();
  });

  it('matches an address by mail or uid', () => {
    expect(filterFor('jdoe@example.org')).toBe(
      `(&${PERSON_FILTER}(|(mail=jdoe@example.org)(uid=jdoe@example.org)))`,
    );
  });

  it('matches a GUID by entryUUID and a DN by entryDN', () => {
    expect(filterFor('{7A4267CE-D354-44E7-8BD6-C681F1284A41}')).toBe(
      `(&${PERSON_FILTER}(entryUUID=7a4267ce-d354-44e7-8bd6-c681f1284a41))`,
    );
    expect(filterFor('uid=jdoe,ou=people,dc=example,dc=org')).toBe(
      `(&${PERSON_FILTER}(entryDN=uid=jdoe,ou=people,dc=example,dc=org))`,
    );
  });

  it('escapes filter syntax in every kind', () => {
    expect(filterFor('*)(uid=*')).toBe(`(&${PERSON_FILTER}(uid=\\2a\\29\\28uid=\\2a))`);
    expect(filterFor('*@example.org')).toBe(
      `(&${PERSON_FILTER}(|(mail=\\2a@example.org)(uid=\\2a@example.org)))`,
    );
    expect(filterFor('uid=a\\2c(b),ou=people,dc=example,dc=org')).toBe(
      `(&${PERSON_FILTER}(entryDN=uid=a\\5c2c\\28b\\29,ou=people,dc=example,dc=org))`,
    );
  });

  it('has no filter for identifiers OpenLDAP does not hold', () => {
    expect(filterFor('S-1-5-21-1004336348-1177238915-682003330-512')).toBeNull();
    expect(filterFor('00u1a2b3c4d5e6f7g8h9')).toBeNull();
  });
});
