/**
 * Replays grants through a token bucket counted here, independently of the budget's code (GCRA in
 * src/budget/token-bucket.ts): `count` tokens, refilled continuously at `count` per `periodMs`, full at
 * `start` — how Let's Encrypt counts, and how test/support/rate-limiting-ca.ts refuses.
 * @module
 */

/** A continuous token bucket. */
export class ReplayBucket {
  #tokens: number;
  #at: number;

  constructor(
    private readonly count: number,
    private readonly periodMs: number,
    start: number,
  ) {
    this.#tokens = count;
    this.#at = start;
  }

  /** Takes one token at `now` (not before the last take); false when there is none. */
  take(now: number): boolean {
    this.#tokens = Math.min(this.count, this.#tokens + ((now - this.#at) * this.count) / this.periodMs);
    this.#at = now;
    if (this.#tokens < 1 - 1e-9) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** The grants (times, any order) that find no token in a bucket of `count` per `periodMs` full at `start`. */
export function overSpent(times: readonly number[], count: number, periodMs: number, start: number): number[] {
  const bucket = new ReplayBucket(count, periodMs, start);
  return [...times].sort((a, b) => a - b).filter((t) => !bucket.take(t));
}
