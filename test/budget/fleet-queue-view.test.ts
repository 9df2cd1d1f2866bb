/**
 * The whole fleet's queue for the CA budget as views read it (`fleetQueue`, what `edgecert list`
 * shows; issue 26): orders of two processes on one storage, read by a third party from the queue's
 * records: fair order, each order's estimated send time from a simulation of the queue's walks on the
 * buckets as stored, the bucket holding it back now, and orders of a process whose lease lapsed left
 * out. The queues wait on a virtual clock that is never moved, so their orders stay queued.
 */
import { describe, expect, it, vi } from "vitest";
import { FairQueue, type AdmissionRequest } from "../../src/budget/fair-queue.ts";
import { FleetBudget } from "../../src/budget/fleet-budget.ts";
import { fleetQueue } from "../../src/budget/fleet-queue-view.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { VirtualClock } from "../support/virtual-clock.ts";

const HOUR = 3_600_000;
const ACCOUNT = "https://ca.example/acct/1";
const order = (name: string, expiresAt?: number): AdmissionRequest => ({ id: `id-${name}`, account: ACCOUNT, names: [name], nameSetId: `set-${name}`, ...(expiresAt ? { expiresAt } : {}) });

describe("fleetQueue", () => {
  it("orders of two processes: renewal first, a domain's own limit lets other domains go ahead, each with its send time and what holds it; a lapsed process's orders left out", async () => {
    const clock = new VirtualClock();
    const T = clock.now();
    const storage = new MemoryStorage();
    // 5 new orders an hour per account; 1 certificate an hour per registered domain.
    const budget = new FleetBudget({ storage, limits: { newOrdersPerAccount: { count: 5, periodMs: HOUR }, certificatesPerRegisteredDomain: { count: 1, periodMs: HOUR } }, ca: "ca", now: clock.now });
    // big.example's one certificate of the hour is spent (so is one of the account's five).
    expect((await budget.trySpend(order("x0.big.example"))).granted).toBe(true);
    const queues = [0, 1].map(() => new FairQueue(budget, { now: clock.now, sleep: clock.sleep }));
    const stop = new AbortController();
    const admitted: Array<Promise<unknown>> = [];
    const queueUp = async (q: FairQueue, request: AdmissionRequest, expected: number) => {
      admitted.push(q.admit(request, stop.signal).catch(() => undefined));
      // Each written before the next arrives (one at a time: the queue's fast path is for an empty queue).
      await vi.waitFor(async () => expect((await fleetQueue(budget, { now: T })).total).toBe(expected), { timeout: 10_000, interval: 5 });
    };
    await queueUp(queues[0]!, order("x1.big.example"), 1);
    await queueUp(queues[1]!, order("y.small.example"), 2);
    await queueUp(queues[1]!, order("r.other.example", T + 86_400_000), 3);
    await queueUp(queues[0]!, order("x2.big.example"), 4);

    const view = await fleetQueue(budget, { now: T });
    const shown = view.orders.map((o) => ({ name: o.names[0], position: o.position, in: o.estimatedAt - T, renewal: o.renewal, held: o.blockedBy && `${o.blockedBy.kind} ${o.blockedBy.subject} +${o.blockedBy.retryAt - T}` }));
    console.log(`fleet queue: ${JSON.stringify(shown)}`);
    // The renewal and small.example take two of the account's tokens now; big.example's two wait for
    // their domain's refill, one an hour (each spend counts as reaching the CA up to 1 s late).
    expect(shown).toEqual([
      { name: "r.other.example", position: 1, in: 0, renewal: true, held: undefined },
      { name: "y.small.example", position: 2, in: 0, renewal: false, held: undefined },
      { name: "x1.big.example", position: 3, in: HOUR + 1_000, renewal: false, held: `domain big.example +${HOUR + 1_000}` },
      { name: "x2.big.example", position: 4, in: 2 * HOUR + 2_000, renewal: false, held: `domain big.example +${HOUR + 1_000}` },
    ]);
    expect(view.total).toBe(4);
    // Read later than the processes' leases (30 s): nobody holds those places any more.
    expect(await fleetQueue(budget, { now: T + 31_000 })).toEqual({ orders: [], total: 0 });
    stop.abort();
    await Promise.all(admitted);
  });
});
