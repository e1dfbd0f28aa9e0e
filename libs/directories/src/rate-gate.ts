import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DirectoryErrorCodes, transientError } from './directory-error';

/**
 * What a provider's queue consults before it claims a target, so that waiting for a directory's rate limit
 * happens before the claim (which counts an attempt), not in the middle of a target.
 */
export interface TargetPacer {
  /** How long the provider's queue should pause before another target may start; 0: start now. */
  waitBeforeStart(): number;
  /** Runs one target with the requests it is expected to make reserved until it ends. */
  runTarget<T>(fn: () => Promise<T>): Promise<T>;
}

/** What a response said about its bucket (Okta: X-Rate-Limit-Limit / -Remaining / -Reset, in local time). */
export interface BucketReading {
  limit: number;
  remaining: number;
  /** Local epoch ms at which the window ends. */
  resetAt: number;
}

interface Bucket {
  limit?: number;
  remaining?: number;
  resetAt?: number;
  /** Set by a 429: nothing goes out before this (local epoch ms). */
  blockedUntil: number;
  /** Requests reserved by targets running now and not made yet. */
  reserved: number;
  /**
   * Buckets that send no remaining count (Graph): after a 429, requests go out one by one this far apart, in the
   * order they asked, rather than all at once when the block ends (where all but a few would be refused again,
   * and some could lose every time). Widened by each 429, narrowed by each request that passes.
   */
  spacingMs: number;
  /** The earliest time the next spaced request may go out. */
  nextSlot: number;
  /** When the spacing was last widened: the 429s of requests already on the wire then widen it no further. */
  widenedAt: number;
  /** Requests of running targets waiting in `acquire` now. */
  waiting: number;
}

/** Requests a running target has reserved and not made yet, per bucket. */
type Ticket = Map<string, number>;

/**
 * Paces one provider's requests by the directory's own rate-limit buckets. Targets reserve, when they start,
 * the requests they are expected to make in each bucket; a target starts only while every bucket has room
 * for it, so the targets already running never find their bucket empty halfway (an Okta window lasts a
 * minute, far longer than a target may wait). A 429 blocks its bucket until the time the directory named.
 *
 * Within one process this is exact; other clients of the same org or tenant are seen through the headers
 * (Remaining only ever lowers our count) and through 429s. Requests outside a target (adapter tests, the
 * provider test) are held back only by a 429's block, never by our own count.
 */
export class RateGate implements TargetPacer {
  private readonly buckets = new Map<string, Bucket>();
  private readonly tickets = new AsyncLocalStorage<Ticket>();

  constructor(
    /** Requests one target is expected to make, per bucket name (an estimate; more are still allowed). */
    private readonly perTarget: Readonly<Record<string, number>> = {},
    /** A wait longer than this is not done inside a target: `acquire` throws rateLimited instead. */
    readonly maxInlineWaitMs = 5_000,
    /**
     * For directories that tell nothing of their quota but 429s (Graph): after one, requests leave one by one at
     * an adaptive spacing. Directories with counts (Okta) are paced by their counts alone.
     */
    private readonly spaceAfter429 = false,
    private readonly now: () => number = Date.now,
  ) {}

  waitBeforeStart(): number {
    const now = this.now();
    let wait = 0;
    for (const [name, b] of this.buckets) {
      this.roll(b, now);
      if (b.blockedUntil > now) wait = Math.max(wait, b.blockedUntil - now);
      const need = this.perTarget[name] ?? 0;
      if (need > 0 && this.free(b) < need) wait = Math.max(wait, this.untilRoom(b, now));
      // While requests of running targets wait for their turn, new targets would only lengthen the queue and
      // make every target's wait longer than it may be: they start when the queue has drained.
      if (b.spacingMs > 0 && b.waiting > 0)
        wait = Math.max(wait, b.spacingMs * b.waiting, MIN_SPACING_MS, b.nextSlot - now);
    }
    return Math.ceil(wait);
  }

  async runTarget<T>(fn: () => Promise<T>): Promise<T> {
    const ticket: Ticket = new Map(Object.entries(this.perTarget));
    for (const [name, n] of ticket) this.bucket(name).reserved += n;
    try {
      return await this.tickets.run(ticket, fn);
    } finally {
      for (const [name, left] of ticket) this.bucket(name).reserved -= left;
    }
  }

  /**
   * Before one request in `bucket`: returns when it may go out, after waiting (up to maxInlineWaitMs) if the
   * bucket is blocked or, inside a target with no reservation left there, empty. A longer wait throws a
   * transient rateLimited DirectoryError carrying it. `since`: when the caller began waiting for this request
   * (its earlier tries included), so that the bound holds for the request, not each try.
   */
  async acquire(bucket: string, signal?: AbortSignal, since: number = this.now()): Promise<void> {
    const b = this.bucket(bucket);
    b.waiting++;
    try {
      await this.waitTurn(b, bucket, signal, since);
    } finally {
      b.waiting--;
    }
  }

  private async waitTurn(b: Bucket, bucket: string, signal: AbortSignal | undefined, started: number) {
    for (;;) {
      const now = this.now();
      this.roll(b, now);
      const ticket = this.tickets.getStore();
      const own = ticket?.get(bucket) ?? 0;
      let wait = b.blockedUntil > now ? b.blockedUntil - now : 0;
      if (!wait && ticket && own === 0 && this.free(b) <= 0) wait = this.untilRoom(b, now);
      const spaced = !wait && b.spacingMs > 0;
      if (spaced) wait = Math.max(0, b.nextSlot - now);
      // The whole wait of one request is bounded, however often a block or another's slot moves it on.
      const waited = now - started;
      if (waited + wait > this.maxInlineWaitMs) {
        throw transientError(
          DirectoryErrorCodes.rateLimited,
          `the directory's ${bucket} rate limit has no room for another request for ${Math.ceil(wait / 1000)} s`,
          Math.max(Math.ceil(wait), 1),
        );
      }
      if (spaced) {
        // The slot is taken now, so that requests leave in the order they asked.
        b.nextSlot = now + wait + b.spacingMs;
        if (wait) await sleep(wait, undefined, { signal });
        if (b.blockedUntil > this.now()) continue;
        wait = 0;
      }
      if (!wait) {
        if (own > 0) {
          ticket?.set(bucket, own - 1);
          b.reserved--;
        }
        if (b.remaining !== undefined) b.remaining--;
        return;
      }
      await sleep(wait, undefined, { signal });
    }
  }

  /** A request in `bucket` was answered without a 429: spaced buckets narrow their spacing a little. */
  passed(bucket: string): void {
    const b = this.bucket(bucket);
    if (b.spacingMs > 0)
      b.spacingMs = b.spacingMs * SPACING_NARROWING < 1 ? 0 : b.spacingMs * SPACING_NARROWING;
  }

  /** After a response in `bucket` that reported the bucket's state. */
  observe(bucket: string, reading: BucketReading): void {
    const now = this.now();
    // An answer from a window that has already ended says nothing about the current one.
    if (reading.resetAt <= now) return;
    const b = this.bucket(bucket);
    this.roll(b, now);
    // A window ending well before the one we know is another limit's (a burst refused on behalf of other
    // clients, or another of the directory's limits mapped to this bucket): its count says nothing of our
    // window, and a 429 from it is sat out by block(). Kept, it emptied the bucket until our window's end.
    if (b.resetAt !== undefined && reading.resetAt < b.resetAt - SAME_WINDOW_SLACK_MS) return;
    b.limit = reading.limit;
    if (b.resetAt !== undefined && reading.resetAt > b.resetAt + SAME_WINDOW_SLACK_MS) {
      // The next window began before our estimate of the last one's end (late by under a second, see
      // oktaBucketReading): its count replaces the spent one's. Kept with the later end, the old window's 0
      // held the bucket empty for a whole extra window.
      b.resetAt = reading.resetAt;
      b.remaining = reading.remaining;
      return;
    }
    b.resetAt = Math.max(b.resetAt ?? 0, reading.resetAt);
    // Our own count already holds the requests still on the wire; a lower Remaining means other clients.
    b.remaining = Math.min(b.remaining ?? Number.POSITIVE_INFINITY, reading.remaining);
  }

  /** A 429: nothing more goes out in this bucket for waitMs. */
  block(bucket: string, waitMs: number): void {
    const b = this.bucket(bucket);
    const now = this.now();
    b.blockedUntil = Math.max(b.blockedUntil, now + waitMs);
    // The count is left to the headers: a 429 of the bucket's own window says Remaining 0 and its end, while
    // a burst refused on behalf of other clients (a nearer reset) must not empty the bucket for the whole window.
    // Requests sent together are refused together: one widening per block, not one per refusal.
    if (this.spaceAfter429 && now >= b.widenedAt + Math.max(waitMs, b.spacingMs)) {
      b.spacingMs = Math.min(MAX_SPACING_MS, Math.max(MIN_SPACING_MS, b.spacingMs * 2));
      b.widenedAt = now;
    }
  }

  private bucket(name: string): Bucket {
    let b = this.buckets.get(name);
    if (!b) {
      b = { blockedUntil: 0, reserved: 0, spacingMs: 0, nextSlot: 0, widenedAt: 0, waiting: 0 };
      this.buckets.set(name, b);
    }
    return b;
  }

  /** A window that has ended gives way to a full one (its end is learnt from the next answer). */
  private roll(b: Bucket, now: number): void {
    if (b.resetAt !== undefined && b.resetAt <= now) {
      b.resetAt = undefined;
      b.remaining = b.limit;
    }
  }

  private free(b: Bucket): number {
    return (b.remaining ?? Number.POSITIVE_INFINITY) - b.reserved;
  }

  /** How long until the bucket has room again: its window's end, or a short look again if that is unknown. */
  private untilRoom(b: Bucket, now: number): number {
    return b.resetAt !== undefined ? Math.max(1, b.resetAt - now) : UNKNOWN_WINDOW_RETRY_MS;
  }
}

/** Answers of one window may name ends this far apart (Okta's Date header has whole seconds). */
const SAME_WINDOW_SLACK_MS = 1_000;
/** A bucket ran dry before any answer of its new window told us when that window ends. */
const UNKNOWN_WINDOW_RETRY_MS = 1_000;
/**
 * The spacing after a first 429 (then doubled by each block), at most this, and narrowed by each pass. Erring
 * fast costs little against a token bucket: tokens not used meanwhile stay in the bucket, and a refused request
 * costs no quota (the 429 is sat out inside the target).
 */
const MIN_SPACING_MS = 20;
const MAX_SPACING_MS = 1_000;
const SPACING_NARROWING = 0.95;
