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
  return { ok: true, next: { tat: Math.max(previous, now + marginMs) + tokens * interval } };
}

/** Gives `tokens` back (an order that was budgeted but never sent). */
export function refund(limit: RateLimit, state: BucketState, now: number, tokens = 1): BucketState {
  const interval = limit.periodMs / limit.count;
  const tat = Math.max(now, state.tat - tokens * interval);
  return state.pausedUntil !== undefined ? { tat, pausedUntil: state.pausedUntil } : { tat };
}

/** Tokens the bucket holds at `now` (for views; 0 while paused). */
export function available(limit: RateLimit, state: BucketState | undefined, now: number): number {
  if (state?.pausedUntil !== undefined && now < state.pausedUntil) return 0;
  const interval = limit.periodMs / limit.count;
  const debt = Math.max(0, (state?.tat ?? now) - now);
  return Math.max(0, Math.floor((limit.periodMs - debt) / interval + 1e-9));
}
