/**
 * How long to wait before the first poll after accepting challenges or finalizing. The CA works for
 * about as long as a few of its round trips (a validation is several fetches), and a loaded CA or
 * client shows longer round trips, so the first poll scales with the slowest one seen: early enough
 * to notice a fast CA in tens of milliseconds, late enough that it usually finds the order settled.
 */
export function firstPollDelay(slowestRoundTripMs: number): number {
  return Math.min(1_000, Math.max(25, 4 * slowestRoundTripMs));
}
