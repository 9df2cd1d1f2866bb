import type { RateLimit } from "./ca-limits.ts";

/**
 * A token bucket as a theoretical arrival time (GCRA): the bucket is full when `tat <= now`, and each
 * token spent moves `tat` forward by `periodMs / count`. One number per bucket, so a compare-and-set on
 * it spends atomically. Let's Encrypt computes its limits the same way (a bucket refilled continuously).
 */
export interface BucketState {
  /** Theoretical arrival time, epoch ms. */
  readonly tat: number;
  /** Nothing may be spent before this (a CA's refusal with `Retry-After` paused the bucket). */
  readonly pausedUntil?: number;
  /** Tokens spent so far (a spend's sequence number: see {@link issuedAt}); absent in records written before it was kept. */
  readonly n?: number;
  /**
   * The interval (`periodMs / count`) `tat` was counted in: the limit it was written under (see
   * {@link underLimit}); absent in records written before it was kept.
   */
  readonly interval?: number;
}

/** The outcome of spending `tokens` from a bucket at `now`. */
export type Spend = { readonly ok: true; readonly next: BucketState } | { readonly ok: false; readonly retryAt: number };

/**
 * Spends `tokens` if the bucket holds them; otherwise says when it will. `marginMs` allows for the
 * time between spending here and the request reaching the CA: the CA's bucket refills from when a
 * request arrives, so the stored state counts this spend as arriving as late as `marginMs` from now
 * (the next spend waits accordingly), while this spend is checked as arriving now. That keeps the
 * budget never ahead of the CA's own bucket for requests that take up to `marginMs` to arrive, and
 * costs at most `marginMs / interval` tokens of a burst.
 */
export function spend(limit: RateLimit, state: BucketState | undefined, now: number, tokens = 1, marginMs = 0): Spend {
  if (state?.pausedUntil !== undefined && now < state.pausedUntil) return { ok: false, retryAt: state.pausedUntil };
  const interval = limit.periodMs / limit.count;
  const previous = state?.tat ?? now;
  // The bucket holds `count` tokens: spending is allowed while the debt stays within one period.
  const allowedAt = Math.max(previous, now) + tokens * interval - limit.periodMs;
  if (allowedAt > now) return { ok: false, retryAt: Math.ceil(allowedAt) };
  return { ok: true, next: { tat: Math.max(previous, now + marginMs) + tokens * interval, n: (state?.n ?? 0) + tokens } };
}

/**
 * The bucket once spend number `seq` is known to reach the CA only at `at` (when its request is
 * sent, plus the send margin): the CA's bucket refills from when it counts a request, not from when
 * the budget admitted it — later when the order waited for its lock, and much later for the limits
 * Let's Encrypt checks at newOrder but spends at finalize (Certificates per Registered Domain, per
 * Exact Set of Identifiers). The bucket is moved to the latest the CA's can be: `at` plus one interval
 * for that spend and each spend after it (a token bucket's state after a run of spends is decided by
 * the earliest of them that found it idle). Undefined when nothing changes (already that late, or a
 * record that keeps no count).
 */
export function countedFrom(limit: RateLimit, state: BucketState | undefined, seq: number, at: number): BucketState | undefined {
  if (state?.n === undefined || !(seq >= 1) || seq > state.n) return undefined;
  const tat = at + (state.n - seq + 1) * (limit.periodMs / limit.count);
  return tat > state.tat ? { ...state, tat } : undefined;
}

/**
 * The bucket after the CA refused with `Retry-After` until `until`: nothing before then, and from then
 * one token, then one per interval — the CA's own bucket after a refusal is empty with its next token
 * at `until`, so a budget that counted more (requests that reached the CA later than it assumed, an
 * outside client on the same account) does not send a burst the CA refuses again. Never earlier.
 * `emptied` false: the refusal was for a limit this bucket stands in for, not its own (see
 * `RateLimitRefusal.pauseOnly`): paused until then, its tokens kept.
 */
export function paused(limit: RateLimit, state: BucketState | undefined, until: number, now: number, emptied = true): BucketState | undefined {
  if (state?.pausedUntil !== undefined && state.pausedUntil >= until) return undefined;
  const interval = limit.periodMs / limit.count;
  // A refusal for another limit (emptied false) only stops the bucket until then: its tokens stay.
  const tat = emptied ? Math.max(state?.tat ?? now, now, until + limit.periodMs - interval) : (state?.tat ?? now);
  return { ...state, tat, pausedUntil: until };
}

/** Gives `tokens` back (an order that was budgeted but never sent). */
export function refund(limit: RateLimit, state: BucketState, now: number, tokens = 1): BucketState {
  const interval = limit.periodMs / limit.count;
  // The count stays: a refunded spend still counts as one made, which only makes issuedAt more careful.
  return { ...state, tat: Math.max(now, state.tat - tokens * interval) };
}

/** Tokens the bucket holds at `now` (for views; 0 while paused). */
export function available(limit: RateLimit, state: BucketState | undefined, now: number): number {
  if (state?.pausedUntil !== undefined && now < state.pausedUntil) return 0;
  const interval = limit.periodMs / limit.count;
  const debt = Math.max(0, (state?.tat ?? now) - now);
  return Math.max(0, Math.floor((limit.periodMs - debt) / interval + 1e-9));
}

/**
 * `state`, written under the limit of `state.interval`, as `limit` counts it: the tokens it owes past
 * `now` are kept, not the time (CA_LIMITS changed between deploys). Read as time, a bucket whose one
 * token of 1 an hour was spent read under 100 an hour as if all 100 were (the next order waited 36 s
 * for a bucket holding 99), and under a lower limit as owing less than it did. Never more than one
 * period of `limit` owed: a spend is only allowed while the debt stays within one (see {@link spend}).
 */
export function underLimit(limit: RateLimit, state: BucketState | undefined, now: number): BucketState | undefined {
  const interval = limit.periodMs / limit.count;
  if (state === undefined || state.interval === undefined || state.interval === interval || !(state.interval > 0)) return state;
  const owed = (Math.max(0, state.tat - now) / state.interval) * interval;
  return { ...state, tat: owed > 0 ? now + Math.min(owed, limit.periodMs) : state.tat, interval };
}
