import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { rateLimitingCa } from "../support/rate-limiting-ca.ts";
import { budgetQueueStub, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 26, onboarding through the Worker with the CA budget's queue bounded (BUDGET_QUEUE_MAX): the
// queue's FairQueue can only order what a tick claims from the index, so the index must claim what
// it needs — every customer's next name in turn, and for a customer whose own per-domain limit decides
// when it is done, enough names to spend that limit as it refills. Claimed in due order (= the order
// added), a big customer added first filled the queue with names its own limit lets go one an hour
// while the other customers waited in the index; added last, it got nothing while the small
// customers' backlog filled the queue. Real Worker in workerd, real Pebble behind the limits
// (rate-limiting-ca.ts: two new orders an hour, one certificate per registered domain an hour), so
// nearly everything waits and the test reads who is in the queue. Cost: about 10 s.
let pebble: PebbleInstance;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

const CAP = 30;
const LIMITS = { ordersPerAccount: { count: 2, periodMs: 3_600_000 }, certificatesPerDomain: { count: 1, periodMs: 3_600_000 } };
/** What the index claims for the big customer while its own limit binds (workers/renewal-index.ts claimDue): its bucket (1) and what refills while the queue drains to half (15 orders at 2/h: 7.5). */
const BIG_NEED = 9;

interface QueueStub {
  queued(): Promise<Array<{ id: string; names: string[] }>>;
}
const start = async () => {
  const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ...LIMITS });
  const w = await startWorker(pebble, {
    vars: { CA_LIMITS: "orders=2/1h,domain=1/1h", BUDGET_QUEUE_MAX: String(CAP), RENEW_BATCH: "10", RENEW_CHUNK: "2" },
    outbound: (request) => ca.fetch(request),
  });
  return { ca, w, queue: await budgetQueueStub<QueueStub>(w) };
};
const addBulk = async (w: WorkerInstance, names: string[]) => {
  const res = await w.admin("/admin/certificates/bulk", { method: "POST", body: JSON.stringify({ certificates: names.map((n) => ({ names: [n] })) }) });
  expect(res.status).toBe(202);
  return ((await res.json()) as { certificates: CertificateSummary[] }).certificates.map((c) => c.id);
};
/** Every certificate (one page: at most 200). */
const all = async (w: WorkerInstance) => new Map(((await (await w.admin("/admin/certificates?limit=200")).json()) as { certificates: CertificateSummary[] }).certificates.map((c) => [c.id, c]));
/**
 * Waits until the ticks' renewers are done with what they claimed: each certificate issued, waiting
 * for the budget, or not claimed (a claim pushes its next work 15 minutes on), and at least one touched.
 */
const settled = async (w: WorkerInstance, ids: string[]) => {
  await vi.waitFor(
    async () => {
      const page = await all(w);
      const them = ids.map((id) => page.get(id)!);
      const claimed = them.filter((c) => c.status === "pending" && c.queuedFor === null && Date.parse(c.nextWorkAt) > Date.now() + 5 * 60_000);
      expect(claimed).toEqual([]);
      expect(them.some((c) => c.status === "valid" || c.queuedFor !== null)).toBe(true);
    },
    { timeout: 60_000, interval: 500 },
  );
};
const big = Array.from({ length: 60 }, (_, i) => `n${i}.big-fair.test`);
const smalls = (n: number) => Array.from({ length: n }, (_, j) => `n0.s${j}-fair.test`);

describe("first issuances claimed for a bounded CA budget queue", () => {
  it("a big customer added first: every small customer added after it reaches the queue, the big one keeps what its own limit needs", { timeout: 90_000 }, async () => {
    const { ca, w, queue } = await start();
    try {
      const bigIds = await addBulk(w, big);
      await settled(w, bigIds);
      const smallIds = await addBulk(w, smalls(20));
      await settled(w, smallIds);
      const queued = new Set((await queue.queued()).map((q) => q.id));
      const page = await all(w);
      const smallIn = smallIds.map((id) => page.get(id)!).filter((c) => c.status === "valid" || queued.has(c.id)).length;
      const bigIn = bigIds.filter((id) => queued.has(id)).length;
      // The queue was told the index's backlog (60 big, 20 small): the big customer's limit binds, so the
      // queue serves its orders first and lists them first. Judged on what waits there (9 of 29) it did not.
      const order = (await queue.queued()).map((q) => q.id);
      const bigFirst = order.slice(0, bigIn).every((id) => bigIds.includes(id));
      console.log(`fair claim, big first: queue ${queued.size} of ${CAP}: ${bigIn} of the big customer's (listed first: ${bigFirst}), small customers issued or queued ${smallIn} of 20`);
      expect(bigFirst).toBe(true);
      // Old code: the big customer's 30 filled the queue; 0 or 1 small customers got in.
      expect(smallIn).toBe(20);
      expect(bigIn).toBeGreaterThanOrEqual(1);
      expect(bigIn).toBeLessThanOrEqual(BIG_NEED);
      expect(ca.refusals()).toEqual([]);
    } finally {
      await w.stop();
    }
  });

  it("the index's claim: each customer's next name in turn, a customer whose own limit binds its need first, a newcomer in the current round", { timeout: 60_000 }, async () => {
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=2/1h,domain=1/1h" } });
    try {
      type Claimed = { entries: Array<{ id: string; names: string[] }>; rowsRead: number };
      const index = (await w.index()) as unknown as {
        addMany(items: Array<{ id: string; names: string[]; dueAt: number; domain: string }>, now: number): Promise<unknown>;
        claimDue(now: number, limit: number, claimMs: number, firsts: number, fair: { queueMax: number; orders: { count: number; periodMs: number }; domain: { count: number; periodMs: number } }): Promise<Claimed>;
      };
      const now = Date.now();
      const entries = (domain: string, n: number, from: number) => Array.from({ length: n }, (_, i) => ({ id: `n${i}.${domain}`, names: [`n${i}.${domain}`], dueAt: from + i, domain }));
      // The big customer added first, then 10 small ones with 3 names each: due order is the big one's 60 first.
      await index.addMany(entries("big.test", 60, now - 10_000), now);
      for (let j = 0; j < 10; j++) await index.addMany(entries(`s${j}.test`, 3, now - 5_000 + j * 10), now);
      const fair = { queueMax: 30, orders: { count: 2, periodMs: 3_600_000 }, domain: { count: 1, periodMs: 3_600_000 } };
      const claim = async (room: number) => {
        const { entries: got, rowsRead } = await index.claimDue(now, 100, 60_000, room, fair);
        const by = (d: string) => got.filter((e) => e.id.endsWith(`.${d}`)).map((e) => e.id);
        return { big: by("big.test").length, smalls: got.map((e) => e.id).filter((id) => /\.s\d\.test$/.test(id)), late: by("late.test"), rowsRead };
      };
      // 90 pending, the big one's 60 at one a refill take longer than half of all 90 at two: its own limit binds. It gets its
      // bucket (1) and what refills while the queue drains to half (15 orders at 2/h: 7.5), up to half the room; the other half
      // goes in turns: six small customers' first names (old code: the 12 earliest due, all the big customer's).
      const first = await claim(12);
      expect(first.big).toBe(6);
      expect(first.smalls.map((id) => id.split(".")[0])).toEqual(Array(6).fill("n0"));
      // Next: the big one's 9 less the 6 in flight; then the four small customers still without one, then second names.
      const second = await claim(12);
      expect(second.big).toBe(3);
      expect(second.smalls.slice(0, 4)).toEqual(["n0.s6.test", "n0.s7.test", "n0.s8.test", "n0.s9.test"]);
      expect(second.smalls.slice(4).every((id) => id.startsWith("n1."))).toBe(true);
      // A customer added now joins the current round (second names): its first name before any third name, its second after.
      await index.addMany(entries("late.test", 2, now), now);
      const third = await claim(6);
      expect(third.big).toBe(0);
      expect(third.late).toEqual(["n0.late.test"]);
      expect(third.smalls.every((id) => id.startsWith("n1."))).toBe(true);
      console.log(`fair claim, index: claims of 12, 12, 6: big ${first.big}/${second.big}/${third.big}, rows read ${first.rowsRead}/${second.rowsRead}/${third.rowsRead} of 92 pending`);
    } finally {
      await w.stop();
    }
  });

  it("a first issuance handed back unstarted (no room in the queue) keeps its turn", { timeout: 60_000 }, async () => {
    // A dispatcher gives back the first issuances its chunk had no room for in the CA budget's queue, and a tick
    // the chunks it did not start (workers/renewal-dispatcher.ts, scheduled.ts). They went back due as before but
    // behind every turn: in the 100,000-name run through the Worker, 18 small customers had their first
    // certificate only at the end (3,900-4,028 s of 4,958).
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=2/1h,domain=1/1h" } });
    try {
      const index = (await w.index()) as unknown as {
        addMany(items: Array<{ id: string; names: string[]; dueAt: number; domain: string }>, now: number): Promise<unknown>;
        claimDue(now: number, limit: number, claimMs: number, firsts: number, fair: { queueMax: number }): Promise<{ entries: Array<{ id: string; dueAt: number }> }>;
        release(entries: Array<{ id: string; dueAt: number }>, claimedUntil: number): Promise<number>;
      };
      const now = Date.now();
      const dueAt = new Map<string, number>();
      for (let j = 0; j < 10; j++) {
        const items = Array.from({ length: 3 }, (_, i) => ({ id: `n${i}.s${j}.test`, names: [`n${i}.s${j}.test`], dueAt: now - 5_000 + j * 10 + i, domain: `s${j}.test` }));
        for (const item of items) dueAt.set(item.id, item.dueAt);
        await index.addMany(items, now);
      }
      const claim = async (firsts: number) => (await index.claimDue(now, 100, 60_000, firsts, { queueMax: 30 })).entries.map((e) => e.id);
      // Every customer's first name; five of them find no room and go back.
      const first = await claim(10);
      expect(first).toEqual(Array.from({ length: 10 }, (_, j) => `n0.s${j}.test`));
      const back = first.slice(0, 5).map((id) => ({ id, dueAt: dueAt.get(id)! }));
      expect(await index.release(back, now + 60_000)).toBe(5);
      // They are next again, before anyone's second name (old code: n1.s0 … n1.s4).
      expect(await claim(5)).toEqual(back.map((e) => e.id));
    } finally {
      await w.stop();
    }
  });
});
