import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { rateLimitingCa } from "../support/rate-limiting-ca.ts";
import { budgetQueueStub, certificateSummary, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 26, onboarding 100,000 names through the Worker: a bulk add far beyond what the CA's limits
// let go soon must not put every name in flight at once. Each order waiting in the CA budget's queue
// costs the queue's memory (~1.9 KB, one Durable Object for the deployment) and a renewer invocation to
// park it; with all 100,000 dispatched within minutes, local workerd ran out of SQLite memory. The
// queue takes at most BUDGET_QUEUE_MAX orders; a tick leaves the other first issuances due in the
// index and the queue kicks a tick for them when it has drained. Real Worker in workerd, real Pebble
// behind Let's Encrypt's limits (rate-limiting-ca.ts). Cost: about 15 s.
let pebble: PebbleInstance;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

interface QueueStub {
  queued(): Promise<Array<{ id: string }>>;
}
const budgetQueue = (w: WorkerInstance) => budgetQueueStub<QueueStub>(w);
const get = certificateSummary;
type Bulk = { certificates: Array<CertificateSummary & { created: boolean }> };
const addBulk = async (w: WorkerInstance, names: string[]) => {
  const res = await w.admin("/admin/certificates/bulk", { method: "POST", body: JSON.stringify({ certificates: names.map((n) => ({ names: [n] })) }) });
  expect(res.status).toBe(202);
  return ((await res.json()) as Bulk).certificates.map((c) => c.id);
};

describe("a bulk add beyond what the CA's limits let go soon", () => {
  it("puts at most BUDGET_QUEUE_MAX orders in the CA budget's queue; the others wait in the index, never dispatched", { timeout: 60_000 }, async () => {
    const CAP = 8;
    const N = 120;
    // Two new orders, then none for an hour: all but two wait for the budget.
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: { count: 2, periodMs: 3_600_000 } });
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=2/1h", BUDGET_QUEUE_MAX: String(CAP), RENEW_BATCH: "40", RENEW_CHUNK: "10" }, outbound: (request) => ca.fetch(request) });
    try {
      const ids = await addBulk(w, Array.from({ length: N }, (_, i) => `n${i}.c${i % 6}-bound.test`));
      // The kicked tick's orders reach the queue (two go at once, the rest wait)…
      const queue = await budgetQueue(w);
      await vi.waitFor(async () => expect((await queue.queued()).length).toBeGreaterThanOrEqual(CAP - 2), { timeout: 30_000, interval: 250 });
      // …then a cron tick: it claims a full batch and waits for its renewers (old code: it dispatched
      // its 40, every order parked in the queue, as the kicked ticks did with the rest).
      await w.cron(Date.now());
      const tick = await (await w.index()).lastTick();
      console.log(`queue bound: ${N} added, cap ${CAP}: ${(await queue.queued()).length} waiting in the queue; last cron tick dispatched ${tick?.dispatched}`);
      expect((await queue.queued()).length).toBeGreaterThan(0);
      expect((await queue.queued()).length).toBeLessThanOrEqual(CAP);
      // A certificate a renewer ran for has a state of its own (issued, or waiting for the budget); the
      // rest were never dispatched: at most the two issued and CAP waiting were.
      const entries = await Promise.all(ids.map((id) => get(w, id)));
      const touched = entries.filter((c) => c.status !== "pending" || c.queuedFor !== null);
      expect(entries.filter((c) => c.status === "valid")).toHaveLength(2);
      expect(touched.length).toBeLessThanOrEqual(2 + CAP);
      expect(ca.refusals()).toEqual([]);
    } finally {
      await w.stop();
    }
  });

  it("issues every name, the queue drawing more from the index as it drains, without a cron tick", { timeout: 90_000 }, async () => {
    // Four new orders, then one every 500 ms; at most two orders in the queue.
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: { count: 4, periodMs: 2_000 } });
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=4/2s", BUDGET_QUEUE_MAX: "2", RENEW_BATCH: "4", RENEW_CHUNK: "2" }, outbound: (request) => ca.fetch(request) });
    try {
      const ids = await addBulk(w, Array.from({ length: 10 }, (_, i) => `n${i}.c${i % 3}-drain.test`));
      await vi.waitFor(async () => expect((await Promise.all(ids.map((id) => get(w, id)))).filter((c) => c.status === "valid")).toHaveLength(10), { timeout: 75_000, interval: 250 });
      expect(ca.refusals()).toEqual([]);
    } finally {
      await w.stop();
    }
  });
});
