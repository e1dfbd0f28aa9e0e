import type { TargetView, TaskView } from '@app/engine';
import { MessageType, toOperationResult, toOperationStatus } from './operation-result';

const target = (t: Partial<TargetView> & Pick<TargetView, 'provider' | 'kind' | 'status'>): TargetView => ({
  outcome: null,
  objectId: null,
  attempts: 1,
  error: null,
  warnings: [],
  startedAt: null,
  finishedAt: null,
  ...t,
});

const task = (t: Partial<TaskView>): TaskView => ({
  id: '6f1c0000-0000-4000-8000-000000000001',
  action: 'disableAccount',
  status: 'successful',
  account: 'S-1-5-21-1-2-3-1105',
  description: null,
  disableTaskId: null,
  batchId: null,
  createdBy: 'soar',
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:01.000Z',
  completedAt: '2025-01-01T00:00:01.000Z',
  error: null,
  targets: [],
  ...t,
});

const AD_DN = 'CN=John Smith,CN=Users,DC=corp,DC=test';
const LDAP_DN = 'uid=jsmith,ou=people,dc=example,dc=org';

describe('toOperationResult (Adaxes OperationResult)', () => {
  it('reports a successful task as resultType 0, the AD DN before the OpenLDAP one, one message per directory', () => {
    const result = toOperationResult(
      task({
        targets: [
          target({
            provider: 'ldap',
            kind: 'openLdap',
            status: 'succeeded',
            outcome: 'disabled',
            objectId: LDAP_DN,
          }),
          target({
            provider: 'corp-ad',
            kind: 'activeDirectory',
            status: 'succeeded',
            outcome: 'disabled',
            objectId: AD_DN,
          }),
          target({ provider: 'okta', kind: 'okta', status: 'skipped', outcome: 'notFound' }),
        ],
      }),
    );
    expect(result).toEqual({
      resultType: 0,
      innerMessages: [
        {
          source: 'ldap',
          text: `ldap (OpenLDAP): succeeded (disabled) on ${LDAP_DN}`,
          messageType: MessageType.information,
          innerMessages: [],
        },
        {
          source: 'corp-ad',
          text: `corp-ad (Active Directory): succeeded (disabled) on ${AD_DN}`,
          messageType: MessageType.information,
          innerMessages: [],
        },
        { source: 'okta', text: 'okta (Okta): skipped (notFound)', messageType: 2, innerMessages: [] },
      ],
      exception: null,
      actualObjectDN: AD_DN,
      extraInfo: {},
    });
  });

  it('makes a partial result resultType 1 with the failing directory named in the exception and as an error', () => {
    const result = toOperationResult(
      task({
        status: 'partiallySuccessful',
        targets: [
          target({
            provider: 'ldap',
            kind: 'openLdap',
            status: 'succeeded',
            outcome: 'disabled',
            objectId: LDAP_DN,
          }),
          target({
            provider: 'ldap-down',
            kind: 'openLdap',
            status: 'failed',
            attempts: 2,
            error: { code: 'directoryUnreachable', message: 'connect ECONNREFUSED 127.0.0.1:1' },
          }),
        ],
      }),
    );
    expect(result.resultType).toBe(1);
    expect(result.exception).toEqual({
      code: 'partiallySuccessful',
      message:
        'Disable task 6f1c0000-0000-4000-8000-000000000001 for S-1-5-21-1-2-3-1105 ended partiallySuccessful ' +
        '(ldap-down: directoryUnreachable).',
    });
    expect(result.innerMessages[1]).toEqual({
      source: 'ldap-down',
      text: 'ldap-down (OpenLDAP): failed: directoryUnreachable: connect ECONNREFUSED 127.0.0.1:1',
      messageType: MessageType.error,
      innerMessages: [],
    });
    expect(result.actualObjectDN).toBe(LDAP_DN);
  });

  it("uses the task's own error code when it has one, and null for a DN nobody resolved", () => {
    const result = toOperationResult(
      task({
        status: 'unsuccessful',
        error: { code: 'accountNotFound', message: 'No configured directory has this account.' },
        targets: [target({ provider: 'entra', kind: 'entraId', status: 'skipped', outcome: 'notFound' })],
      }),
    );
    expect(result.exception).toEqual({
      code: 'accountNotFound',
      message: expect.stringMatching(/ended unsuccessful: No configured directory has this account\.$/),
    });
    expect(result.actualObjectDN).toBeNull();
  });

  it('shows warnings and stopped directories as warnings, the warnings nested under their directory', () => {
    const result = toOperationResult(
      task({
        action: 'enableAccount',
        status: 'partiallySuccessful',
        targets: [
          target({
            provider: 'entra',
            kind: 'entraId',
            status: 'succeeded',
            outcome: 'disabled',
            objectId: 'e1',
            warnings: [{ code: 'sessionsNotRevoked', message: 'Graph answered 503' }],
          }),
          target({ provider: 'corp-ad', kind: 'activeDirectory', status: 'skipped', outcome: 'superseded' }),
        ],
      }),
    );
    expect(result.innerMessages).toEqual([
      {
        source: 'entra',
        text: 'entra (Entra ID): succeeded (disabled) on e1',
        messageType: MessageType.warning,
        innerMessages: [
          {
            source: 'entra',
            text: 'sessionsNotRevoked: Graph answered 503',
            messageType: 1,
            innerMessages: [],
          },
        ],
      },
      {
        source: 'corp-ad',
        text: 'corp-ad (Active Directory): skipped (superseded)',
        messageType: MessageType.warning,
        innerMessages: [],
      },
    ]);
    expect(result.exception?.message).toMatch(
      /^Enable task .* ended partiallySuccessful \(corp-ad: superseded\)\.$/,
    );
  });
});

describe('toOperationStatus (runningOperations)', () => {
  it('has no result while the task runs, and the full result once it has ended', () => {
    expect(toOperationStatus(task({ status: 'inProgress' }))).toEqual({
      completed: false,
      operationResult: null,
    });
    expect(toOperationStatus(task({}))).toEqual({
      completed: true,
      operationResult: expect.objectContaining({ resultType: 0 }),
    });
  });
});
