/**
 * A bounded wait for the CA budget (`budgetMaxWaitMs`, the Worker's 10 s) that ends with `budget_spent`
 * sent nothing to the CA: it is not a failed attempt. The failure state says "when the budget refills",
 * however many attempts found the budget spent, and the count of failures (which sets the backoff of
 * real failures) does not grow. Old code counted each as a failure: after three, the next attempt was
 * 2-4 minutes of backoff away instead of the refill, and a renewal's stored count kept growing.
 */
import { describe, expect, it } from "vitest";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import { failureOf } from "../../src/manager/managed-certificate.ts";
import { isEdgecertError } from "../../src/errors.ts";
import { bed } from "../support/onboarding-sim.ts";

const limits = { newOrdersPerAccount: { count: 1, periodMs: 20_000 } };

describe("waiting for the CA budget is not failing", () => {
  it("repeated budget_spent keeps the next attempt at the refill and the failure count at 1, for a first issuance and a renewal", async () => {
    const b = bed({ orders: { count: 1, periodMs: 20_000 } });
    const m = new CertificateManager({
      storage: b.storage,
      directoryUrl: b.ca.directoryUrl,
      fetch: b.limited.fetch,
      termsOfServiceAgreed: true,
      caLimits: limits,
      budgetClock: b.clock,
      budgetMaxWaitMs: 10_000,
    });
    await m.manage(["first.budget-wait.example"]);
    // The bucket refills 20 s (+ the 1 s send margin) after the first order, on the budget's clock.
    const attempts = async (run: () => Promise<unknown>) => {
      const seen: Array<{ failures: number; inMs: number }> = [];
      for (let i = 0; i < 3; i++) {
        let error: unknown;
        const before = Date.now();
        await run().catch((err: unknown) => (error = err));
        expect(isEdgecertError(error, "budget_spent")).toBe(true);
        const failure = failureOf(error)!;
        seen.push({ failures: failure.failures, inMs: failure.nextAttemptAt.getTime() - before });
      }
      return seen;
    };
    const first = await attempts(() => m.manage(["second.budget-wait.example"]));
    const renewal = await attempts(() => m.renew(["first.budget-wait.example"]));
    console.log(`first issuance: ${JSON.stringify(first)}; renewal: ${JSON.stringify(renewal)}`);
    for (const s of [...first, ...renewal]) {
      expect(s.failures).toBe(1);
      // At the refill (about 21 s on the budget's clock, which has not moved), not 2-4 minutes of backoff.
      expect(s.inMs).toBeGreaterThan(15_000);
      expect(s.inMs).toBeLessThanOrEqual(22_000);
    }
    // The forced renewal of a certificate not due records nothing on it: it stays as sound as before
    // (recorded, it showed failing until its next renewal).
    const stored = await m.find(["first.budget-wait.example"]);
    expect(stored?.failure).toBeUndefined();
    // Nothing reached the CA for them: one order, no refusal.
    expect(b.limited.events.filter((e) => e.kind === "newOrder")).toHaveLength(1);
    expect(b.limited.refusals()).toEqual([]);
  });
});
