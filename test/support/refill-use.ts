/**
 * Where a token bucket's refill went, replayed from the times the CA counted its spends (counted here,
 * independently of the budget's code): a bucket of `count` per `periodMs`, full at `start` (when the
 * names were submitted: the time the limits allow counts from there).
 *
 * The whole workload's time splits exactly into what the limits allow and two losses:
 *   last spend − start = (N − count) / rate + fullMs + leftover / rate
 * — `fullMs`, the time the bucket sat full (its refill thrown away: nobody spent while it could), and
 * `leftover`, tokens still in it after the last spend (refilled, never spent before the end: the last
 * spends came later than they could have). Used by the onboarding bench through the Worker to say
 * where its excess over 1.00x goes.
 * @module
 */

/** One bucket's replay. */
export interface RefillUse {
  /** Spends replayed. */
  spends: number;
  /** Time the bucket sat full after `start`, up to the last spend (ms): refill thrown away. */
  fullMs: number;
  /** Of {@link fullMs}, the part before the first spend (ms): from submitting the names to the first order counted. */
  fullBeforeFirstMs: number;
  /** Tokens left after the last spend: refill the run did not use before it ended. */
  leftover: number;
  /** The excess over the time the limits allow this bucket explains: fullMs + leftover / rate (ms). */
  lostMs: number;
  /** Spends that found no token (the CA would have refused them; 0 expected). */
  overdrawn: number;
}

/** Replays `times` (any order) through a bucket of `count` per `periodMs` full at `start`. */
export function refillUse(times: readonly number[], count: number, periodMs: number, start: number): RefillUse {
  const rate = count / periodMs;
  const sorted = [...times].sort((a, b) => a - b);
  let tokens = count;
  let at = start;
  let fullMs = 0;
  let fullBeforeFirstMs = 0;
  let overdrawn = 0;
  for (const [i, t] of sorted.entries()) {
    const now = Math.max(t, at);
    // The bucket reaches `count` after (count − tokens) / rate and stays full until `now`.
    const full = Math.max(0, now - at - (count - tokens) / rate);
    fullMs += full;
    if (i === 0) fullBeforeFirstMs = full;
    tokens = Math.min(count, tokens + (now - at) * rate);
    at = now;
    if (tokens < 1 - 1e-9) overdrawn++;
    tokens -= 1;
  }
  const leftover = Math.max(0, tokens);
  return { spends: sorted.length, fullMs, fullBeforeFirstMs, leftover, lostMs: fullMs + leftover / rate, overdrawn };
}
