/**
 * An issuance that fails after its admission and before its newOrder gives the admission's tokens back
 * (issue 26, review). The manager admits an order before taking the certificate's lock; the lock, the
 * account, the order intent's write (with the certificate key) and a resumed order's read all come
 * between the admission and the newOrder, and a failure in any of them (a storage error, the CA
 * unreachable while an order is resumed, the lock not acquired) left the tokens spent: the budget
 * believed the CA's bucket emptier than it was, and a burst of such failures (a storage outage with
 * orders queued) held every later order back for tokens the CA never took. Cases, on the stand-in CA
 * behind a 3-per-minute account limit (the budget's the same): the intent's write failing once, and
 * the certificate's lock held elsewhere past the caller's wait.
 */
import { describe, expect, it } from "vitest";
import { EdgecertError, isEdgecertError } from "../../src/errors.ts";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import { certificateId, keys } from "../../src/manager/storage-keys.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { bed } from "../support/onboarding-sim.ts";
import type { VirtualClock } from "../support/virtual-clock.ts";

const LIMIT = { count: 3, periodMs: 60_000 };

/** `storage` with `put` failing for keys `fail` picks (an outage of the store's writes there). */
function failingPuts(storage: Storage, fail: (key: string) => boolean): Storage {
  return {
    get: (k) => storage.get(k),
    getEntry: (k) => storage.getEntry(k),
    put: async (k, v, o) => {
      if (fail(k)) throw new EdgecertError("storage", `write of ${k} failed (injected)`);
      return storage.put(k, v, o);
    },
    delete: (k, o) => storage.delete(k, o),
    list: (p, o) => storage.list(p, o),
    lock: (n, o) => storage.lock(n, o),
  };
}

/** How many of `names` the manager issues now, each call bounded to 1 s in the budget's queue (virtual time). */
async function issuedNow(m: CertificateManager, clock: VirtualClock, names: string[]): Promise<number> {
  let issued = 0;
  for (const name of names) {
    let settled = false;
    const call = m.manage([name]).then(
      () => true,
      (err: unknown) => {
        if (isEdgecertError(err, "budget_spent")) return false;
        throw err;
      },
    ).finally(() => (settled = true));
    await clock.drive(() => settled, { ready: () => m.queued().length === 1 });
    if (await call) issued++;
  }
  return issued;
}

/** A manager on `storage` (the bed's, or one over it) ordering through the bed's CA, its budget the CA's limit, waits bounded to 1 s. */
function manager(b: ReturnType<typeof bed>, storage: Storage, extra: { lockWaitMs?: number } = {}): CertificateManager {
  return new CertificateManager({
    storage,
    directoryUrl: b.ca.directoryUrl,
    fetch: b.limited.fetch,
    termsOfServiceAgreed: true,
    caLimits: { newOrdersPerAccount: LIMIT },
    budgetClock: b.clock,
    budgetMaxWaitMs: 1000,
    retry: { maxAttempts: 1 },
    ...extra,
  });
}

describe("an admission whose newOrder is never sent gives its tokens back", () => {
  it("the order intent's write fails once: the account's 3 tokens are all there for the next 3 names (old code: 2 issued)", async () => {
    const b = bed({ orders: LIMIT });
    let failures = 1;
    const storage = failingPuts(b.storage, (key) => key.startsWith("orders/") && failures-- > 0);
    const m = manager(b, storage);
    const err = await m.manage(["broken.give-back.example"]).catch((e: unknown) => e);
    expect(String(err)).toContain("injected");
    expect(b.limited.events.filter((e) => e.kind === "newOrder")).toEqual([]);
    expect(await issuedNow(m, b.clock, ["a.give-back.example", "b.give-back.example", "c.give-back.example"])).toBe(3);
    expect(b.limited.refusals()).toEqual([]);
  });

  it("the certificate's lock is held elsewhere past the caller's wait: its tokens go back (old code: 2 of the next 3 issued)", async () => {
    const b = bed({ orders: LIMIT });
    const m = manager(b, b.storage, { lockWaitMs: 50 });
    // Another holder (a process elsewhere) has the certificate's lock for longer than this call waits.
    const id = await certificateId([{ type: "dns", value: "busy.give-back.example" }]);
    const other = await b.storage.lock(keys.certificateLock(id), { ttlMs: 600_000 });
    const err = await m.manage(["busy.give-back.example"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    await other.release();
    expect(b.limited.events.filter((e) => e.kind === "newOrder")).toEqual([]);
    expect(await issuedNow(m, b.clock, ["d.give-back.example", "e.give-back.example", "f.give-back.example"])).toBe(3);
  });
});
