import { EdgecertError } from "../errors.ts";
import { sleep, throwIfAborted } from "./retry.ts";

/** How long and how often to poll an order or authorization. */
export interface PollOptions {
  /** Give up after this many ms (default 300 000). */
  timeoutMs?: number;
  /** First delay when the CA sends no `Retry-After` (default 25 ms). */
  initialDelayMs?: number;
  /** Cap on one delay when the CA sends no `Retry-After` (default 2 000 ms). */
  maxDelayMs?: number;
  /** Most polls before giving up (default 400). */
  maxPolls?: number;
  /**
   * Wait before the first poll too — for when the caller knows the object is still pending (it just
   * accepted a challenge or finalized), so an immediate poll would be a wasted request.
   */
  delayFirst?: boolean;
}

/** Smallest delay between two polls (without `Retry-After`). */
const MIN_POLL_DELAY_MS = 25;

/**
 * Polls `fetchOnce` until `done` says so. Waits what the CA's `Retry-After` asks (RFC 8555 §7.4: clients
 * SHOULD honour it); without one, starts at tens of milliseconds and grows ×1.6 with ±25 % jitter to a
 * cap — a CA that answers fast is seen fast, one that is slow is not hammered.
 */
export async function poll<T extends { retryAfterMs?: number }>(
  fetchOnce: (signal?: AbortSignal) => Promise<T>,
  done: (value: T) => boolean,
  options: PollOptions & { signal?: AbortSignal },
  what: string,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const maxPolls = options.maxPolls ?? 400;
  const deadline = Date.now() + timeoutMs;
  let delay = options.initialDelayMs ?? 25;
  const cap = options.maxDelayMs ?? 2_000;
  const jittered = () => delay * (0.75 + Math.random() * 0.5);
  // Later polls back off from at least MIN_POLL_DELAY_MS, even after a first poll sent at once.
  const grow = () => (delay = Math.min(cap, Math.max(MIN_POLL_DELAY_MS, delay) * 1.6));
  if (options.delayFirst) {
    await sleep(jittered(), options.signal);
    grow();
  }
  for (let n = 0; ; n++) {
    const value = await fetchOnce(options.signal);
    if (done(value)) return value;
    const wait = value.retryAfterMs ?? jittered();
    if (n + 1 >= maxPolls || Date.now() + wait > deadline) {
      throw new EdgecertError("timeout", `${what} did not settle after ${n + 1} polls / ${timeoutMs} ms`);
    }
    await sleep(wait, options.signal);
    throwIfAborted(options.signal);
    grow();
  }
}
