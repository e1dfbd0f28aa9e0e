/**
 * A value read from a dependency (Redis, PostgreSQL) when Prometheus scrapes. A scrape never waits longer than
 * `timeoutMs`, and scrapes that arrive together share one read, so a slow or unreachable dependency can neither
 * hang the scrape nor pile reads up behind it. A sample younger than `ttlMs` is served as it is.
 */
export class CachedSample<T> {
  private fresh: { at: number; value: T } | null = null;
  private reading: Promise<T> | null = null;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly ttlMs: number,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The sample, or null when the dependency did not answer in time (the series are left out, not faked). */
  async get(): Promise<T | null> {
    if (this.fresh && this.now() - this.fresh.at < this.ttlMs) return this.fresh.value;
    if (!this.reading) {
      const started = this.now();
      const reading = bounded(this.read(), this.timeoutMs).then((value) => {
        this.fresh = { at: started, value };
        return value;
      });
      this.reading = reading;
      void reading.then(
        () => this.settled(reading),
        () => this.settled(reading),
      );
    }
    return this.reading.catch(() => null);
  }

  private settled(reading: Promise<T>): void {
    if (this.reading === reading) this.reading = null;
  }
}

function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  // The losing promise of the race must not surface as an unhandled rejection.
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
