import { CachedSample } from './cached-sample';

describe('CachedSample', () => {
  it('serves a fresh sample without reading again, and reads again once it is stale', async () => {
    let now = 1_000;
    let reads = 0;
    const sample = new CachedSample(
      async () => ++reads,
      5_000,
      1_000,
      () => now,
    );
    expect(await sample.get()).toBe(1);
    now += 4_999;
    expect(await sample.get()).toBe(1);
    now += 1;
    expect(await sample.get()).toBe(2);
  });

  it('shares one read between scrapes that arrive together', async () => {
    let reads = 0;
    let release!: (n: number) => void;
    const sample = new CachedSample(
      () => {
        reads++;
        return new Promise<number>((r) => (release = r));
      },
      5_000,
      1_000,
    );
    const both = Promise.all([sample.get(), sample.get()]);
    release(7);
    expect(await both).toEqual([7, 7]);
    expect(reads).toBe(1);
  });

  it('gives up after its time-out (null, so the series are left out) and never piles reads up', async () => {
    jest.useFakeTimers();
    try {
      let reads = 0;
      const sample = new CachedSample(
        () => {
          reads++;
          return new Promise<number>(() => undefined); // a Redis that never answers
        },
        5_000,
        1_000,
      );
      const first = sample.get();
      const second = sample.get();
      await jest.advanceTimersByTimeAsync(1_000);
      expect(await first).toBeNull();
      expect(await second).toBeNull();
      expect(reads).toBe(1);
      // The timed-out read is over: the next scrape tries again rather than waiting on it for ever.
      const third = sample.get();
      await jest.advanceTimersByTimeAsync(1_000);
      expect(await third).toBeNull();
      expect(reads).toBe(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('answers null when the read fails, and reads again at the next scrape', async () => {
    let fail = true;
    const sample = new CachedSample(
      async () => {
        if (fail) throw new Error('ECONNREFUSED');
        return 'ok';
      },
      5_000,
      1_000,
    );
    expect(await sample.get()).toBeNull();
    fail = false;
    expect(await sample.get()).toBe('ok');
  });
});
