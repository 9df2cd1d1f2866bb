import { describe, expect, it } from "vitest";
import { CertificateManager, StorageHttp01Solver } from "../../src/manager/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { StandInCa } from "../support/stand-in-ca.ts";

// Defect 2 (issue 11): a lost lease aborts the work, including the CA calls after issuance (ARI),
// which ran without the signal before. The RFC 8555 stand-in CA (test/support/stand-in-ca.ts) offers
// renewalInfo, which Pebble 2.4 lacks.
describe("lease loss", () => {
  it("aborts the ARI call of a holder whose lease renewal failed, and stores nothing", async () => {
    const inner = new MemoryStorage();
    const http01 = new StorageHttp01Solver(inner);
    const ca = new StandInCa({ now: Date.now, lifetimeMs: 30 * 86_400_000, token: (t) => http01.response(t), ari: { start: 0.6, end: 0.7, retryAfterSeconds: 3600 } });
    let partitioned = false;
    // The holder is cut off from the lock service: renewals fail from now on.
    const storage: Storage = {
      get: (k) => inner.get(k),
      put: (k, v, w) => inner.put(k, v, w),
      delete: (k, w) => inner.delete(k, w),
      list: (p, o) => inner.list(p, o),
      lock: async (n, o) => {
        const lease = await inner.lock(n, o);
        return {
          name: lease.name,
          token: lease.token,
          get expiresAt() {
            return lease.expiresAt;
          },
          renew: async (ttl?: number) => {
            if (partitioned) throw new EdgecertError("storage", "partitioned");
            await lease.renew(ttl);
          },
          release: () => lease.release(),
        };
      },
    };
    let ariSignalAborted: boolean | undefined;
    const fetchFn: typeof fetch = async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (url.includes("/renewal-info/")) {
        partitioned = true;
        await new Promise((r) => setTimeout(r, 600));
        ariSignalAborted = init?.signal?.aborted === true;
        if (init?.signal?.aborted) throw init.signal.reason;
      }
      return ca.fetch(input, init);
    };
    const m = new CertificateManager({ storage, directoryUrl: ca.directoryUrl, fetch: fetchFn, solvers: { "http-01": http01 }, lockTtlMs: 300 });
    const err = await m.manage(["lease-loss.example.test"]).catch((e: unknown) => e);
    expect(ariSignalAborted).toBe(true);
    expect((err as EdgecertError).code).toBe("lease_lost");
    expect((await inner.list("certificates/")).keys).toEqual([]);
  });
});
