import type { RenewalInfo } from "../acme/types.ts";
import type { RenewalState } from "./records.ts";

/** When to renew, as one of these: a fixed time before expiry, or a fraction of the lifetime left. */
export type RenewBefore = { ms: number } | { ratio: number };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Renewal time without ARI: `renewBefore.ms` before expiry, or when `ratio` of the lifetime remains
 * (default 1/3, as Let's Encrypt recommends).
 */
export function renewAtFromLifetime(notBefore: number, notAfter: number, renewBefore: RenewBefore = { ratio: 1 / 3 }): number {
  const lifetime = notAfter - notBefore;
  const before = "ms" in renewBefore ? renewBefore.ms : lifetime * renewBefore.ratio;
  return notAfter - Math.min(before, lifetime);
}

/** RFC 9773 §4.2: pick a uniformly random time inside the suggested window (past starts mean now). */
export function renewAtFromAri(info: RenewalInfo, now: number, random: () => number = Math.random): number {
  const start = Math.max(now, info.suggestedWindow.start.getTime());
  const end = Math.max(start, info.suggestedWindow.end.getTime());
  return start + random() * (end - start);
}

/**
 * After `failures` consecutive failures, the earliest next attempt: exponential from one minute, with
 * jitter, capped at a day — and at an hour once the certificate is close to expiry (emergency), so
 * a transient outage cannot let it lapse.
 */
export function nextAttemptAfterFailure(failures: number, now: number, notAfter: number | undefined, random: () => number = Math.random): number {
  const cap = notAfter !== undefined && notAfter - now < 2 * DAY ? HOUR : DAY;
  const base = Math.min(cap, 60_000 * 2 ** Math.max(0, failures - 1));
  return now + base / 2 + random() * (base / 2);
}

/** Whether a certificate should be renewed now. */
export function isDue(state: RenewalState, now: number): boolean {
  if (state.nextAttemptAt !== undefined && now < state.nextAttemptAt) return false;
  return now >= state.renewAt;
}
