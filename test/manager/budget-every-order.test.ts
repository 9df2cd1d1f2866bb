/**
 * Every newOrder the library sends passes through the fleet's CA budget (issue 26). obtainCertificate
 * orders again after a failed validation it can avoid with another challenge type; Let's Encrypt
 * counts that second newOrder in New Orders per Account (https://letsencrypt.org/docs/rate-limits/).
 * Before, only the first order of an issuance was budgeted: after one issuance that needed a
 * challenge-type switch, the budget believed one token was left when the CA had none, and the next
 * order met a 429. Against Pebble (real time, real http-01 and dns-01 validation) behind the
 * rate-limit stand-in (rate-limiting-ca.ts: New Orders per Account at newOrder, Certificates per
 * Registered Domain and per Exact Set of Identifiers at finalize): an account allowed 2 orders an
 * hour, one name whose http-01 answer is wrong (so it falls back to dns-01): the budget spends 2 and
 * holds the next name back with `budget_spent` (nothing sent), the CA refuses nothing. The domain
 * limit is spent once, by the order that is finalized.
 */
import { describe, expect, it } from "vitest";
import { dns01Solver } from "../../src/acme/solvers/dns01-solver.ts";
import { BudgetSpentError } from "../../src/budget/fair-queue.ts";
import { FleetBudget } from "../../src/budget/fleet-budget.ts";
import { issuerKey } from "../../src/manager/storage-keys.ts";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { bedManager, useManagerBed } from "../support/manager-bed.ts";
import { rateLimitingCa } from "../support/rate-limiting-ca.ts";

const bed = useManagerBed();
const HOUR = 3_600_000;

describe("the CA budget counts every newOrder", () => {
  it("a challenge-type switch spends the account's bucket twice and the domain's once: the next order waits, the CA refuses nothing", async () => {
    const storage = new MemoryStorage();
    // The bed's http-01 responder answers from a store no solver writes to: Pebble's http-01 fetch
    // gets 404 (unauthorized), a failure dns-01 can avoid.
    bed.tokens = new MemoryStorage();
    const limits = { ordersPerAccount: { count: 2, periodMs: HOUR }, certificatesPerDomain: { count: 5, periodMs: HOUR } };
    const limited = rateLimitingCa(bed.pebble.fetch, { now: Date.now, ...limits });
    const caLimits = { newOrdersPerAccount: limits.ordersPerAccount, certificatesPerRegisteredDomain: limits.certificatesPerDomain };
    const manager = bedManager(bed, storage, {
      fetch: limited.fetch,
      caLimits,
      caaCheck: false,
      // Beyond a second of waiting the budget refuses (an hour's refill is not waited out in a test).
      budgetMaxWaitMs: 1_000,
      solvers: {
        "http-01": new StorageHttp01Solver(storage),
        "dns-01": dns01Solver({ setTxt: (name, value) => bed.pebble.setTxt(name, value), removeTxt: (name) => bed.pebble.clearTxt(name) }),
      },
      preferredChallenges: ["http-01", "dns-01"],
    });
    const switched = await manager.manage(["switch.every-order.example"]);
    expect(switched.names).toEqual(["switch.every-order.example"]);
    const newOrders = limited.events.filter((e) => e.kind === "newOrder" && !e.refused);
    // Two orders reached the CA: the one that failed http-01 and the dns-01 one.
    expect(newOrders).toHaveLength(2);
    expect(limited.events.filter((e) => e.kind === "finalize")).toHaveLength(1);

    // The fleet's budget counted what the CA counted: two spends of the account's bucket (none left),
    // one of the registered domain's.
    const budget = new FleetBudget({ storage, limits: caLimits, ca: issuerKey(bed.pebble.directoryUrl) });
    const account = newOrders[0]!.account;
    const spends = async (kind: "orders" | "domain", subject: string) => (await budget.state((await budget.bucket(kind, subject))!))?.n;
    const seen = { orders: await spends("orders", account), domain: await spends("domain", "every-order.example") };
    const views = await budget.view({ account, names: ["other.every-order.example"], nameSetId: "x" });
    console.log(`after one switched issuance: spends ${JSON.stringify(seen)}, available ${JSON.stringify(views.map((v) => [v.kind, v.available]))}`);
    expect(seen).toEqual({ orders: 2, domain: 1 });

    // The next name: held back by the budget, nothing sent; the CA refused nothing.
    const err = await manager.manage(["next.every-order.example"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetSpentError);
    expect((err as BudgetSpentError).blockedBy.kind).toBe("orders");
    expect(limited.refusals()).toEqual([]);
    expect(limited.events.filter((e) => e.kind === "newOrder")).toHaveLength(2);
  });

  it("issuances that fail validation give the registered domain's certificates back: the domain's next names are issued, none refused", async () => {
    const storage = new MemoryStorage();
    // Two certificates an hour per registered domain (spent at finalize, at the CA), ten orders.
    const limits = { ordersPerAccount: { count: 10, periodMs: HOUR }, certificatesPerDomain: { count: 2, periodMs: HOUR } };
    const limited = rateLimitingCa(bed.pebble.fetch, { now: Date.now, ...limits });
    const manager = bedManager(bed, storage, {
      fetch: limited.fetch,
      caLimits: { newOrdersPerAccount: limits.ordersPerAccount, certificatesPerRegisteredDomain: limits.certificatesPerDomain },
      caaCheck: false,
      budgetMaxWaitMs: 10_000,
    });
    // A customer's two names whose http-01 answers nothing: validation fails, nothing is issued.
    bed.tokens = new MemoryStorage();
    for (const name of ["a.gives-back.example", "b.gives-back.example"]) {
      const err = await manager.manage([name]).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe("challenge_failed");
    }
    // The same domain's next two names, answered: the CA has both certificates to give, and so has the budget.
    bed.tokens = storage;
    for (const name of ["c.gives-back.example", "d.gives-back.example"]) expect((await manager.manage([name])).names).toEqual([name]);
    expect(limited.events.filter((e) => e.kind === "finalize")).toHaveLength(2);
    expect(limited.refusals()).toEqual([]);
  });
});
