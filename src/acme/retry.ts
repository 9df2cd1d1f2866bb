/** How edgecert retries transient failures. Every loop is bounded. */
export interface RetryPolicy {
  /** Attempts for one request when the failure is transient (network error, 5xx, 429). Default 5. */
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
  maxAttempts: 5,
  maxBadNonceRetries: 30,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
  requestTimeoutMs: 30_000,
};

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
