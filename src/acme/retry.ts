/** How edgecert retries transient failures. Every loop is bounded. */
export interface RetryPolicy {
  /**
   * Attempts for one request when the failure is transient (network error, truncated or unparsable
   * body, 5xx, 429). Default 8: under a 25 % fault rate one request still fails all 8 about once in
   * 65,000 requests (five attempts failed once in a thousand, a few times per issuance batch).
   */
  maxAttempts: number;
  /** Retries of one request after `badNonce` (RFC 8555 §6.5); each with a fresh nonce. Default 30. */
  maxBadNonceRetries: number;
  /** First backoff delay in ms; doubles each attempt, with full jitter. Default 200. */
  baseDelayMs: number;
  /** Cap on one backoff delay in ms. Default 10 000. */
  maxDelayMs: number;
  /** Longest `Retry-After` we are willing to sleep inside one call, in ms; longer ones are thrown. Default 60 000. */
  maxRetryAfterMs: number;
  /** Per-request timeout in ms. Default 30 000. */
  requestTimeoutMs: number;
}

/** The defaults of {@link RetryPolicy}. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  maxAttempts: 8,
  maxBadNonceRetries: 30,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
  requestTimeoutMs: 30_000,
};

/**
 * What an HTTP status from the CA means for a retry — the one place edgecert decides it (the client's
 * retry loop and the CLI's messages read it from here):
 * - `throttled`: 429 (RFC 8555 §6.6) and 503 (RFC 9110 §15.6.4): wait (`Retry-After` when given) and
 *   repeat, whatever the request.
 * - `transient`: any other 5xx except those below: repeated when the request is safe to repeat; after
 *   one that is not (newOrder, finalize, a challenge accept, revoke, keyChange) the server may have
 *   acted, so the caller recovers by reading state back instead of resending blindly.
 * - `definitive`: everything else, and 501 Not Implemented (RFC 9110 §15.6.2: the server does not
 *   support the method for any resource) and 505 HTTP Version Not Supported (§15.6.6) — asking again
 *   gets the same answer. `badNonce` (RFC 8555 §6.5) is a 400 retried by its own rule.
 */
export type StatusRetryClass = "throttled" | "transient" | "definitive";

/** See {@link StatusRetryClass}. */
export function statusRetryClass(status: number): StatusRetryClass {
  if (status === 429 || status === 503) return "throttled";
  if (status >= 500 && status <= 599 && status !== 501 && status !== 505) return "transient";
  return "definitive";
}

/** Exponential backoff with "equal jitter": half fixed, half random, so delays never collapse to zero. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** attempt);
  return exp / 2 + random() * (exp / 2);
}

export { abortError, sleep, throwIfAborted } from "../abort.ts";

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns milliseconds
 * (≥ 0), or undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
