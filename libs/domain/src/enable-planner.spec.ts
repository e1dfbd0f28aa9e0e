import fc from 'fast-check';
import { DomainError } from './domain-error';
import { assertNoTaskInProgress, DisableRecord, planEnable } from './enable-planner';
import { AccountState } from './task.types';

const record = (over: Partial<DisableRecord>): DisableRecord => ({
  targetId: 't1',
  disableTaskId: 'd1',
  provider: 'ldap',
  kind: 'openLdap',
  objectId: 'uid=jdoe,ou=people,dc=example,dc=org',
  objectRef: 'uuid-1',
  priorState: 'enabled',
  actedSeq: 1,
  ...over,
});

function errorOf(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (e) {
    return e as DomainError;
  }
  throw new Error('expected an error');
}

describe('assertNoTaskInProgress (CONTRACT §4.1 ordering)', () => {
  it('refuses an Enable while a Disable of the account runs, naming the Disable', () => {
    const e = errorOf(() =>
      assertNoTaskInProgress([
        { id: 'e0', action: 'enableAccount', status: 'successful' },
        { id: 'd2', action: 'disableAccount', status: 'inProgress' },
      ]),
    );
    expect(e).toMatchObject({ httpStatus: 409, code: 'taskInProgress', details: { taskId: 'd2' } });
  });

  it('refuses a second Enable while one is in progress, naming it', () => {
    const e = errorOf(() =>
      assertNoTaskInProgress([{ id: 'e1', action: 'enableAccount', status: 'inProgress' }]),
    );
    expect(e).toMatchObject({ code: 'taskInProgress', details: { taskId: 'e1' } });
  });

  it('lets an Enable through when everything related has ended', () => {
    expect(() =>
      assertNoTaskInProgress([
        { id: 'd1', action: 'disableAccount', status: 'partiallySuccessful' },
        { id: 'e1', action: 'enableAccount', status: 'unsuccessful' },
      ]),
    ).not.toThrow();
  });
});

describe('planEnable (CONTRACT §4.1: what an Enable restores)', () => {
  it('needs an unreversed Disable record: 409 noPriorDisableTask', () => {
    expect(errorOf(() => planEnable([], false))).toMatchObject({
      httpStatus: 409,
      code: 'noPriorDisableTask',
    });
    expect(errorOf(() => planEnable([], true)).message).toMatch(/already been reversed/);
  });

  it('restores the state recorded by the earliest Disable to act, reversing every unreversed one', () => {
    const plan = planEnable(
      [
        // d2 acted second and found the account already disabled by d1: its "before" is not the incident's.
        record({ targetId: 't2', disableTaskId: 'd2', priorState: 'disabled', actedSeq: 7 }),
        record({ targetId: 't1', disableTaskId: 'd1', priorState: 'enabled', actedSeq: 3 }),
      ],
      true,
    );
    expect(plan.disableTaskId).toBe('d1');
    expect(plan.targets).toEqual([
      expect.objectContaining({ provider: 'ldap', status: 'pending', outcome: null, reverses: ['t2', 't1'] }),
    ]);
  });

  it('leaves an account disabled where it was disabled before the incident', () => {
    const plan = planEnable([record({ priorState: 'disabled' })], true);
    expect(plan.targets).toEqual([expect.objectContaining({ status: 'skipped', outcome: 'leftDisabled' })]);
  });

  it('refuses an identifier that named two objects in one directory: 409 ambiguousAccount with candidates', () => {
    const e = errorOf(() =>
      planEnable(
        [
          record({ targetId: 't1', disableTaskId: 'd1', objectRef: 'uuid-1', actedSeq: 1 }),
          record({ targetId: 't2', disableTaskId: 'd2', objectRef: 'uuid-2', actedSeq: 2 }),
          record({
            targetId: 't3',
            disableTaskId: 'd2',
            provider: 'okta',
            kind: 'okta',
            objectRef: 'o',
            actedSeq: 3,
          }),
        ],
        true,
      ),
    );
    expect(e).toMatchObject({
      httpStatus: 409,
      code: 'ambiguousAccount',
      details: { candidates: ['d1', 'd2'] },
    });
  });
});

/**
 * A model of one account in two directories, driven through random histories of Disable and Enable tasks with
 * random per-directory outcomes, planning every Enable with `planEnable` and recording reversals per target the
 * way the engine does. The model tracks the pre-incident state on its own (the state when the first unreversed
 * change was recorded), independently of how the planner picks it.
 */
describe('planEnable over random histories (property)', () => {
  type DisableStep = {
    action: 'disable';
    outcomes: Record<string, 'ok' | 'noAct' | 'refused' | 'landedThenFailed'>;
  };
  type EnableStep = {
    action: 'enable';
    outcomes: Record<string, 'ok' | 'refused' | 'landedThenFailed' | 'superseded'>;
  };
  const PROVIDERS = ['ad', 'okta'] as const;

  const disableStep = fc.record({
    action: fc.constant('disable' as const),
    outcomes: fc.record({
      ad: fc.constantFrom('ok', 'ok', 'noAct', 'refused', 'landedThenFailed'),
      okta: fc.constantFrom('ok', 'ok', 'noAct', 'refused', 'landedThenFailed'),
    }),
  }) as fc.Arbitrary<DisableStep>;
  const enableStep = fc.record({
    action: fc.constant('enable' as const),
    outcomes: fc.record({
      ad: fc.constantFrom('ok', 'ok', 'refused', 'landedThenFailed', 'superseded'),
      okta: fc.constantFrom('ok', 'ok', 'refused', 'landedThenFailed', 'superseded'),
    }),
  }) as fc.Arbitrary<EnableStep>;

  it('ends each directory as the last task asked, and restores the state from before the earliest unreversed Disable', () => {
    fc.assert(
      fc.property(
        fc.record({
          ad: fc.constantFrom<AccountState>('enabled', 'disabled'),
          okta: fc.constantFrom<AccountState>('enabled', 'disabled'),
        }),
        fc.array(fc.oneof(disableStep, enableStep), { minLength: 1, maxLength: 25 }),
        (initial, steps) => {
          const state: Record<string, AccountState> = { ...initial };
          const records: Array<DisableRecord & { reversed: boolean }> = [];
          const preIncident: Record<string, AccountState | null> = { ad: null, okta: null };
          let seq = 0;
          let taskNo = 0;
          const unreversed = (p?: string) => records.filter((r) => !r.reversed && (!p || r.provider === p));

          for (const step of steps) {
            const taskId = `task${++taskNo}`;
            if (step.action === 'disable') {
              for (const p of PROVIDERS) {
                const o = step.outcomes[p];
                if (o === 'noAct') continue; // failed before reaching the object: nothing recorded
                if (unreversed(p).length === 0) preIncident[p] = state[p];
                records.push({
                  ...record({
                    provider: p,
                    kind: p === 'ad' ? 'activeDirectory' : 'okta',
                    objectRef: `${p}-obj`,
                  }),
                  targetId: `${taskId}-${p}`,
                  disableTaskId: taskId,
                  priorState: state[p],
                  actedSeq: ++seq,
                  reversed: false,
                });
                if (o !== 'refused') state[p] = 'disabled';
              }
              if (Object.values(step.outcomes).every((o) => o === 'ok')) {
                for (const p of PROVIDERS) expect(state[p]).toBe('disabled');
              }
              continue;
            }

            const open = unreversed();
            let plan;
            try {
              plan = planEnable(open, records.length > 0);
            } catch (e) {
              expect(open).toHaveLength(0);
              expect((e as DomainError).code).toBe('noPriorDisableTask');
              continue;
            }
            const expected = { ...preIncident };
            for (const t of plan.targets) {
              // Every unreversed change of the object is reversed by this one Enable.
              expect([...t.reverses].sort()).toEqual(
                unreversed(t.provider)
                  .map((r) => r.targetId)
                  .sort(),
              );
              const o = step.outcomes[t.provider];
              let reversed: boolean;
              if (t.status === 'skipped') {
                expect(expected[t.provider]).toBe('disabled');
                reversed = true;
              } else {
                expect(expected[t.provider]).toBe('enabled');
                if (o === 'ok' || o === 'landedThenFailed') state[t.provider] = 'enabled';
                reversed = o === 'ok';
              }
              if (reversed) for (const r of records) if (t.reverses.includes(r.targetId)) r.reversed = true;
            }
            // Providers with no open change get no target at all.
            expect(plan.targets.map((t) => t.provider).sort()).toEqual(
              [...new Set(open.map((r) => r.provider))].sort(),
            );
            if (plan.targets.every((t) => t.status === 'skipped' || step.outcomes[t.provider] === 'ok')) {
              for (const t of plan.targets) expect(state[t.provider]).toBe(expected[t.provider]);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
