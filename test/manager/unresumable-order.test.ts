import { describe, expect, it } from "vitest";
import { CertificateManager, StorageHttp01Solver } from "../../src/manager/index.ts";
import { OrderNotResumableError } from "../../src/acme/issuance-error.ts";
import { EdgecertError } from "../../src/errors.ts";
import { keys } from "../../src/manager/storage-keys.ts";
import type { PendingOrderRecord } from "../../src/manager/records.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { StandInCa } from "../support/stand-in-ca.ts";

const DAY = 86_400_000;

/**
 * The fleet fault of issue 15 (PostgreSQL failing at the challenge step): the token reads fail, the
 * order goes invalid, and the failed run cannot drop its intent, so the next run finds an intent for
 * an invalid order. An unresumable order must be dropped and ordered anew — at most once per attempt —
 * never reported as OrderNotResumableError. Stand-in CA (RFC 8555 order states, §7.1.6).
 */
describe("an intent whose order went invalid (storage failed at the challenge)", () => {
  function bed() {
    const inner = new MemoryStorage();
    const http01 = new StorageHttp01Solver(inner);
    const state = { serveTokens: false, failIntentDeletes: false };
    const ca = new StandInCa({ now: Date.now, lifetimeMs: 30 * DAY, token: async (t) => (state.serveTokens ? http01.response(t) : undefined) });
    // The storage the manager sees: deletes of order intents fail while the "database" is failing.
    const storage: Storage = {
      get: (k) => inner.get(k),
      getEntry: (k) => inner.getEntry(k),
      put: (k, v, w) => inner.put(k, v, w),
      delete: async (k, w) => {
        if (state.failIntentDeletes && k.startsWith(keys.orderPrefix)) throw new EdgecertError("storage", "connection terminated");
        await inner.delete(k, w);
      },
      list: (p, o) => inner.list(p, o),
      lock: (n, o) => inner.lock(n, o),
    };
    const manager = new CertificateManager({ storage, directoryUrl: ca.directoryUrl, fetch: ca.fetch, termsOfServiceAgreed: true, retry: { maxAttempts: 1 }, solvers: { "http-01": http01 } });
    const intent = async () => {
      const keysNow = (await inner.list(keys.orderPrefix)).keys;
      return keysNow.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(await inner.get(keysNow[0]!))) as PendingOrderRecord);
    };
    return { ca, state, manager, intent };
  }

  async function failedRunLeavesInvalidOrder(b: ReturnType<typeof bed>, names: string[]): Promise<string> {
    b.state.failIntentDeletes = true;
    await expect(b.manager.manage(names)).rejects.toBeInstanceOf(EdgecertError);
    b.state.failIntentDeletes = false;
    const left = await b.intent();
    expect(left?.orderUrl).toBeDefined();
    // The CA keys its orders by path.
    expect(b.ca.orders.get(new URL(left!.orderUrl!).pathname)?.status).toBe("invalid");
    return left!.orderUrl!;
  }

  it("the next manage() drops it and orders anew: one new order, a certificate, no intent left", async () => {
    const b = bed();
    const names = ["unresumable.example.test"];
    const invalid = await failedRunLeavesInvalidOrder(b, names);
    const ordersBefore = b.ca.newOrders.length;
    b.state.serveTokens = true; // the database is back
    const cert = await b.manager.manage(names);
    expect(cert.names).toEqual(names);
    expect(b.ca.newOrders.length).toBe(ordersBefore + 1);
    expect(b.ca.newOrders.at(-1)!.order.url).not.toBe(new URL(invalid).pathname);
    expect(await b.intent()).toBeUndefined();
  });

  it("while validation keeps failing, each manage() fails on its own new order (not OrderNotResumableError), one order per attempt", async () => {
    const b = bed();
    const names = ["still-failing.example.test"];
    await failedRunLeavesInvalidOrder(b, names);
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = b.ca.newOrders.length;
      const err = await b.manager.manage(names).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EdgecertError);
      expect(err).not.toBeInstanceOf(OrderNotResumableError);
      expect(b.ca.newOrders.length).toBe(before + 1);
    }
    b.state.serveTokens = true;
    expect((await b.manager.manage(names)).names).toEqual(names);
  });
});
