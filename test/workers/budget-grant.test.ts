import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { rateLimitingCa } from "../support/rate-limiting-ca.ts";
import { certificateSummary, startWorker, type CertificateSummary } from "../support/worker.ts";

// Issue 26, review of the CA budget's queue in the Worker (workers/ca-budget-queue.ts): a token spent
// for a parked order is run as a grant by the certificate's renewer; when that run does not send an
// order (here: a forced renewal the budget held back — the queue's run is an ordinary maintain, and the
// certificate is not due), the token must go back at once, not a minute later. Real Worker in workerd,
// real Pebble behind the rate-limit stand-in (test/support/rate-limiting-ca.ts). Cost: about 15 s.
let pebble: PebbleInstance;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

const PERIOD_MS = 10_000;

describe("a grant its renewer's run does not use", () => {
  it("goes back at once: the next certificate is sent with that refill's token; a forced renewal held back is a 429", { timeout: 150_000 }, async () => {
    // One new order per 10 s, renewals counted like any order.
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: { count: 1, periodMs: PERIOD_MS } });
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=1/10s" }, outbound: (request) => ca.fetch(request) });
    const get = (id: string) => certificateSummary(w, id);
    const add = async (name: string) => ((await (await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) })).json()) as CertificateSummary).id;
    try {
      const first = await add("first.grant.test");
      await vi.waitFor(async () => expect((await get(first)).status).toBe("valid"), { timeout: 60_000, interval: 200 });
      // The budget is spent: the forced renewal waits, then is refused — nothing was sent to the CA, so
      // a typed 4xx with the budget's code, not the 502 of a CA failure (old code: 502 ca_error).
      const renew = await w.admin(`/admin/certificates/${first}/renew`, { method: "POST" });
      const refused = (await renew.json()) as { error: { code: string; message: string } };
      expect({ status: renew.status, code: refused.error.code }).toEqual({ status: 429, code: "budget_spent" });
      // Nothing was sent and the certificate is not due: it stays valid (old code: failing, with the
      // budget's message as its last error, until its next renewal weeks later).
      const kept = await get(first);
      expect({ status: kept.status, failures: kept.failures, lastError: kept.lastError }).toEqual({ status: "valid", failures: 0, lastError: null });
      // Its order stays parked (renewals go first); the next certificate waits behind it.
      const second = await add("second.grant.test");
      await vi.waitFor(async () => expect((await get(second)).queuedFor).toMatch(/^orders /), { timeout: 60_000, interval: 200 });
      await vi.waitFor(async () => expect((await get(second)).status).toBe("valid"), { timeout: 120_000, interval: 250 });
      const orders = ca.events.filter((e) => e.kind === "newOrder");
      expect(orders.map((e) => e.names[0])).toEqual(["first.grant.test", "second.grant.test"]);
      expect(ca.refusals()).toEqual([]);
      // The budget lets one order go per 10 s: the refill after the first order went to the renewal's
      // grant, whose run sent nothing. Given back at once, the second certificate goes with it, before
      // the next refill could exist; kept for its minute (old code), the second waited for that next one.
      const after = orders[1]!.at - orders[0]!.at;
      console.log(`second order ${(after / 1000).toFixed(1)} s after the first (refills every ${PERIOD_MS / 1000} s)`);
      expect(after).toBeLessThan(2 * PERIOD_MS);
    } finally {
      await w.stop();
    }
  });
});
