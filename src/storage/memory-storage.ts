import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { pageOfSortedKeys, pageStart } from "./list-page.ts";
import { SortedKeys } from "./sorted-keys.ts";
import { acquireWithin, lockSettings, type LockAttempt, type LockSleep } from "./lock-wait.ts";
import { HeldLease, lapsed } from "./lease.ts";
import { valueBytes } from "./value-bytes.ts";
import { checkConditionsLocally, checkVersion, leaseLost } from "./conditional-write.ts";

interface MemoryEntry {
  value: Uint8Array<ArrayBuffer>;
  version: string;
}

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
 *
 * Conditional writes: checked and applied in one synchronous step, so they are atomic. Versions are
 * a counter shared by all keys of the instance (never reused, also after a delete).
 */
export class MemoryStorage implements Storage {
  readonly #values = new Map<string, MemoryEntry>();
  /** The same keys in key order, for pages. */
  readonly #sorted = new SortedKeys();
  #nextVersion = 1;
  readonly #locks = new Map<string, MemoryLock>();
  readonly #fences = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    assertValidKey(key);
    const entry = this.#values.get(key);
    return entry === undefined ? undefined : { value: new Uint8Array(entry.value), version: entry.version };
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    const bytes = valueBytes(value);
    this.#check(key, when);
    if (!this.#values.has(key)) this.#sorted.add(key);
    this.#values.set(key, { value: bytes, version: String(this.#nextVersion++) });
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    this.#check(key, when);
    if (this.#values.delete(key)) this.#sorted.delete(key);
  }

  /** The backend-side check; runs in the same synchronous step as the write that follows it. */
  #check(key: string, when: WriteConditions | undefined): void {
    checkConditionsLocally(when);
    if (when?.fence) {
      const { name, token } = when.fence;
      const held = this.#locks.get(name);
      if (!held || held.token !== token || held.expiresAt <= Date.now()) throw leaseLost(when.fence);
    }
    checkVersion(key, this.#values.get(key)?.version, when?.ifVersion);
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    return pageOfSortedKeys(this.#sorted.from(pageStart(prefix, options)), prefix, options);
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
