/**
 * Let's Encrypt checks Certificates per Registered Domain (and per exact set of names) when an order is
 * created but spends it when the certificate is issued (rate-limiting-ca.ts does the same), so the CA's
 * bucket refills from the issuance. The budget spends when it admits the order; when the order takes
 * longer than the budget's send margin (1 s) to be issued — validation, a loaded CA or client — the
 * CA's bucket is behind the budget's, and an order sent the moment the budget refills is refused.
 * Found onboarding 300 names through the Worker in real time (16-101 refusals, all for the largest
 * customer's domain, whose bucket was in use without a pause); the accelerated-time simulation never
 * saw it because work takes no virtual time there. Here each order takes 5 s (virtual) from newOrder
 * to finalize (the challenge takes that long to be ready). Old code: the fifth order was sent at 11 s, before the CA's refill at 15 s, and refused.
 */
import { describe, expect, it } from "vitest";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import type { Solver } from "../../src/acme/solver.ts";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import { bed } from "../support/onboarding-sim.ts";

describe("limits the CA spends at issuance", () => {
  it("an order is not sent before the CA's bucket, refilling from the issuance, holds a token again", async () => {
    const domain = { count: 4, periodMs: 40_000 };
    const b = bed({ domain });
    let validating = 0;
    // The client's side of an order: 5 s (virtual) for the challenge to be ready, between newOrder and finalize.
    const http01 = new StorageHttp01Solver(b.storage);
    const slow: Solver = {
      present: (challenge, ctx) => http01.present(challenge, ctx),
      wait: async () => {
        validating++;
        await b.clock.sleep(5_000);
        validating--;
      },
      cleanup: (challenge) => http01.cleanup(challenge),
    };
    const m = new CertificateManager({
      storage: b.storage,
      directoryUrl: b.ca.directoryUrl,
      fetch: b.limited.fetch,
      solvers: { "http-01": slow },
      termsOfServiceAgreed: true,
      caLimits: { certificatesPerRegisteredDomain: domain },
      budgetClock: b.clock,
      retry: { maxAttempts: 1 },
    });
    const names = Array.from({ length: 8 }, (_, i) => `n${i}.slow.example`);
    let settled = 0;
    const outcomes = names.map((n) =>
      m.manage([n]).then(
        () => "ok",
        (err: unknown) => String(err),
      ).finally(() => settled++),
    );
    const start = b.clock.now();
    await b.clock.drive(() => settled === names.length, { ready: () => m.queued().length + validating === names.length - settled });
    const results = await Promise.all(outcomes);
    const newOrders = b.limited.events.filter((e) => e.kind === "newOrder").map((e) => `${(e.at - start) / 1000}${e.refused ? " refused" : ""}`);
    console.log(`newOrders at (s): ${newOrders.join(", ")}`);
    expect(b.limited.refusals()).toEqual([]);
    expect(results.filter((r) => r !== "ok")).toEqual([]);
    // Four from the full bucket, then one per 10 s interval counted from the first issuance (5 s):
    // 15, 25, 35, 45 s — the CA's own schedule, no later.
    const sent = b.limited.events.filter((e) => e.kind === "newOrder").map((e) => (e.at - start) / 1000);
    expect(sent.slice(4)).toEqual([15, 25, 35, 45]);
  });
});
