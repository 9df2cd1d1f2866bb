import type { Lease, LockOptions, Storage, StorageListOptions } from "../../src/storage/storage.ts";

/** Thrown by a "dead" process: everything after the crash point fails. */
export class Crash extends Error {
  constructor() {
    super("simulated crash");
    this.name = "Crash";
  }
}

/**
 * Wraps a fetch and a storage so that the process "dies" right after the Nth request got its response
 * (the CA acted on it) or the first to a URL matching `requestUrl`, right after the Nth storage put or
 * delete landed, or right after the first put of a key matching `putKey`. After that, every request and storage operation — including lock releases —
 * throws, as if the process were gone. The locks it held lapse at the moment it dies, as if their TTL
 * had passed: a rerun takes them over at once, so the dying run can hold a lease no slow machine
 * overruns (a short TTL here lost its lease under load before reaching the crash point) and no test
 * waits one out.
 *
 * With `fault`, the process does not die at that point: `fault` runs there (awaited, before the request's
 * response or the write's completion is returned) and the process goes on — e.g. it loses its lease.
 */
export function crashable(
  inner: { fetch: typeof fetch; storage: Storage },
  crashAt: { request?: number; requestUrl?: RegExp; put?: number; delete?: number; putKey?: RegExp },
  fault?: () => Promise<void>,
) {
  let dead = false;
  let reached = false;
  let requests = 0;
  let puts = 0;
  let deletes = 0;
  const alive = () => {
    if (dead) throw new Crash();
  };
  const leases = heldLeases(alive);
  const die = async (): Promise<void> => {
    if (reached) return;
    reached = true;
    if (fault) return fault();
    dead = true;
    await leases.lapseAll();
    throw new Crash();
  };
  const fetchFn: typeof fetch = async (input, init) => {
    alive();
    const n = ++requests;
    const res = await inner.fetch(input, init);
    if (n === crashAt.request || crashAt.requestUrl?.test(typeof input === "string" ? input : input instanceof URL ? input.href : input.url)) await die();
    return res;
  };
  const storage: Storage = {
    get: async (key) => (alive(), inner.storage.get(key)),
    getEntry: async (key) => (alive(), inner.storage.getEntry(key)),
    put: async (key, value, when) => {
      alive();
      await inner.storage.put(key, value, when);
      if (++puts === crashAt.put || crashAt.putKey?.test(key)) await die();
    },
    delete: async (key, when) => {
      alive();
      await inner.storage.delete(key, when);
      if (++deletes === crashAt.delete) await die();
    },
    list: async (prefix: string, options?: StorageListOptions) => (alive(), inner.storage.list(prefix, options)),
    lock: async (name: string, options?: LockOptions) => (alive(), leases.wrap(await inner.storage.lock(name, options))),
  };
  return {
    fetch: fetchFn,
    storage,
    get requests() {
      return requests;
    },
    get puts() {
      return puts;
    },
    get deletes() {
      return deletes;
    },
    get dead() {
      return dead;
    },
    /** Whether the point was reached (the process died there, or `fault` ran). */
    get reached() {
      return reached;
    },

  };
}

/**
 * The leases a process that may die holds: {@link leaseOfDying} views of them, and `lapseAll` for the
 * moment it dies — each unreleased lease runs out at once, as if its TTL had passed (to the next holder a
 * lapse now and one later are the same), so no test waits out a TTL and none needs a short one.
 */
export function heldLeases(alive: () => void): { wrap(lease: Lease): Lease; lapseAll(): Promise<void> } {
  const held = new Set<Lease>();
  return {
    wrap(lease) {
      held.add(lease);
      return leaseOfDying(lease, alive, alive, () => held.delete(lease));
    },
    async lapseAll() {
      // Lapse, not release: the shortest TTL from now; one that lapsed already refuses, which is fine.
      await Promise.all([...held].map((lease) => lease.renew(1).catch(() => undefined)));
      held.clear();
    },
  };
}

/**
 * `storage` as it is — every capability kept, a due index too — but with the leases it hands out
 * tracked: `lapseLeases()` lapses those not released yet, as if their TTL had passed, and the process
 * lives on. For a lease a failed attempt could not release (its storage was down), or one a process
 * is about to be killed with, so that the next holder need not wait a TTL out and none has to be short.
 */
export function lapsableLeases(storage: Storage): { storage: Storage; lapseLeases(): Promise<void> } {
  const leases = heldLeases(() => undefined);
  const tracked = new Proxy(storage, {
    get(target, property) {
      if (property === "lock") return async (name: string, options?: LockOptions) => leases.wrap(await target.lock(name, options));
      const value: unknown = Reflect.get(target, property);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { storage: tracked, lapseLeases: () => leases.lapseAll() };
}

/**
 * `lease` as a process that may die sees it: every call checks `alive` first (a dead process releases
 * nothing); `beforeRenew` (default `alive`) may also fail renewals alone (a holder cut off from the lock service);
 * `released` is told when a release went through.
 */
export function leaseOfDying(lease: Lease, alive: () => void, beforeRenew: () => void = alive, released: () => void = () => undefined): Lease {
  return {
    get name() {
      return lease.name;
    },
    get token() {
      return lease.token;
    },
    get expiresAt() {
      return lease.expiresAt;
    },
    release: async () => {
      alive();
      await lease.release();
      released();
    },
    renew: async (ttl?: number) => {
      beforeRenew();
      await lease.renew(ttl);
    },
  };
}
