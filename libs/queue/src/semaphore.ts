/**
 * At most `size` holders at once, served in the order they asked. A provider's concurrency is one of these
 * shared by its single-target jobs and the targets of its chunk jobs, since BullMQ's own concurrency counts
 * jobs, and a chunk job is many targets.
 */
export class Semaphore {
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`semaphore size must be a positive integer: ${size}`);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.held < this.size) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot straight to the next in line, so a newcomer cannot overtake someone already waiting. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held--;
  }
}
