import { rollUp } from './roll-up';

describe('rollUp (CONTRACT §4)', () => {
  it('is inProgress while any target is pending or running', () => {
    expect(rollUp('disableAccount', ['succeeded', 'pending']).status).toBe('inProgress');
    expect(rollUp('enableAccount', ['failed', 'running', 'succeeded']).status).toBe('inProgress');
  });

  it('is successful when every counted target succeeded, ignoring skipped ones', () => {
    expect(rollUp('disableAccount', ['succeeded', 'skipped', 'succeeded'])).toEqual({
      status: 'successful',
      errorCode: null,
    });
  });

  it('is partiallySuccessful when some succeeded and some failed', () => {
    expect(rollUp('disableAccount', ['succeeded', 'failed', 'skipped']).status).toBe('partiallySuccessful');
  });

  it('is unsuccessful when every counted target failed', () => {
    expect(rollUp('enableAccount', ['failed', 'skipped', 'failed']).status).toBe('unsuccessful');
  });

  it('makes a Disable with nothing to count unsuccessful with accountNotFound', () => {
    expect(rollUp('disableAccount', ['skipped', 'skipped'])).toEqual({
      status: 'unsuccessful',
      errorCode: 'accountNotFound',
    });
    expect(rollUp('disableAccount', [])).toEqual({ status: 'unsuccessful', errorCode: 'accountNotFound' });
  });

  it('makes an Enable with nothing to count successful (nothing needed restoring)', () => {
    expect(rollUp('enableAccount', ['skipped'])).toEqual({ status: 'successful', errorCode: null });
    expect(rollUp('enableAccount', [])).toEqual({ status: 'successful', errorCode: null });
  });
});
