/**
 * What one issuance spends of the CA budget per newOrder (OrderSpends, issue 26), as Let's Encrypt
 * counts (https://letsencrypt.org/docs/rate-limits/): each newOrder spends New Orders per Account,
 * the per-issuance limits (registered domain, exact name set) are spent once, and an order naming the
 * certificate it replaces (ARI) spends nothing. Cases: a challenge-type switch (a second order: the
 * account's bucket only), an ARI renewal whose `replaces` the CA refused with `alreadyReplaced` (the
 * order sent again without it is not exempt: every bucket, once), a resumed order that fails and is
 * ordered anew (no admission: every bucket), and a budget that cannot hold the further order within
 * the wait bound (BudgetSpentError, nothing sent).
 */
import { describe, expect, it, vi } from "vitest";
import type { CaLimits } from "../../src/budget/ca-limits.ts";
import { BudgetSpentError, type QueuedOrder } from "../../src/budget/fair-queue.ts";
import { silentLogger } from "../../src/logger.ts";
import { CaBudgets } from "../../src/manager/ca-budgets.ts";
import { OrderSpends } from "../../src/manager/order-spends.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";

const HOUR = 3_600_000;
const CA = "https://ca.order-spends.test/dir";
const limits: CaLimits = {
  newOrdersPerAccount: { count: 10, periodMs: HOUR },
  certificatesPerRegisteredDomain: { count: 10, periodMs: HOUR },
  certificatesPerNameSet: { count: 10, periodMs: HOUR },
  replacementsExempt: true,
};

function setup(maxWaitMs?: number) {
  const storage = new MemoryStorage();
  const budgets = new CaBudgets({ storage, primary: CA, caLimits: limits, now: Date.now, logger: silentLogger, onQueued: () => undefined, ...(maxWaitMs !== undefined ? { maxWaitMs } : {}) });
  const budget = budgets.for(CA)!.budget;
  const request = { id: "cert-1", account: "https://ca.order-spends.test/acct/1", names: ["a.spends.example"], nameSetId: "cert-1" };
  /** Spends so far per bucket kind. */
  const spent = async () => {
    const n = async (kind: "orders" | "domain" | "nameset", subject: string) => (await budget.state((await budget.bucket(kind, subject))!))?.n ?? 0;
    return { orders: await n("orders", request.account), domain: await n("domain", "spends.example"), nameset: await n("nameset", request.nameSetId) };
  };
  return { budgets, budget, request, spent };
}

describe("OrderSpends: one spend per newOrder, per-issuance limits once", () => {
  it("a challenge-type switch spends the account's bucket again, and nothing else", async () => {
    const { budgets, request, spent } = setup();
    const admitted = await budgets.admit(CA, { ...request, replaces: false });
    const spends = new OrderSpends(budgets, CA, { ...request, replaces: false }, admitted, Date.now, undefined);
    await spends.beforeNewOrder({ attempt: 1, replaces: false });
    expect(await spent()).toEqual({ orders: 1, domain: 1, nameset: 1 });
    await spends.beforeNewOrder({ attempt: 2, replaces: false });
    await spends.beforeNewOrder({ attempt: 3, replaces: false });
    expect(await spent()).toEqual({ orders: 3, domain: 1, nameset: 1 });
    await spends.beforeFinalize();
    expect(await spent()).toEqual({ orders: 3, domain: 1, nameset: 1 });
  });

  it("an ARI renewal sent again without `replaces` after alreadyReplaced spends every bucket once; its retries the account's only", async () => {
    const { budgets, request, spent } = setup();
    const renewal = { ...request, replaces: true, expiresAt: Date.now() + 10 * 86_400_000 };
    const admitted = await budgets.admit(CA, renewal);
    expect(admitted?.spent).toEqual([]);
    const spends = new OrderSpends(budgets, CA, renewal, admitted, Date.now, undefined);
    await spends.beforeNewOrder({ attempt: 1, replaces: true });
    expect(await spent()).toEqual({ orders: 0, domain: 0, nameset: 0 });
    await spends.beforeNewOrder({ attempt: 1, replaces: false });
    expect(await spent()).toEqual({ orders: 1, domain: 1, nameset: 1 });
    // The next attempt asks with `replaces` first again (exempt), then without it (the account's bucket).
    await spends.beforeNewOrder({ attempt: 2, replaces: true });
    await spends.beforeNewOrder({ attempt: 2, replaces: false });
    expect(await spent()).toEqual({ orders: 2, domain: 1, nameset: 1 });
  });

  it("a resumed order that failed and is ordered anew spends every bucket for the new order", async () => {
    const { budgets, request, spent } = setup();
    const spends = new OrderSpends(budgets, CA, { ...request, replaces: false }, undefined, Date.now, undefined);
    await spends.beforeNewOrder({ attempt: 2, replaces: false });
    await spends.beforeNewOrder({ attempt: 3, replaces: false });
    expect(await spent()).toEqual({ orders: 2, domain: 1, nameset: 1 });
  });

  it("an admission whose order was never sent goes back", async () => {
    const { budgets, budget, request } = setup();
    const admitted = await budgets.admit(CA, { ...request, replaces: false });
    const spends = new OrderSpends(budgets, CA, { ...request, replaces: false }, admitted, Date.now, undefined);
    const before = (await budget.view(request)).map((v) => v.available);
    await spends.failed();
    // One token more in each bucket (the send margin the spend counted stays: see FleetBudget.sendMarginMs).
    expect((await budget.view(request)).map((v) => v.available)).toEqual(before.map((n) => n + 1));
    // Once given back, not again.
    await spends.failed();
    expect((await budget.view(request)).map((v) => v.available)).toEqual(before.map((n) => n + 1));
  });

  it("a further order the budget cannot hold within the wait bound is refused with BudgetSpentError", async () => {
    const { budgets, budget, request, spent } = setup(1_000);
    // Someone else spent the account's bucket but one token.
    for (let i = 0; i < 9; i++) expect((await budget.trySpend({ ...request, kinds: ["orders"] })).granted).toBe(true);
    const admitted = await budgets.admit(CA, { ...request, replaces: false });
    const spends = new OrderSpends(budgets, CA, { ...request, replaces: false }, admitted, Date.now, undefined);
    await spends.beforeNewOrder({ attempt: 1, replaces: false });
    const err = await spends.beforeNewOrder({ attempt: 2, replaces: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetSpentError);
    expect((err as BudgetSpentError).blockedBy.kind).toBe("orders");
    expect(await spent()).toEqual({ orders: 10, domain: 1, nameset: 1 });
  });

  it("a failed issuance gives back the per-issuance spends unless a finalize was sent; the account's stay", async () => {
    const { budgets, budget, request, spent } = setup();
    const domainsLeft = async () => (await budget.view(request)).find((v) => v.kind === "domain")!.available;
    const full = await domainsLeft();
    // Validation failed twice (a switch, then no type left): two orders sent, no finalize.
    const failing = new OrderSpends(budgets, CA, { ...request, replaces: false }, await budgets.admit(CA, { ...request, replaces: false }), Date.now, undefined);
    await failing.beforeNewOrder({ attempt: 1, replaces: false });
    await failing.beforeNewOrder({ attempt: 2, replaces: false });
    await failing.failed();
    expect((await spent()).orders).toBe(2);
    // One token's worth of the send margin aside (FleetBudget.sendMarginMs), the domain's bucket is as full as before.
    expect(await domainsLeft()).toBeGreaterThanOrEqual(full - 1);
    const before = await domainsLeft();
    // Failed after its finalize was sent (the CA may have issued): nothing per-issuance goes back.
    const finalized = new OrderSpends(budgets, CA, { ...request, replaces: false }, await budgets.admit(CA, { ...request, replaces: false }), Date.now, undefined);
    await finalized.beforeNewOrder({ attempt: 1, replaces: false });
    await finalized.beforeFinalize();
    await finalized.failed();
    expect(await domainsLeft()).toBeLessThan(before);
    expect((await spent()).orders).toBe(3);
  });

  it("a further order waiting for the budget is shown as a retry, not a renewal, in this process's queue, the fleet's and the queued event", async () => {
    const storage = new MemoryStorage();
    const events: QueuedOrder[] = [];
    const budgets = new CaBudgets({ storage, primary: CA, caLimits: limits, now: Date.now, logger: silentLogger, onQueued: (order) => events.push(order) });
    const budget = budgets.for(CA)!.budget;
    const request = { id: "cert-retry", account: "https://ca.order-spends.test/acct/1", names: ["retry.spends.example"], nameSetId: "cert-retry" };
    const admitted = await budgets.admit(CA, { ...request, replaces: false });
    const stop = new AbortController();
    const spends = new OrderSpends(budgets, CA, { ...request, replaces: false }, admitted, Date.now, stop.signal);
    await spends.beforeNewOrder({ attempt: 1, replaces: false });
    // The account's bucket is spent: the second order (a challenge-type switch) waits, ahead of first issuances.
    let taken = 0;
    while (taken < 20 && (await budget.trySpend({ ...request, kinds: ["orders"] })).granted) taken++;
    expect(taken).toBeLessThan(20);
    const waiting = spends.beforeNewOrder({ attempt: 2, replaces: false }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(events).toHaveLength(1), { timeout: 10_000, interval: 20 });
    expect(events[0]).toMatchObject({ id: "cert-retry", kind: "retry", renewal: false });
    expect(budgets.queued()).toMatchObject([{ id: "cert-retry", kind: "retry", renewal: false }]);
    await vi.waitFor(async () => expect((await budgets.fleetQueued(CA)).orders).toMatchObject([{ id: "cert-retry", kind: "retry", renewal: false }]), { timeout: 10_000, interval: 20 });
    stop.abort();
    expect(await waiting).toMatchObject({ code: "aborted" });
  });
});
