import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { rateLimitingCa } from "../support/rate-limiting-ca.ts";
import { certificateSummary, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 26, through the Worker: one rate-limit refusal from the CA pauses that bucket for the whole
// deployment until its Retry-After, so the certificates that come next wait in the queue instead of
// meeting the same 429. The budget (CA_LIMITS) believes in 100 orders a minute; the CA's account bucket
// (shared with a client outside this deployment, say) holds one an hour: Pebble behind the rate-limit
// stand-in (test/support/rate-limiting-ca.ts) on the Worker's outbound path. The library's own test
// of the pause is test/budget/onboarding.test.ts; here every certificate runs in its own Durable Object
// invocation and the pause lives in the storage object. Cost: ~15 s.
let pebble: PebbleInstance;
beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

const HOUR = 3_600_000;

describe("a CA's rate-limit refusal through the Worker", () => {
  it("pauses the account's bucket for every invocation until its Retry-After: the next certificates are queued, not sent, and only one 429 is ever met", { timeout: 120_000 }, async () => {
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: { count: 1, periodMs: HOUR } });
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=100/60s" }, outbound: (request) => ca.fetch(request) });
    const get = (id: string) => certificateSummary(w, id);
    const add = async (name: string) => {
      const res = await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) });
      expect(res.status).toBe(202);
      return ((await res.json()) as CertificateSummary).id;
    };
    try {
      const first = await add("first.pause.test");
      await vi.waitFor(async () => expect((await get(first)).status).toBe("valid"), { timeout: 60_000, interval: 200 });
      // The CA's one token is spent: this order meets the 429 (Retry-After about an hour).
      const refused = await add("refused.pause.test");
      await vi.waitFor(() => expect(ca.refusals()).toHaveLength(1), { timeout: 60_000, interval: 100 });
      const refusedAt = ca.refusals()[0]!.at;
      await vi.waitFor(async () => expect((await get(refused)).failures).toBeGreaterThanOrEqual(1), { timeout: 60_000, interval: 200 });
      // Other customers' certificates, each in an invocation of its own: held back by the pause.
      const later = [await add("www.other-a.test"), await add("www.other-b.test")];
      for (const id of later) await vi.waitFor(async () => expect((await get(id)).queuedFor).toMatch(/^orders /), { timeout: 60_000, interval: 200 });
      const sent = ca.events.filter((e) => e.kind === "newOrder").map((e) => `${e.names[0]}${e.refused ? " (refused)" : ""}`);
      const waits = await Promise.all(later.map(async (id) => (Date.parse((await get(id)).nextWorkAt) - refusedAt) / 60_000));
      console.log(`orders at the CA: ${sent.join(", ")}; the later two wait ${waits.map((m) => m.toFixed(1)).join(" and ")} min after the refusal`);
      expect(sent).toEqual(["first.pause.test", "refused.pause.test (refused)"]);
      expect(ca.refusals()).toHaveLength(1);
      // Until the CA's Retry-After (an hour from its bucket's last spend), not the budget's own minute.
      for (const m of waits) expect(m).toBeGreaterThan(50);
    } finally {
      await w.stop();
    }
  });
});
