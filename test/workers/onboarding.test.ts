import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { rateLimitingCa } from "../support/rate-limiting-ca.ts";
import { certificateSummary, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 26, through the Worker: the CA budget (CA_LIMITS) in workerd against real Pebble behind Let's
// Encrypt's rate limits (test/support/rate-limiting-ca.ts on the Worker's outbound path). An invocation
// waits at most 3 s for the budget; beyond that the attempt fails with budget_spent (nothing sent), its
// order stays parked in the queue (run again when its turn comes: test/workers/bulk-add.test.ts) and the
// certificate is due again at its bucket's refill. That wait in the queue is not a failure: the next
// attempt is when the budget refills, however many ticks found it spent. The old Worker counted each
// as a failed attempt and backed off exponentially (1, 2, 4 … minutes, up to a day) on top of the
// refill, so names queued behind a busy account waited far longer than the CA's limits required (the
// onboarding bench through the Worker: 2.3x the time the limits allow; 1.035x now). Every invocation
// waits in the deployment's one queue (workers/ca-budget-queue.ts), so turns across registered domains
// hold across invocations. The whole 300-name workload is in `npm run bench`
// (bench/worker-onboarding.ts). Cost: about 15 s (two Workers against one Pebble).
let pebble: PebbleInstance;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

const get = certificateSummary;
const add = async (w: WorkerInstance, name: string) => {
  const res = await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) });
  expect(res.status).toBe(202);
  return ((await res.json()) as CertificateSummary).id;
};

describe("the CA budget through the Worker", () => {
  it("a certificate the budget holds back comes back when the budget refills, however often a tick finds it spent", { timeout: 120_000 }, async () => {
    // One new order per 60 s: the second certificate's refill is ~60 s away, beyond the 10 s an invocation waits.
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: { count: 1, periodMs: 60_000 } });
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=1/60s" }, outbound: (request) => ca.fetch(request) });
    try {
      const first = await add(w, "first.retry.test");
      await vi.waitFor(async () => expect((await get(w, first)).status).toBe("valid"), { timeout: 60_000, interval: 200 });
      const spentAt = ca.events.find((e) => e.kind === "newOrder")!.at;
      const second = await add(w, "second.retry.test");
      await vi.waitFor(async () => expect((await get(w, second)).queuedFor).toMatch(/^orders /), { timeout: 60_000, interval: 200 });
      // Three more ticks find the budget still spent (the entry is made due again before each).
      const index = await w.index();
      for (let tick = 0; tick < 3; tick++) {
        const entry = (await index.get(second))!;
        await index.upsertMany([{ ...entry, dueAt: Date.now() - 1 }]);
        await w.cron(Date.now());
        expect((await index.lastTick())?.outcomes).toEqual({ failed: 1 });
      }
      const queued = await get(w, second);
      const refill = spentAt + 60_000;
      console.log(`held back 4 times: next attempt ${((Date.parse(queued.nextWorkAt) - refill) / 1000).toFixed(1)} s after the refill, failures ${queued.failures}`);
      expect(queued.queuedFor).toMatch(/^orders /);
      // When the bucket holds a token again (plus the budget's 1 s send margin), not a backoff later
      // (old code: 4 failures, next attempt 4-8 min away).
      expect(Date.parse(queued.nextWorkAt)).toBeGreaterThanOrEqual(refill - 5_000);
      expect(Date.parse(queued.nextWorkAt)).toBeLessThanOrEqual(refill + 5_000);
      expect(queued.failures).toBe(1);
      // Nothing was sent for it: one order at the CA, none refused.
      expect(ca.events.filter((e) => e.kind === "newOrder").map((e) => e.names)).toEqual([["first.retry.test"]]);
      expect(ca.refusals()).toEqual([]);
    } finally {
      await w.stop();
    }
  });

  it("takes turns across registered domains over every invocation: a customer's one name does not wait behind another's six", { timeout: 120_000 }, async () => {
    // Two new orders at once, then one a second (plus the budget's 1 s send margin once): seven
    // orders fit in one invocation's 10 s wait, so every certificate waits in the queue at once.
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: { count: 2, periodMs: 2_000 } });
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=2/2s" }, outbound: (request) => ca.fetch(request) });
    try {
      // Each POST starts its certificate's first attempt at once, in its own invocation (renewer).
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push(await add(w, `n${i}.big.turns.test`));
      ids.push(await add(w, "www.small-turns.test"));
      const sentBefore = ca.events.filter((e) => e.kind === "newOrder").length;
      await vi.waitFor(async () => expect((await Promise.all(ids.map((id) => get(w, id)))).filter((c) => c.status === "valid")).toHaveLength(ids.length), { timeout: 90_000, interval: 250 });
      const order = ca.events.filter((e) => e.kind === "newOrder").map((e) => e.names[0]!);
      console.log(`order at the CA: ${order.join(" ")} (${sentBefore} sent when the small customer's name was added)`);
      expect(ca.refusals()).toEqual([]);
      expect(order).toHaveLength(7);
      // Once the small customer's name waits, the turns alternate: at most the big customer's turn in
      // progress (and one more while the name's invocation reaches the queue) goes before it. (A queue
      // per invocation: whichever invocation's timer fired first took each token, in the order they
      // came, and the small customer's name went last.)
      expect(order.indexOf("www.small-turns.test")).toBeLessThanOrEqual(Math.min(5, sentBefore + 2));
    } finally {
      await w.stop();
    }
  });
});
