import { sleep as abortableSleep } from "../abort.ts";
import type { SendGuard } from "../acme/send-guard.ts";
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
  /** Monotonic ms the send guard measures the lease by; set with {@link sleep} when timers are controlled. */
  clock?: () => number;
  logger: Logger;
}

/**
 * What work done under a lock holds: the fence every write must carry, a signal that fires on lease
 * loss, and the guard every state-changing CA request must pass right before it is sent.
 */
export interface HeldLock {
  readonly fence: Fence;
  readonly signal: AbortSignal;
  /**
   * Throws `lease_lost` (and fires {@link signal}) once less than {@link LEASE_SEND_MARGIN} of the
   * lease is left — see {@link underLock}. Pass it as the `guard` of every CA call made under the lock.
   */
  readonly guard: SendGuard;
}

/**
 * The share of a lease's TTL a holder keeps in reserve: it treats the lease as lost once less than this
 * is left since its last successful renewal — the watchdog asynchronously, the send guard synchronously
 * before each state-changing CA request. A tenth (1.5 s of the default 15 s) is many times the time a
 * request takes to reach a CA and the acquiring round trip the local deadline does not see, and still
 * leaves a holder whose heartbeat (every third of the TTL) runs more than half a TTL late its lease.
 */
export const LEASE_SEND_MARGIN = 0.1;

/** Monotonic milliseconds: a wall-clock step must not lengthen a lease in the holder's eyes. */
function monotonicNow(): number {
  return (globalThis as { performance?: { now(): number } }).performance?.now() ?? Date.now();
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
 *
 * Timers cannot fire while a process is paused (SIGSTOP, a stalled VM, a long GC): on resume the work
 * may run on before the watchdog does. So the held lock's `guard` also checks the clock itself, at the
 * moment a state-changing CA request is about to be sent: the lease counts from when the last renewal
 * was sent (or from when the lock was acquired), and with less than
 * {@link LEASE_SEND_MARGIN} of the TTL left, nothing is sent (invariant 9). What remains: a pause
 * between that check and the request leaving the machine (the same task, no await between them, but a
 * process can be stopped anywhere), or a request delayed in the network for longer than the margin,
 * can still reach the CA after the lease lapsed. Storage fencing still refuses every write such a
 * holder makes afterwards.
 */
export async function underLock<T>(
  storage: Storage,
  name: string,
  timing: LockTiming & { signal?: AbortSignal | undefined },
  fn: (held: HeldLock) => Promise<T>,
): Promise<T> {
  const { ttlMs } = timing;
  const lease = await storage.lock(name, { ttlMs, waitMs: timing.waitMs, ...(timing.signal ? { signal: timing.signal } : {}) });
  const reserveMs = ttlMs * LEASE_SEND_MARGIN;
  const clock = timing.clock ?? monotonicNow;
  // Until when state-changing requests may be sent. From acquisition: the TTL from when lock()
  // returned — the acquiring round trip is inside the margin. (Not the backend's expiresAt: a
  // server-clock backend running behind this machine would make every lease look lapsed.)
  let usableUntil = clock() + ttlMs - reserveMs;
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
        const sentAt = clock();
        await lease.renew(ttlMs);
        // The renewed lease runs from no earlier than when the renewal was sent.
        usableUntil = sentAt + ttlMs - reserveMs;
        arm();
      } catch (err) {
        lose(new EdgecertError("lease_lost", `lost the lock ${name}`, { cause: err }));
        return;
      }
    }
  })();
  const guard: SendGuard = ({ method, url }) => {
    if (lost.signal.aborted) throw lost.signal.reason;
    if (stop.signal.aborted) throw new EdgecertError("lease_lost", `not sending ${method} ${url}: the lock ${name} was released`);
    const now = clock();
    if (now < usableUntil) return;
    const err = new EdgecertError(
      "lease_lost",
      `not sending ${method} ${url}: the lease on ${name} has ${Math.max(0, Math.round(usableUntil + reserveMs - now))} ms left, less than its ${Math.round(reserveMs)} ms send margin`,
    );
    lose(err);
    throw err;
  };
  try {
    return await fn({ fence: { name: lease.name, token: lease.token }, signal, guard });
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
