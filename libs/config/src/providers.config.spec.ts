import { ConfigError } from './config-error';
import { parseProvidersYaml } from './providers.config';

const env = { AD_PW: 'ad-secret', LDAP_PW: 'ldap-secret', OKTA_TOKEN: 'tok' };

const CONTRACT_EXAMPLE = `
providers:
  - id: corp-ad
    kind: activeDirectory
    url: ldaps://dc1.corp.example:636
    bindDN: CN=svc-response,CN=Users,DC=corp,DC=example
    bindPassword: \${AD_PW}
    baseDN: DC=corp,DC=example
    tls: { caFile: /etc/ssl/corp-ca.pem, rejectUnauthorized: true }
  - id: ldap
    kind: openLdap
    url: ldap://ldap.example:389
    bindDN: cn=admin,dc=example,dc=org
    bindPassword: \${LDAP_PW}
    baseDN: ou=people,dc=example,dc=org
    disableMethod: ppolicy
  - id: entra
    kind: entraId
    tenantId: 00000000-0000-0000-0000-000000000000
    clientId: 11111111-1111-1111-1111-111111111111
    clientSecret: s3cret
    authorityHost: https://login.microsoftonline.com
    graphBaseUrl: https://graph.microsoft.com
  - id: okta
    kind: okta
    orgUrl: https://example.okta.com
    token: \${OKTA_TOKEN}
    timeoutMs: 5000
    rateLimit: { max: 10, durationMs: 1000 }
`;

function errorOf(yaml: string, e: NodeJS.ProcessEnv = env): string {
  try {
    parseProvidersYaml(yaml, e);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('PROVIDERS_FILE (CONTRACT §2)', () => {
  it('reads the contract example, substituting ${NAME} from the environment', () => {
    const providers = parseProvidersYaml(CONTRACT_EXAMPLE, env);
    expect(providers.map((p) => [p.id, p.kind])).toEqual([
      ['corp-ad', 'activeDirectory'],
      ['ldap', 'openLdap'],
      ['entra', 'entraId'],
      ['okta', 'okta'],
    ]);
    expect(providers[0]).toMatchObject({ bindPassword: 'ad-secret', tls: { rejectUnauthorized: true } });
    expect(providers[3]).toMatchObject({ token: 'tok', rateLimit: { max: 10, durationMs: 1000 } });
  });

  it('takes the size of the connection pool of an LDAP provider', () => {
    const [ad, ldap] = parseProvidersYaml(
      'providers:\n' +
        '  - { id: ad, kind: activeDirectory, url: "ldaps://x", bindDN: b, bindPassword: p, baseDN: d, connections: 8 }\n' +
        '  - { id: ldap, kind: openLdap, url: "ldap://x", bindDN: b, bindPassword: p, baseDN: d, connections: 1 }',
      env,
    );
    expect(ad).toMatchObject({ connections: 8 });
    expect(ldap).toMatchObject({ connections: 1 });
  });

  it('stops on a missing environment variable, naming it and the key', () => {
    expect(errorOf(CONTRACT_EXAMPLE, { LDAP_PW: 'x', OKTA_TOKEN: 'y' })).toBe(
      'providers[0].bindPassword: environment variable AD_PW is not set',
    );
  });

  it.each([
    [
      'an unknown key',
      'providers:\n  - { id: a, kind: okta, orgUrl: "https://x", token: t, colour: red }',
      'providers[0].colour: unknown key',
    ],
    ['a missing key', 'providers:\n  - { id: a, kind: okta, token: t }', 'providers[0].orgUrl: missing'],
    [
      'a wrong type',
      'providers:\n  - { id: a, kind: okta, orgUrl: "https://x", token: t, timeoutMs: soon }',
      'providers[0].timeoutMs: must be an integer',
    ],
    [
      'a nested wrong type',
      'providers:\n  - { id: a, kind: openLdap, url: "ldap://x", bindDN: b, bindPassword: p, baseDN: d, tls: { rejectUnauthorized: "no" } }',
      'providers[0].tls.rejectUnauthorized: must be true or false',
    ],
    [
      'an unknown kind',
      'providers:\n  - { id: a, kind: googleWorkspace }',
      'providers[0].kind: must be one of activeDirectory, openLdap, entraId, okta',
    ],
    [
      'a bad id',
      'providers:\n  - { id: Corp_AD, kind: okta, orgUrl: "https://x", token: t }',
      'providers[0].id: must match /^[a-z0-9-]+$/',
    ],
    [
      'a duplicate id',
      'providers:\n  - { id: a, kind: okta, orgUrl: "https://x", token: t }\n  - { id: a, kind: okta, orgUrl: "https://y", token: t }',
      'providers[1].id: duplicate id a',
    ],
    [
      'both Okta credentials',
      'providers:\n  - { id: a, kind: okta, orgUrl: "https://x", token: t, oauth: { clientId: c, privateKeyFile: k } }',
      'providers[0]: exactly one of token or oauth is required',
    ],
    [
      'no Entra credential',
      'providers:\n  - { id: a, kind: entraId, tenantId: t, clientId: c }',
      'providers[0]: exactly one of clientSecret or certificate is required',
    ],
    [
      'a pool of no LDAP connections',
      'providers:\n  - { id: a, kind: openLdap, url: "ldap://x", bindDN: b, bindPassword: p, baseDN: d, connections: 0 }',
      'providers[0].connections: must be at least 1',
    ],
    [
      'a connection pool on a provider that is no LDAP directory',
      'providers:\n  - { id: a, kind: okta, orgUrl: "https://x", token: t, connections: 4 }',
      'providers[0].connections: unknown key',
    ],
    ['an unknown top-level key', 'provider: []', 'provider: unknown key'],
    ['a non-list', 'providers: {}', 'providers: must be a list'],
  ])('stops on %s with a message naming the key', (_what, yaml, message) => {
    expect(errorOf(yaml)).toBe(message);
  });
});
