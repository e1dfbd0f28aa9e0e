import { againAfterDeadlock } from './deadlock-retry';

describe('againAfterDeadlock', () => {
  const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });

  it('runs a deadlock victim again and returns what the next run returns', async () => {
    let runs = 0;
    const result = await againAfterDeadlock(async () => {
      runs++;
      if (runs < 3) throw deadlock;
      return 'created';
    });
    expect([result, runs]).toEqual(['created', 3]);
  });

  it('gives up after the last try with the deadlock itself', async () => {
    let runs = 0;
    await expect(
      againAfterDeadlock(async () => {
        runs++;
        throw deadlock;
      }, 2),
    ).rejects.toBe(deadlock);
    expect(runs).toBe(2);
  });

  it('never repeats any other failure', async () => {
    let runs = 0;
    const unique = Object.assign(new Error('duplicate key'), { code: '23505' });
    await expect(
      againAfterDeadlock(async () => {
        runs++;
        throw unique;
      }),
    ).rejects.toBe(unique);
    expect(runs).toBe(1);
  });
});
