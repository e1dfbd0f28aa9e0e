import { InsufficientAccessError, InvalidCredentialsError } from 'ldapts';
import { bindRefusal, sameDn } from './ldap-probe';

describe('bindRefusal', () => {
  it("names a wrong password as such, with Active Directory's own reason when it gives one", () => {
    const ad = new InvalidCredentialsError(
      '80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1',
    );
    expect(bindRefusal(ad, 'CN=svc,DC=corp')).toBe(
      "the directory rejected the bind DN's password: invalidCredentials binding as CN=svc,DC=corp " +
        '(80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1)',
    );
    expect(bindRefusal(new InvalidCredentialsError('data 533'), 'svc')).toMatch(/^the account is disabled/);
    expect(bindRefusal(new InvalidCredentialsError(''), 'cn=admin')).toMatch(
      /^the directory rejected the bind DN's password \(or the bind DN does not exist, or its account is locked\): invalidCredentials binding as cn=admin$/,
    );
  });

  it('quotes other refusals with their LDAP result code', () => {
    expect(bindRefusal(new InsufficientAccessError('no'), 'cn=x')).toBe(
      'the bind as cn=x was refused: LDAP error 50: no',
    );
  });
});

describe('sameDn', () => {
  it('ignores case and spaces after commas, not escaped commas', () => {
    expect(sameDn('CN=svc, OU=Service,DC=corp', 'cn=svc,ou=service,dc=corp')).toBe(true);
    expect(sameDn('cn=a\\,b,dc=x', 'cn=a,b,dc=x')).toBe(false);
  });
});
