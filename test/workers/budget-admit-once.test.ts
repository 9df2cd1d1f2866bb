import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { budgetQueueStub, certificateSummary, startWorker, type CertificateSummary } from "../support/worker.ts";

// Issue 26, review: a renewal the CA budget holds back asks the Worker's CaBudgetQueue once. The
// manager asks for the budget before taking the certificate's lock and, refused, again under it; in the
// Worker each ask waited the full 3 s (the queue parks the order rather than refusing early), so a
// held-back renewal held its dispatcher's place 6 s (POST .../renew answered after 6.0 s), and each ask
// took a unit of the room reserved for first issuances on their way: one order counted twice, another
// chunk's orders uncounted, and more than BUDGET_QUEUE_MAX could wait. Removed (or revoked) while it
// waits, its parked order leaves the queue too. Real Worker in workerd, Pebble.
// Cost: about 15 s.
let pebble: PebbleInstance;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

interface QueueStub {
  reserve(ticket: string, want: number, max: number): Promise<number>;
  room(want: number, max: number): Promise<number>;
  queued(): Promise<Array<{ id: string }>>;
}

describe("a certificate the CA budget holds back", () => {
  it("is counted once against the queue's room (its run asks the queue once), and leaves the queue when removed", { timeout: 120_000 }, async () => {
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=1/1h" } });
    const get = (id: string) => certificateSummary(w, id);
    const add = async (name: string) => ((await (await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) })).json()) as CertificateSummary).id;
    try {
      const first = await add("first.admit-once.test");
      await vi.waitFor(async () => expect((await get(first)).status).toBe("valid"), { timeout: 60_000, interval: 200 });
      const queue = await budgetQueueStub<QueueStub>(w);
      // Room for two first issuances on their way (as a dispatcher reserves for its chunk).
      expect(await queue.reserve("probe", 2, 1_000)).toBe(2);
      const second = await add("second.admit-once.test");
      await vi.waitFor(async () => expect((await get(second)).queuedFor).toMatch(/^orders /), { timeout: 60_000, interval: 200 });
      // It waits, parked, and took one of the two: 1 waiting + 1 still reserved (old code: it took both).
      expect(await queue.room(1_000, 1_000)).toBe(998);

      // Removed while it waits: its order leaves the queue with it (old code: it kept its place, and
      // its unit of BUDGET_QUEUE_MAX, until its turn an hour on).
      expect((await queue.queued()).map((q) => q.id)).toEqual([second]);
      expect((await w.admin(`/admin/certificates/${second}`, { method: "DELETE" })).status).toBe(200);
      await vi.waitFor(async () => expect(await queue.queued()).toEqual([]), { timeout: 30_000, interval: 200 });
      expect(await queue.room(1_000, 1_000)).toBe(999);
    } finally {
      await w.stop();
    }
  });
});
