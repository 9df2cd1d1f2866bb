/**
 * Leases on a virtual clock, for tests of what a lease holder does over time (the manager's heartbeat,
 * watchdog and send guard) that must not depend on how fast this machine runs. The manager's lock
 * timers and lease clock (its `sleep` and `leaseClock` options) and the leases' expiry all run on a
 * {@link VirtualClock} (virtual-clock.ts): time moves only when the
 * test moves it, so load cannot make a lease lapse, and a holder that stops renewing loses its
 * lease exactly when its TTL has passed. Records stay in the inner storage, fenced writes included: a
 * virtual lapse releases the inner lease, so the next holder takes it and the old holder's fenced writes
 * are refused with `lease_lost`, as on a real backend.
 * @module
 */
import { EdgecertError } from "../../src/errors.ts";
import { lapsed } from "../../src/storage/lease.ts";
import { leaseOfDying } from "./crashable.ts";
import type { VirtualClock } from "./virtual-clock.ts";
import type { Lease, LockOptions, Storage } from "../../src/storage/storage.ts";

/** Longer than any test: the inner leases never lapse on the real clock. */
const REAL_TTL_MS = 3_600_000;

/** {@link virtualLeases}' storage, with what its leases saw. */
export interface VirtualLeaseStorage extends Storage {
  /** Renewals that extended a live lease. */
  readonly renewals: number;
  /** Leases that ran out on the virtual clock. */
  readonly lapses: number;
  /** `lock` calls still waiting for the lock. */
  readonly waiting: number;
}

/** `storage` with its leases' TTLs counted on `clock` instead of the real clock. */
export function virtualLeases(storage: Storage, clock: VirtualClock): VirtualLeaseStorage {
  let renewals = 0;
  let lapses = 0;
  let waiting = 0;
  const lock = async (name: string, options?: LockOptions): Promise<Lease> => {
    const ttlMs = options?.ttlMs ?? 30_000;
    waiting++;
    let inner: Lease;
    try {
      inner = await storage.lock(name, { ...options, ttlMs: REAL_TTL_MS });
    } finally {
      waiting--;
    }
    let expiresAt = clock.now() + ttlMs;
    let gone = false;
    const stopTicking = clock.onTick(async () => {
      if (gone || clock.now() < expiresAt) return;
      gone = true;
      lapses++;
      stopTicking();
      await inner.release();
    });
    return {
      name: inner.name,
      token: inner.token,
      get expiresAt() {
        return expiresAt;
      },
      renew: async (ttl = ttlMs) => {
        if (gone) throw lapsed(name, inner.token);
        expiresAt = clock.now() + ttl;
        renewals++;
        await inner.renew(REAL_TTL_MS);
      },
      release: async () => {
        if (gone) return;
        gone = true;
        stopTicking();
        await inner.release();
      },
    };
  };
  return {
    get: (key) => storage.get(key),
    getEntry: (key) => storage.getEntry(key),
    put: (key, value, when) => storage.put(key, value, when),
    delete: (key, when) => storage.delete(key, when),
    list: (prefix, options) => storage.list(prefix, options),
    lock,
    get renewals() {
      return renewals;
    },
    get lapses() {
      return lapses;
    },
    get waiting() {
      return waiting;
    },
  };
}

/**
 * `storage` with its leases on `clock`, as a holder that can be cut off from the lock service sees it:
 * after `cut()` its lease renewals and releases fail while records still read and write, so its
 * heartbeat notices at its next renewal, and the lease lapses once its TTL has passed on `clock` (then
 * the next holder takes it and the old holder's fenced writes are refused).
 */
export function cutOffFromLocks(storage: Storage, clock: VirtualClock): { storage: Storage; cut(): void } {
  let cut = false;
  const leases = virtualLeases(storage, clock);
  const refuseWhenCut = () => {
    if (cut) throw new EdgecertError("storage", "cut off from the lock service");
  };
  return {
    storage: {
      get: (k) => storage.get(k),
      getEntry: (k) => storage.getEntry(k),
      put: (k, v, w) => storage.put(k, v, w),
      delete: (k, w) => storage.delete(k, w),
      list: (p, o) => storage.list(p, o),
      lock: async (n, o) => leaseOfDying(await leases.lock(n, o), refuseWhenCut, refuseWhenCut),
    },
    cut() {
      cut = true;
    },
  };
}
