/** What the first poll's timing is decided from. */
export interface PollSignals {
  /** The CA's `Retry-After` on the responses that started the work, if it sent one. */
  retryAfterMs?: number | undefined;
  /**
   * How long the CA itself took on the slowest of those requests (duration less the network round
   * trip; never time spent waiting for a nonce).
   */
  serverMs: number;
  /** The network round trip to the CA. */
  roundTripMs: number | undefined;
  /** Whether the client treats the CA as far (round trips are the cost) or near (requests are). */
  far: boolean;
  /** Wall time of the slowest of those requests, as the caller saw it (near mode only). */
  slowestCallMs: number;
}

/**
 * How long to wait before the first poll after accepting challenges or finalizing. A CA that says
 * (`Retry-After`, RFC 8555 §7.4 / §8.2) is believed. Otherwise the CA's work (a validation is a few
 * fetches of its own; issuing is signing) is taken as a few times what its slowest request cost it,
 * at least 50 ms — a loaded CA shows slower requests — and the poll is sent one network round trip
 * before that work should end, since it spends half a round trip on the way there and the work began
 * half a round trip before the last response arrived. Near the CA this waits tens of milliseconds, so
 * the first poll usually finds the order settled (no extra request); far from it, the poll leaves at
 * once. Near the CA (requests are the currency there, not round trips) the wait is a few times the
 * slowest call instead. Capped at one second; later polls back off (see `poll`).
 */
export function firstPollDelay(signals: PollSignals): number {
  if (signals.retryAfterMs !== undefined) return signals.retryAfterMs;
  // Near the CA a round trip costs milliseconds and a second poll costs a request: wait generously,
  // a few times the slowest call (capped at a second), so the first poll finds the order settled.
  if (!signals.far) return Math.min(1_000, Math.max(25, 4 * signals.slowestCallMs));
  const work = Math.max(50, 4 * signals.serverMs);
  return Math.min(1_000, Math.max(0, work - (signals.roundTripMs ?? 0)));
}
