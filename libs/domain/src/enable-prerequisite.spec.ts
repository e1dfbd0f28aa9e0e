import { DomainError } from './domain-error';
import { chooseDisableTaskToReverse, DisableTaskFacts, planEnableTargets } from './enable-prerequisite';

const disable = (over: Partial<DisableTaskFacts>): DisableTaskFacts => ({
  id: 'd1',
  status: 'successful',
  createdAt: new Date('2026-01-01T00:00:00Z'),
  reversedBy: null,
  enableInProgress: null,
  targets: [],
  ...over,
});

function conflictOf(candidates: DisableTaskFacts[]): DomainError {
  try {
    chooseDisableTaskToReverse(candidates);
  } catch (e) {
    return e as DomainError;
  }
  throw new Error('expected a conflict');
}

describe('the Enable prerequisite (CONTRACT §4)', () => {
  it('needs a prior Disable task: 409 noPriorDisableTask without one', () => {
    expect(conflictOf([])).toMatchObject({ httpStatus: 409, code: 'noPriorDisableTask' });
  });

  it.each([['inProgress'], ['unsuccessful']] as const)(
    'does not accept a Disable task that is %s',
    (status) => {
      expect(conflictOf([disable({ status })]).code).toBe('noPriorDisableTask');
    },
  );

  it('accepts successful and partiallySuccessful Disable tasks', () => {
    expect(chooseDisableTaskToReverse([disable({ status: 'partiallySuccessful' })]).id).toBe('d1');
  });

  it('does not reverse a Disable task twice', () => {
    expect(conflictOf([disable({ reversedBy: 'e1' })]).code).toBe('noPriorDisableTask');
  });

  it('refuses while an Enable task is in progress, naming it', () => {
    expect(conflictOf([disable({ enableInProgress: 'e9' })])).toMatchObject({
      code: 'taskInProgress',
      details: { taskId: 'e9' },
    });
  });

  it('reverses the oldest unreversed Disable task, which saw the state before the incident', () => {
    const chosen = chooseDisableTaskToReverse([
      disable({ id: 'late', createdAt: new Date('2026-03-01') }),
      disable({ id: 'early', createdAt: new Date('2026-02-01') }),
      disable({ id: 'reversed', createdAt: new Date('2026-01-01'), reversedBy: 'e0' }),
    ]);
    expect(chosen.id).toBe('early');
  });

  it('plans enable where the Disable changed the account, leftDisabled where it was already disabled, nothing elsewhere', () => {
    const target = { kind: 'openLdap' as const, objectId: 'dn', objectRef: 'ref' };
    const plan = planEnableTargets(
      disable({
        targets: [
          { ...target, provider: 'a', status: 'succeeded', outcome: 'disabled' },
          { ...target, provider: 'b', status: 'succeeded', outcome: 'alreadyDisabled' },
          { ...target, provider: 'c', status: 'skipped', outcome: 'notFound' },
          { ...target, provider: 'd', status: 'failed', outcome: null },
          { ...target, provider: 'e', status: 'skipped', outcome: 'managedElsewhere' },
        ],
      }),
    );
    expect(plan).toEqual([
      { ...target, provider: 'a', status: 'pending', outcome: null },
      { ...target, provider: 'b', status: 'skipped', outcome: 'leftDisabled' },
    ]);
  });
});
