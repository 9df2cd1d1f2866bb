import type { Lease, LockOptions, Storage, StorageListOptions, StorageListResult } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { compareKeys, pageOfSortedKeys } from "./list-page.ts";
import { acquireWithin, lockSettings, type LockAttempt, type LockSleep } from "./lock-wait.ts";
import { HeldLease, lapsed } from "./lease.ts";
import { valueBytes } from "./value-bytes.ts";

interface MemoryLock {
  token: number;
  expiresAt: number;
}

/**
 * {@link Storage} in this process's memory: for tests, single-process servers and caches.
 *
 * Consistency: linearizable within the process (every call sees every earlier write), nothing is
 * shared with other processes or survives a restart. Values are copied in and out, so callers cannot
 * change stored bytes by mutating an array.
 *
 * Locks: leases expire after `ttlMs` by the local clock; fencing tokens count up per name for the
 * life of the instance, also across releases. A release wakes waiters in this process at once.
 */
export class MemoryStorage implements Storage {
  readonly #values = new Map<string, Uint8Array<ArrayBuffer>>();
  readonly #locks = new Map<string, MemoryLock>();
  readonly #fences = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();

  async get(key: string): Promise<Uint8Array | undefined> {
    assertValidKey(key);
    const value = this.#values.get(key);
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async put(key: string, value: Uint8Array | string): Promise<void> {
    assertValidKey(key);
    this.#values.set(key, valueBytes(value));
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    this.#values.delete(key);
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    return pageOfSortedKeys([...this.#values.keys()].sort(compareKeys), prefix, options);
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const settings = lockSettings(name, options);
    return await acquireWithin(name, settings, async () => this.#tryLock(name, settings.ttlMs), this.#sleepUntilRelease(name));
  }

  #tryLock(name: string, ttlMs: number): LockAttempt {
    const now = Date.now();
    const current = this.#locks.get(name);
    if (current && current.expiresAt > now) return { heldUntil: current.expiresAt };
    const token = (this.#fences.get(name) ?? 0) + 1;
    this.#fences.set(name, token);
    // The record object itself identifies the holder: a takeover replaces it.
    const held: MemoryLock = { token, expiresAt: now + ttlMs };
    this.#locks.set(name, held);
    const lease = new HeldLease(name, token, held.expiresAt, ttlMs, {
      renew: async (ttl) => {
        const now = Date.now();
        if (this.#locks.get(name) !== held || held.expiresAt <= now) throw lapsed(name, token);
        held.expiresAt = now + ttl;
        return held.expiresAt;
      },
      release: async () => {
        if (this.#locks.get(name) !== held) return;
        this.#locks.delete(name);
        for (const wake of this.#waiters.get(name) ?? []) wake();
      },
    });
    return { lease };
  }

  /** A sleep that also ends when a lease on `name` is released here, so the next waiter goes at once. */
  #sleepUntilRelease(name: string): LockSleep {
    return (ms, signal) =>
      new Promise<void>((resolve) => {
        let waiters = this.#waiters.get(name);
        if (!waiters) this.#waiters.set(name, (waiters = new Set()));
        const set = waiters;
        const wake = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", wake);
          set.delete(wake);
          if (set.size === 0 && this.#waiters.get(name) === set) this.#waiters.delete(name);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(0, ms));
        set.add(wake);
        // The acquire loop turns an abort into EdgecertError("aborted").
        signal?.addEventListener("abort", wake, { once: true });
      });
  }
}
