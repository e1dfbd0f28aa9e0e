import { scrubText, toTaskEventView } from './task-events';

describe('toTaskEventView', () => {
  const event = (detail: Record<string, unknown>) =>
    toTaskEventView({
      type: 'task.targetUpdated',
      provider: 'okta',
      status: 'failed',
      actor: 'worker',
      detail,
      createdAt: new Date('2026-01-02T03:04:05.678Z'),
    });

  it('keeps what the engine records and gives the time in ISO 8601', () => {
    const view = event({
      outcome: null,
      error: { code: 'invalidCredentials', message: 'Okta HTTP 401 E0000011' },
    });
    expect(view).toEqual({
      type: 'task.targetUpdated',
      time: '2026-01-02T03:04:05.678Z',
      actor: 'worker',
      provider: 'okta',
      status: 'failed',
      detail: { outcome: null, error: { code: 'invalidCredentials', message: 'Okta HTTP 401 E0000011' } },
    });
  });

  it('redacts values under secret-named keys, at any depth', () => {
    const view = event({
      error: { code: 'x', message: 'y', token: 'abc', nested: { clientSecret: 's3cr3t' } },
    });
    expect(JSON.stringify(view)).not.toMatch(/abc|s3cr3t/);
  });

  it('takes credentials and query values out of URLs and authorization headers quoted in messages', () => {
    const view = event({
      error: {
        code: 'directoryUnreachable',
        message:
          'cannot reach https://svc:Pa55word@graph.example/v1.0/users?access_token=eyJabc.def&x=1 ' +
          'with Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig or SSWS 00abcdefghijklmnop',
      },
    });
    const text = JSON.stringify(view);
    for (const secret of ['Pa55word', 'eyJabc', 'eyJhbGciOiJSUzI1NiJ9', '00abcdefghijklmnop'])
      expect(text).not.toContain(secret);
    expect(text).toContain('https://***@graph.example/v1.0/users?***');
    expect(text).toContain('Bearer ***');
  });

  it('leaves ordinary text, DNs and hosts alone', () => {
    expect(scrubText('uid=jdoe,ou=people,dc=example,dc=org is locked at ldap://ldap.example:389')).toBe(
      'uid=jdoe,ou=people,dc=example,dc=org is locked at ldap://ldap.example:389',
    );
  });
});
