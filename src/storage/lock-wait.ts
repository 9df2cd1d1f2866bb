import { abortError, sleep as abortableSleep, throwIfAborted } from "../abort.ts";
import { EdgecertError } from "../errors.ts";
import type { Lease, LockOptions } from "./storage.ts";
import { assertValidKey } from "./keys.ts";

/** Default lease length. */
export const DEFAULT_TTL_MS = 60_000;
/** First and largest pause between attempts while another owner holds the lock. */
const MIN_POLL_MS = 5;
const MAX_POLL_MS = 200;

/** {@link LockOptions} with defaults applied and values checked. */
export interface LockSettings {
  ttlMs: number;
  waitMs: number;
  signal: AbortSignal | undefined;
}

/** One try at taking a lock: the lease, or when the current holder's lease lapses (if known). */
export type LockAttempt = { lease: Lease } | { lease?: undefined; heldUntil?: number };

/** Sleeps `ms`; may return early (on a local release, or when `signal` fires: the caller checks it). */
export type LockSleep = (ms: number, signal: AbortSignal | undefined) => Promise<void>;

/** Checks a lock name and options; `invalid_input` for bad ones. */
export function lockSettings(name: string, options: LockOptions | undefined): LockSettings {
  assertValidKey(name, "lock name");
  const ttlMs = options?.ttlMs ?? DEFAULT_TTL_MS;
  checkTtl(ttlMs);
  const waitMs = options?.waitMs ?? ttlMs;
  if (typeof waitMs !== "number" || !(waitMs >= 0) || !Number.isFinite(waitMs)) {
    throw new EdgecertError("invalid_input", `lock waitMs must be a finite number ≥ 0, got ${String(waitMs)}`);
  }
  return { ttlMs, waitMs, signal: options?.signal };
}

/** Throws `invalid_input` unless `ttlMs` is a positive finite number. */
export function checkTtl(ttlMs: number): void {
  if (typeof ttlMs !== "number" || !(ttlMs > 0) || !Number.isFinite(ttlMs)) {
    throw new EdgecertError("invalid_input", `lock ttlMs must be a finite number > 0, got ${String(ttlMs)}`);
  }
}

/**
 * Calls `attempt` until it yields a lease, `waitMs` runs out (`EdgecertError("storage")`) or the signal
 * fires (`EdgecertError("aborted")`). Pauses grow from 5 to 200 ms with jitter, and never outlast the
 * holder's lease when the backend says when that lapses. A lease won while the signal fired is
 * released again, so an aborted caller never holds a lock it does not know about.
 */
export async function acquireWithin(name: string, settings: LockSettings, attempt: () => Promise<LockAttempt>, sleep: LockSleep = abortableSleep): Promise<Lease> {
  const { signal } = settings;
  const deadline = Date.now() + settings.waitMs;
  let pause = MIN_POLL_MS;
  for (;;) {
    throwIfAborted(signal);
    const result = await attempt();
    if (result.lease) {
      if (signal?.aborted) {
        await result.lease.release().catch(() => undefined);
        throw abortError(signal);
      }
      return result.lease;
    }
    throwIfAborted(signal);
    const now = Date.now();
    if (now >= deadline) {
      throw new EdgecertError("storage", `lock "${name}" is held by another owner; gave up after ${settings.waitMs} ms`);
    }
    let delay = pause * (0.5 + Math.random());
    if (result.heldUntil !== undefined) delay = Math.min(delay, Math.max(1, result.heldUntil - now + 1));
    await sleep(Math.min(delay, deadline - now), signal);
    pause = Math.min(pause * 1.5, MAX_POLL_MS);
  }
}
