import { describe, expect, it } from "vitest";
import { CertificateManager, StorageHttp01Solver } from "../../src/manager/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { certificateId, keys } from "../../src/manager/storage-keys.ts";
import type { PendingOrderRecord } from "../../src/manager/records.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { makeDue } from "../support/make-due.ts";
import { StandInCa } from "../support/stand-in-ca.ts";

const DAY = 86_400_000;

/**
 * Found by the fleet chaos test (test/fleet/fleet-chaos.test.ts, seed 1, a storage restart during a
 * renewal): a renewal that failed on a storage error after its newOrder keeps its intent, to resume
 * the order. Another process that waited for the lock then met the certificate "not due" — the failed
 * attempt's backoff — and dropped the intent as if a dead run had left it after writing its
 * certificate. The next attempt ordered anew while the first order was still pending at the CA: two
 * live orders for one name set. Stand-in CA (RFC 8555 order states).
 */
describe("a renewal that failed after its newOrder", () => {
  it("keeps its order through another process's manage(), and the next attempt resumes it: one order at the CA", async () => {
    const inner = new MemoryStorage();
    const http01 = new StorageHttp01Solver(inner);
    const state = { failTokenWrites: false };
    const ca = new StandInCa({ now: Date.now, lifetimeMs: 30 * DAY, token: (t) => http01.response(t) });
    // The storage the managers see: token writes fail while the "database" is restarting.
    const storage: Storage = {
      get: (k) => inner.get(k),
      getEntry: (k) => inner.getEntry(k),
      put: async (k, v, w) => {
        if (state.failTokenWrites && k.startsWith(keys.httpTokenPrefix)) throw new EdgecertError("storage", "connection terminated");
        await inner.put(k, v, w);
      },
      delete: (k, w) => inner.delete(k, w),
      list: (p, o) => inner.list(p, o),
      lock: (n, o) => inner.lock(n, o),
    };
    const process = () => new CertificateManager({ storage, directoryUrl: ca.directoryUrl, fetch: ca.fetch, termsOfServiceAgreed: true, retry: { maxAttempts: 1 }, solvers: { "http-01": new StorageHttp01Solver(storage) }, cacheTtlMs: 0 });
    const names = ["failed-renewal.example.test"];
    const id = await certificateId(names.map((value) => ({ type: "dns" as const, value })));
    const first = await process().manage(names);

    await makeDue(storage, id, Date.now() - 1_000);
    state.failTokenWrites = true;
    const failed = await process().renewDue();
    state.failTokenWrites = false;
    expect(failed.failed.map((f) => f.id)).toEqual([id]);
    const intent = JSON.parse(new TextDecoder().decode(await inner.get(keys.order(id)))) as PendingOrderRecord;
    expect(intent.orderUrl).toBeDefined();
    const ordersAfterFailure = ca.newOrders.length;

    // Another process asks for the certificate while the failed one waits out its backoff.
    expect((await process().manage(names)).serialNumber).toBe(first.serialNumber);
    const kept = await inner.get(keys.order(id));
    expect(kept, "the failed renewal's intent was dropped with its order still open at the CA").toBeDefined();

    // Its backoff over, the renewal resumes the recorded order instead of ordering anew.
    await makeDue(storage, id, Date.now() - 1_000);
    const renewed = await process().renewDue();
    expect(renewed.renewed).toEqual([id]);
    expect(ca.newOrders.length, "a second order for the name set").toBe(ordersAfterFailure);
    expect(await inner.get(keys.order(id))).toBeUndefined();
  });
});
