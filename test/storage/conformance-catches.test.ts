/**
 * The exported conformance suite (`edgecert/storage/conformance`) must fail a broken backend, or it
 * proves nothing for the third-party backends that rely on it (issue 23 defect 4: a backend whose
 * lock() granted a held lock to everyone and whose list() returned nothing passed all 13 cases).
 * Each backend below is MemoryStorage with one deliberate bug; the suite must report the case that
 * covers it as failed. The same suite on the unbroken MemoryStorage passes (also run concurrently,
 * as here: cases use their own keys and locks). Cases of one backend run at once to keep this quick.
 */
import { describe, expect, it } from "vitest";
import { storageConformanceCases } from "../../src/storage/conformance.ts";
import { EdgecertError } from "../../src/errors.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "../../src/storage/storage.ts";
import { conformanceSeed } from "./conformance.ts";

/** MemoryStorage, forwarding everything except what `override` replaces. */
function broken(override: (inner: MemoryStorage) => Partial<Storage>): () => Storage {
  return () => {
    const inner = new MemoryStorage();
    const base: Storage = {
      get: (k) => inner.get(k),
      getEntry: (k) => inner.getEntry(k),
      put: (k, v, w) => inner.put(k, v, w),
      delete: (k, w) => inner.delete(k, w),
      list: (p, o) => inner.list(p, o),
      lock: (n, o) => inner.lock(n, o),
    };
    return { ...base, ...override(inner) };
  };
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const BROKEN: { bug: string; make: () => Storage; caught: RegExp }[] = [
  {
    bug: "lock() grants a held lock to every caller",
    make: broken((inner) => {
      let token = 1_000_000;
      return {
        lock: async (name: string, options?: LockOptions): Promise<Lease> => {
          try {
            return await inner.lock(name, { ...options, waitMs: 0 });
          } catch (error) {
            if (!(error instanceof EdgecertError) || error.code !== "storage") throw error;
            const ttl = options?.ttlMs ?? 60_000;
            return { name, token: ++token, expiresAt: Date.now() + ttl, release: async () => undefined, renew: async () => undefined };
          }
        },
      };
    }),
    caught: /exclusion under contention/,
  },
  { bug: "list() returns nothing", make: broken(() => ({ list: async (): Promise<StorageListResult> => ({ keys: [] }) })), caught: /paging is complete/ },
  {
    bug: "list() drops one key of every page of two or more",
    make: broken((inner) => ({
      list: async (prefix: string, options?: StorageListOptions) => {
        const page = await inner.list(prefix, options);
        return page.keys.length > 1 ? { ...page, keys: page.keys.slice(1) } : page;
      },
    })),
    caught: /paging is complete/,
  },
  {
    bug: "versions are reused (the version is the value's bytes, as a content hash would be)",
    make: broken((inner) => ({
      getEntry: async (key: string): Promise<StorageEntry | undefined> => {
        const e = await inner.getEntry(key);
        return e && { value: e.value, version: `c${hex(e.value)}` };
      },
      put: async (key: string, value: Uint8Array | string, when?: WriteConditions) => {
        if (typeof when?.ifVersion === "string") {
          const e = await inner.getEntry(key);
          if (!e || `c${hex(e.value)}` !== when.ifVersion) throw new EdgecertError("conflict", "version moved");
          return inner.put(key, value, { ...(when.fence ? { fence: when.fence } : {}) });
        }
        return inner.put(key, value, when);
      },
    })),
    caught: /versions change on every write/,
  },
  {
    bug: "renew() resolves without extending the lease",
    make: broken((inner) => ({
      lock: async (name: string, options?: LockOptions) => {
        const lease = await inner.lock(name, options);
        return { name: lease.name, token: lease.token, expiresAt: lease.expiresAt, release: () => lease.release(), renew: async () => undefined };
      },
    })),
    caught: /renew extends the lease/,
  },
];

async function failures(make: () => Storage): Promise<{ total: number; failed: string[] }> {
  const cases = storageConformanceCases(make, { log: () => undefined, ...(conformanceSeed() === undefined ? {} : { seed: conformanceSeed()! }) });
  const results = await Promise.all(cases.map((c) => c.run().then(() => undefined, () => `${c.group}: ${c.name}`)));
  return { total: cases.length, failed: results.filter((r): r is string => r !== undefined) };
}

describe.concurrent("the exported conformance suite catches broken backends", () => {
  it("passes MemoryStorage as it is, every case at once", async () => {
    const { total, failed } = await failures(() => new MemoryStorage());
    expect(failed).toEqual([]);
    expect(total).toBeGreaterThanOrEqual(25);
  }, 60_000);

  for (const { bug, make, caught } of BROKEN) {
    it(`fails a backend whose ${bug}`, async () => {
      const { total, failed } = await failures(make);
      console.log(`conformance vs broken backend (${bug}): ${failed.length} of ${total} cases failed`);
      expect(failed.some((name) => caught.test(name)), `failed cases: ${JSON.stringify(failed)}`).toBe(true);
    }, 60_000);
  }
});
