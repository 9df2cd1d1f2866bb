import { describe, expect, it } from "vitest";
import { FairQueue, type AdmissionRequest } from "../../src/budget/fair-queue.ts";
import { FleetBudget } from "../../src/budget/fleet-budget.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";

// Issue 26: the estimate a waiting order is shown (queued(), the certificate_queued event, and the
// Worker's GET /admin/queue and webhooks through its parked orders) holds behind an order its bucket
// holds back. Found through the Worker (test/workers/fleet-pause.test.ts): after the CA's 429 paused the
// account's bucket for an hour, the order behind the paused head — one the queue's walk had not reached,
// so it had no blocking bucket of its own — was expected "now", and its certificate came back every
// tick. Real time, a few hundred ms: each admit is let walk once.
const HOUR = 3_600_000;
const ACCOUNT = "https://ca.test/acct/1";
const order = (name: string): AdmissionRequest => ({ id: name, account: ACCOUNT, names: [name], nameSetId: name });
const walked = () => new Promise((r) => setTimeout(r, 300));

describe("queue views' estimates behind a held-back order", () => {
  it("an order behind one its bucket holds back until a pause's end is expected one interval after it, not now", async () => {
    const budget = new FleetBudget({ storage: new MemoryStorage(), limits: { newOrdersPerAccount: { count: 100, periodMs: 60_000 } }, ca: "ca" });
    const [account] = await budget.bucketsFor(order("x.test"));
    const pausedUntil = Date.now() + HOUR;
    await budget.pause(account!, pausedUntil);
    const queue = new FairQueue(budget);
    // Admitted one after the other, the second behind the first in the queue's turns (www.a.test after www.b.test).
    void queue.admit(order("www.b.test")).catch(() => undefined);
    await walked();
    void queue.admit(order("www.a.test")).catch(() => undefined);
    await walked();
    const views = queue.queued();
    console.log(`behind a pause: ${views.map((v) => `#${v.position} ${v.id} at +${((v.estimatedAt - Date.now()) / 60_000).toFixed(1)} min (${v.blockedBy?.kind ?? "no bucket"})`).join(", ")}`);
    expect(views.map((v) => v.id)).toEqual(["www.b.test", "www.a.test"]);
    expect(views[0]!.estimatedAt).toBe(pausedUntil);
    // Old code: www.a.test at now + 0.6 s with no blockedBy.
    expect(views[1]!.estimatedAt).toBe(pausedUntil + 600);
    expect(views[1]!.blockedBy).toMatchObject({ kind: "orders", subject: ACCOUNT, retryAt: pausedUntil + 600 });
  });

  it("a customer whose own domain bucket is spent holds back its own next order, not another customer's on the shared account bucket", async () => {
    const budget = new FleetBudget({ storage: new MemoryStorage(), limits: { newOrdersPerAccount: { count: 100, periodMs: 60_000 }, certificatesPerRegisteredDomain: { count: 1, periodMs: HOUR } }, ca: "ca" });
    expect((await budget.trySpend(order("n0.big.test"))).granted).toBe(true);
    const queue = new FairQueue(budget);
    for (const name of ["n1.big.test", "n2.big.test", "www.small.test"]) void queue.admit(order(name)).then(() => undefined, () => undefined);
    await walked();
    const at = Object.fromEntries(queue.queued().map((v) => [v.id, v.estimatedAt - Date.now()]));
    console.log(`domain spent: ${Object.entries(at).map(([id, ms]) => `${id} +${(ms / 60_000).toFixed(1)} min`).join(", ")}`);
    // www.small.test is granted at once (the account's bucket has room): it is no longer waiting.
    expect(at["www.small.test"]).toBeUndefined();
    // The big customer's two, in whichever order its turns put them: the next at the domain's refill,
    // the one after a refill interval (an hour) later (old code: the second expected now).
    const [next, after] = [at["n1.big.test"]!, at["n2.big.test"]!].sort((a, b) => a - b);
    expect(next).toBeGreaterThan(HOUR - 60_000);
    expect(after).toBeGreaterThanOrEqual(next! + HOUR - 1_000);
  });
});
