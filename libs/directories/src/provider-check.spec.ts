import { CheckList, checksPassed, unverifiedJwtClaims } from './provider-check';

describe('provider checks', () => {
  it('passes when no check failed, undecided ones included, and never when there is none', () => {
    expect(checksPassed([{ name: 'reachable', ok: true, message: '' }])).toBe(true);
    expect(
      checksPassed([
        { name: 'reachable', ok: true, message: '' },
        { name: 'changeAccounts', ok: null, message: '' },
      ]),
    ).toBe(true);
    expect(checksPassed([{ name: 'reachable', ok: false, message: '' }])).toBe(false);
    expect(checksPassed([])).toBe(false);
  });

  it('lists the checks after a failure as not checked, naming the one that stopped', () => {
    const checks = new CheckList()
      .fail('reachable', 'ECONNREFUSED')
      .notChecked(['authenticated'], 'reachable');
    expect(checks).toEqual([
      { name: 'reachable', ok: false, message: 'ECONNREFUSED' },
      { name: 'authenticated', ok: null, message: 'not checked: "reachable" did not pass' },
    ]);
  });

  it('reads the claims of a JWT without verifying it, and nothing from anything else', () => {
    const payload = Buffer.from(JSON.stringify({ roles: ['User.Read.All'] })).toString('base64url');
    expect(unverifiedJwtClaims(`eyJhbGciOiJSUzI1NiJ9.${payload}.sig`)).toEqual({ roles: ['User.Read.All'] });
    expect(unverifiedJwtClaims('opaque-token')).toBeNull();
    expect(unverifiedJwtClaims('a.bm90IGpzb24.c')).toBeNull();
    expect(unverifiedJwtClaims(`a.${Buffer.from('[1]').toString('base64url')}.c`)).toBeNull();
  });
});
