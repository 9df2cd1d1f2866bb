import { describe, expect, it } from "vitest";
import { CertificateManager, StorageHttp01Solver } from "../../src/manager/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { VirtualClock } from "../support/virtual-clock.ts";
import { cutOffFromLocks } from "../support/virtual-leases.ts";
import { StandInCa } from "../support/stand-in-ca.ts";

const DAY = 86_400_000;

// Defect 2 (issue 11): a lost lease aborts the work, including the CA call made after issuance (ARI,
// RFC 9773), which ran without the lock's signal before. The stand-in CA (test/support/stand-in-ca.ts)
// offers renewalInfo, which Pebble lacks.
describe("lease loss after issuance", () => {
  it("aborts the holder's ARI call once its lease renewal fails, and stores no certificate", async () => {
    const inner = new MemoryStorage();
    const http01 = new StorageHttp01Solver(inner);
    const ca = new StandInCa({ now: Date.now, lifetimeMs: 30 * DAY, token: (t) => http01.response(t), ari: { start: 0.6, end: 0.7, retryAfterSeconds: 3600 } });
    // Leases, heartbeat and watchdog on a virtual clock that moves only once the partition starts: a
    // loaded machine cannot lapse the lease earlier (a real 600 ms lease could, before the ARI call).
    // Every operation goes to the real store, but once partitioned the holder's lease renewals fail:
    // it is cut off from the lock service while the CA still answers.
    const clock = new VirtualClock();
    const { storage, cut } = cutOffFromLocks(inner, clock);
    let ariRequests = 0;
    let ariSignalAborted = false;
    const fetchFn: typeof fetch = async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (url.includes("/renewal-info/")) {
        // The certificate was downloaded; the holder now asks for its renewal window. The partition
        // starts here and the request hangs until the holder gives up on it (bounded: 20 s).
        ariRequests++;
        cut();
        const signal = init?.signal;
        const lapse = clock.advance(2_000); // past the 600 ms lease, with its renewals failing
        for (let i = 0; i < 2000 && !signal?.aborted; i++) await new Promise((r) => setTimeout(r, 10));
        await lapse;
        ariSignalAborted = signal?.aborted === true;
        if (signal?.aborted) throw signal.reason;
      }
      return ca.fetch(input, init);
    };
    const m = new CertificateManager({ storage, directoryUrl: ca.directoryUrl, fetch: fetchFn, termsOfServiceAgreed: true, solvers: { "http-01": http01 }, lockTtlMs: 600, sleep: clock.sleep, leaseClock: clock.now, retry: { maxAttempts: 1 } });
    const err = await m.manage(["lease-loss.example.test"]).catch((e: unknown) => e);
    expect(ca.certificates.size).toBe(1); // the CA issued: the ARI call came after issuance
    expect(ariRequests).toBe(1);
    expect(ariSignalAborted).toBe(true);
    expect(err).toBeInstanceOf(EdgecertError);
    expect((err as EdgecertError).code).toBe("lease_lost");
    expect((await inner.list("certificates/")).keys).toEqual([]);
    expect((await inner.list("names/")).keys).toEqual([]);
  }, 60_000);
});
