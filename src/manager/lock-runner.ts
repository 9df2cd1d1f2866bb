import { sleep as abortableSleep } from "../abort.ts";
import { EdgecertError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { Fence, Storage } from "../storage/storage.ts";

/** Default lease on a certificate's lock: short, so a killed holder blocks others for seconds only. */
export const DEFAULT_LOCK_TTL_MS = 15_000;
/** Default wait for another instance's lock (an order can take minutes with DNS propagation). */
export const DEFAULT_LOCK_WAIT_MS = 180_000;

/** An abortable sleep (rejects when `signal` fires). */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/** How locks are taken and kept alive. */
export interface LockTiming {
  ttlMs: number;
  waitMs: number;
  sleep?: Sleep;
  logger: Logger;
}

/** What work done under a lock holds: the fence every write must carry, and a signal that fires on lease loss. */
export interface HeldLock {
  readonly fence: Fence;
  readonly signal: AbortSignal;
}

/**
 * The heartbeat interval for a lease of `ttlMs`: a third of it, so two renewals can fail or be slow
 * before the lease lapses.
 */
export function heartbeatIntervalMs(ttlMs: number): number {
  return ttlMs / 3;
}

/**
 * Runs `fn` holding the lock `name`, renewing the lease every third of its TTL. When a renewal fails,
 * or none succeeded within 90 % of the TTL, the lease is treated as lost: the work's signal fires
 * (aborting CA calls), and every write the work still makes is refused by storage because it carries
 * the lease's fence. The lock is released at the end whatever happened.
 */
export async function underLock<T>(
  storage: Storage,
  name: string,
  timing: LockTiming & { signal?: AbortSignal | undefined },
  fn: (held: HeldLock) => Promise<T>,
): Promise<T> {
  const { ttlMs } = timing;
  const lease = await storage.lock(name, { ttlMs, waitMs: timing.waitMs, ...(timing.signal ? { signal: timing.signal } : {}) });
  const lost = new AbortController();
  const stop = new AbortController();
  const signal = timing.signal ? AbortSignal.any([timing.signal, lost.signal]) : lost.signal;
  const sleep = timing.sleep ?? abortableSleep;
  const lose = (err: EdgecertError) => {
    if (lost.signal.aborted || stop.signal.aborted) return;
    timing.logger.log("error", "manager.lease_lost", { lock: name, error: err.message });
    lost.abort(err);
  };
  // Watchdog: a lease not renewed within 90 % of its TTL is treated as lost at once (a paused or
  // partitioned holder stops making CA calls before another instance can take the lock over).
  let watchdog: AbortController | undefined;
  const arm = () => {
    watchdog?.abort();
    const armed = (watchdog = new AbortController());
    sleep(ttlMs * 0.9, AbortSignal.any([armed.signal, stop.signal])).then(
      () => {
        if (!armed.signal.aborted) lose(new EdgecertError("lease_lost", `the lease on ${name} ran out before it could be renewed`));
      },
      () => undefined,
    );
  };
  arm();
  const heartbeat = (async () => {
    for (;;) {
      try {
        await sleep(heartbeatIntervalMs(ttlMs), stop.signal);
      } catch {
        return;
      }
      if (stop.signal.aborted || lost.signal.aborted) return;
      try {
        await lease.renew(ttlMs);
        arm();
      } catch (err) {
        lose(new EdgecertError("lease_lost", `lost the lock ${name}`, { cause: err }));
        return;
      }
    }
  })();
  try {
    return await fn({ fence: { name: lease.name, token: lease.token }, signal });
  } finally {
    stop.abort();
    await heartbeat;
    await lease.release().catch(() => undefined);
  }
}

/** Like {@link underLock}, but gives up at once (undefined) when another owner holds the lock. */
export async function ifUnlocked<T>(
  storage: Storage,
  name: string,
  timing: LockTiming & { signal?: AbortSignal | undefined },
  fn: (held: HeldLock) => Promise<T>,
): Promise<{ value: T } | undefined> {
  let acquired = false;
  try {
    return {
      value: await underLock(storage, name, { ...timing, waitMs: 0 }, (held) => {
        acquired = true;
        return fn(held);
      }),
    };
  } catch (err) {
    if (!acquired && err instanceof EdgecertError && err.code === "storage") return undefined;
    throw err;
  }
}
