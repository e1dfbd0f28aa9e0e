import { rollUp, TargetFacts } from './roll-up';
import { TargetOutcome, TargetStatus } from './task.types';

const t = (status: TargetStatus, outcome: TargetOutcome | null = null): TargetFacts => ({ status, outcome });

describe('rollUp (CONTRACT §4)', () => {
  it('is inProgress while any target is pending or running', () => {
    expect(rollUp('disableAccount', [t('succeeded'), t('pending')]).status).toBe('inProgress');
    expect(rollUp('enableAccount', [t('failed'), t('running'), t('succeeded')]).status).toBe('inProgress');
  });

  it('is successful when every counted target succeeded, ignoring skipped ones', () => {
    expect(rollUp('disableAccount', [t('succeeded'), t('skipped', 'notFound'), t('succeeded')])).toEqual({
      status: 'successful',
      errorCode: null,
    });
  });

  it('is partiallySuccessful when some succeeded and some failed', () => {
    expect(rollUp('disableAccount', [t('succeeded'), t('failed'), t('skipped', 'notFound')]).status).toBe(
      'partiallySuccessful',
    );
  });

  it('is unsuccessful when every counted target failed', () => {
    expect(rollUp('enableAccount', [t('failed'), t('skipped', 'leftDisabled'), t('failed')]).status).toBe(
      'unsuccessful',
    );
  });

  it('makes a Disable with nothing to count unsuccessful with accountNotFound', () => {
    expect(rollUp('disableAccount', [t('skipped', 'notFound'), t('skipped', 'managedElsewhere')])).toEqual({
      status: 'unsuccessful',
      errorCode: 'accountNotFound',
    });
    expect(rollUp('disableAccount', [])).toEqual({ status: 'unsuccessful', errorCode: 'accountNotFound' });
  });

  it('makes an Enable with nothing to count successful (nothing needed restoring)', () => {
    expect(rollUp('enableAccount', [t('skipped', 'leftDisabled')])).toEqual({
      status: 'successful',
      errorCode: null,
    });
    expect(rollUp('enableAccount', [])).toEqual({ status: 'successful', errorCode: null });
  });

  it('counts superseded and cancelled targets as not done (CONTRACT §4.1)', () => {
    expect(rollUp('enableAccount', [t('skipped', 'superseded'), t('skipped', 'superseded')])).toEqual({
      status: 'unsuccessful',
      errorCode: null,
    });
    expect(rollUp('enableAccount', [t('succeeded', 'enabled'), t('skipped', 'superseded')]).status).toBe(
      'partiallySuccessful',
    );
    expect(rollUp('disableAccount', [t('succeeded', 'disabled'), t('skipped', 'cancelled')]).status).toBe(
      'partiallySuccessful',
    );
    expect(rollUp('disableAccount', [t('skipped', 'cancelled')]).status).toBe('unsuccessful');
  });
});
