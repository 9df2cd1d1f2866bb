import { AcmeProblem } from "../acme/problem.ts";
import { isEdgecertError } from "../errors.ts";
import type { RenewalInfo } from "../acme/types.ts";
import type { RenewalFailure, RenewalState } from "./records.ts";

/** When to renew, as one of these: a fixed time before expiry, or a fraction of the lifetime left. */
export type RenewBefore = { ms: number } | { ratio: number };

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The most of a lifetime `renewBefore` may claim: a `renewBefore` longer than this (30 days on a
 * 6-day certificate) would make every new certificate due at once, renewing in a loop.
 */
export const MAX_RENEW_BEFORE_FRACTION = 0.5;

/** Longest `Retry-After` the manager waits for between attempts (a CA asking for more is capped). */
export const MAX_RETRY_AFTER_MS = 7 * DAY;

/**
 * Renewal time without ARI: `renewBefore.ms` before expiry, or when `ratio` of the lifetime remains
 * (default 1/3, as Let's Encrypt recommends) — never earlier than half-way through the lifetime.
 */
export function renewAtFromLifetime(notBefore: number, notAfter: number, renewBefore: RenewBefore = { ratio: 1 / 3 }): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const asked = "ms" in renewBefore ? renewBefore.ms : lifetime * renewBefore.ratio;
  const before = Math.min(Math.max(0, Number.isFinite(asked) ? asked : lifetime), lifetime * MAX_RENEW_BEFORE_FRACTION);
  return notAfter - before;
}

/** The share of a lifetime over which renewals without ARI are spread, centred on the planned time. */
export const RENEWAL_SPREAD_FRACTION = 1 / 15;

/**
 * A number in [0, 1) fixed by `key`: the same in every process, spread evenly even for keys that
 * differ in one character (consecutive serial numbers). FNV-1a, then MurmurHash3's finalizer to mix it.
 */
function unitFromKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 2 ** 32;
}

/**
 * `renewAt` moved to a point of a window of {@link RENEWAL_SPREAD_FRACTION} of the lifetime around it,
 * chosen by `key` (the certificate's serial number): certificates issued together — a fleet onboarded
 * in one day — do not all come due in the same minute, and every process computes the same time for
 * one certificate. Never earlier than half-way through the lifetime, as {@link renewAtFromLifetime}.
 * (With ARI the CA's window is used instead: RFC 9773 §4.2 spreads those.)
 */
export function spreadRenewAt(renewAt: number, notBefore: number, notAfter: number, key: string): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const offset = (unitFromKey(key) - 0.5) * lifetime * RENEWAL_SPREAD_FRACTION;
  return Math.min(notAfter, Math.max(notBefore + lifetime * MAX_RENEW_BEFORE_FRACTION, renewAt + offset));
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
  const base = Math.min(cap, MINUTE * 2 ** Math.max(0, failures - 1));
  return now + base / 2 + random() * (base / 2);
}

/** The CA's `Retry-After` carried by an error (an ACME problem, or an issuance error wrapping one), in ms. */
export function retryAfterOf(error: unknown): number | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof AcmeProblem && e.retryAfterMs !== undefined) return e.retryAfterMs;
    const own = (e as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof own === "number" && Number.isFinite(own)) return own;
  }
  return undefined;
}

/**
 * The failure state after one more failed attempt: backoff from {@link nextAttemptAfterFailure}, and
 * never before the CA's `Retry-After` (capped at {@link MAX_RETRY_AFTER_MS}).
 */
export function failureAfter(previousFailures: number, error: unknown, now: number, notAfter: number | undefined, random: () => number = Math.random): RenewalFailure {
  if (isEdgecertError(error, "budget_spent")) {
    // Nothing was sent: the fleet's CA budget holds the order back (BudgetSpentError). Not a failed
    // attempt, so no backoff and no growing count (which would push the next real failure's backoff
    // out): the next attempt is when the budget refills, as the CA would allow it then.
    return { failures: Math.max(1, previousFailures), lastError: error.message.slice(0, 1000), nextAttemptAt: now + Math.max(0, retryAfterOf(error) ?? 0) };
  }
  const failures = previousFailures + 1;
  let nextAttemptAt = nextAttemptAfterFailure(failures, now, notAfter, random);
  const retryAfter = retryAfterOf(error);
  if (retryAfter !== undefined) nextAttemptAt = Math.max(nextAttemptAt, now + Math.min(MAX_RETRY_AFTER_MS, Math.max(0, retryAfter)));
  const message = error instanceof Error ? error.message : String(error);
  return { failures, lastError: message.slice(0, 1000), nextAttemptAt };
}

/** The failure state kept in a renewal state, if its last attempt failed. */
export function failureOfState(state: RenewalState): RenewalFailure | undefined {
  if (state.failures === 0 || state.nextAttemptAt === undefined) return undefined;
  return { failures: state.failures, lastError: state.lastError ?? "", nextAttemptAt: state.nextAttemptAt };
}

/** Whether a certificate should be renewed now. */
export function isDue(state: RenewalState, now: number): boolean {
  if (state.nextAttemptAt !== undefined && now < state.nextAttemptAt) return false;
  return now >= state.renewAt;
}

/**
 * When a scheduler should look at a certificate again: its renewal time, or sooner to re-ask the CA's
 * ARI window — but not before a failed attempt's backoff ends.
 */
export function nextCheckAt(state: RenewalState): number {
  const planned = Math.min(state.renewAt, state.ariCheckAt ?? Infinity);
  return state.nextAttemptAt !== undefined && state.failures > 0 ? Math.max(planned, state.nextAttemptAt) : planned;
}
