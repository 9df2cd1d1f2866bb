/**
 * Onboarding many names within a CA's limits (issue 26), in accelerated time (test/support/onboarding-sim.ts).
 * What a user would notice: refusals from the CA, names left unissued, a small customer waiting
 * behind a large one, and the time the whole onboarding takes against the time the limits allow.
 */
import { describe, expect, it } from "vitest";
import type { CaLimits } from "../../src/budget/ca-limits.ts";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import { failureOf } from "../../src/manager/managed-certificate.ts";
import { isEdgecertError } from "../../src/errors.ts";
import { bed, onboard, onboardingMix } from "../support/onboarding-sim.ts";

describe("fleet-wide CA budget", () => {
  // The issue's workload at EDGECERT_ONBOARDING_SCALE=5: 300 names over six registered domains
  // (150/50/40/30/20/10), 80 new orders per account and 40 certificates per registered domain per 60 s
  // (Let's Encrypt's shape on a scaled window). npm test runs it at scale 1 (60 names, 16 and 8 per
  // 60 s): the same shape and the same 165 s the limits allow, in a fifth of the work.
  const scale = Number(process.env.EDGECERT_ONBOARDING_SCALE ?? 1);
  const counts = [30, 10, 8, 6, 4, 2].map((n) => n * scale);
  const limits = { orders: { count: 16 * scale, periodMs: 60_000 }, domain: { count: 8 * scale, periodMs: 60_000 } };
  const total = counts.reduce((a, b) => a + b, 0);

  const report = (r: Awaited<ReturnType<typeof onboard>>, managerCount: number) =>
    console.log(
      `onboarding, ${managerCount} manager(s): ${r.finals.length} issued, ${r.refusals} refused, ${(r.ratio * r.allowedS).toFixed(1)} s virtual vs ${r.allowedS.toFixed(1)} s the limits allow (${r.ratio.toFixed(3)}x), ${r.steps} clock steps; per domain (first-last s): ${r.perDomain.map((d) => `${d.domain} ${d.issued}/${d.names} ${d.firstS.toFixed(1)}-${d.lastS.toFixed(1)}`).join(", ")}`,
    );

  // Each of the two onboardings runs once in this file: the comparison of 3 managers with 1 below takes
  // the runs the two tests before it checked (it ran both again: 1.1 s).
  const runs = new Map<number, ReturnType<typeof onboard>>();
  const onboarded = (managerCount: number) => {
    let run = runs.get(managerCount);
    if (!run) runs.set(managerCount, (run = onboard(managerCount, counts, limits)));
    return run;
  };

  for (const managerCount of [1, 3]) {
    it(`onboards ${total} names over six registered domains with ${managerCount} manager(s) on one store: 0 refusals, every name issued, no domain starved`, { timeout: 180_000 }, async () => {
      const r = await onboarded(managerCount);
      report(r, managerCount);
      expect(r.failures).toEqual([]);
      expect(r.refusals).toBe(0);
      expect(r.finals.length).toBe(total);
      // Every domain gets its first certificate from the first account bucket, and the smallest customer is done early.
      for (const d of r.perDomain) expect(d.firstS).toBeLessThanOrEqual(1);
      expect(r.perDomain.at(-1)!.lastS).toBeLessThan(r.allowedS / 2);
      // Virtual time, decided by the schedule; the old client took 1.22-1.49x with over 1,000 refusals.
      expect(r.ratio).toBeLessThanOrEqual(1.1);
    });
  }

  it("takes the same turns with 3 managers on one store as with 1: each customer finishes as early (within one refill of the account bucket)", { timeout: 180_000 }, async () => {
    const one = await onboarded(1);
    const three = await onboarded(3);
    expect(three.refusals).toBe(0);
    expect(three.finals.length).toBe(total);
    // Turns are taken in the shared storage, not per process: whichever manager holds a name, it goes
    // at the same place in the queue. (Old code, turns per process: the 2-name customer finished at
    // 102.3 s with 3 managers, 12.3 s with 1.)
    const refill = limits.orders.periodMs / limits.orders.count / 1000;
    for (const [i, d] of three.perDomain.entries()) expect(d.lastS, d.domain).toBeLessThanOrEqual(one.perDomain[i]!.lastS + refill);
  });

  it("onboards the 100,000-name mix at 1/100 (one large customer, ten mid-sized, 100 small) with 3 managers as with 1: 0 refusals, within 1.05x, small customers done before the large one", { timeout: 180_000 }, async () => {
    // The bench runs it at 100,000 names (BENCH_ONBOARDING_100K=1): test/support/onboarding-sim.ts onboardingMix.
    const { counts: mix, limits: mixLimits } = onboardingMix(Number(process.env.EDGECERT_ONBOARDING_MIX_SCALE ?? 0.01));
    const one = await onboard(1, mix, mixLimits);
    const three = await onboard(3, mix, mixLimits);
    const small = (r: typeof one) => r.perDomain.slice(11);
    for (const [managers, r] of [[1, one], [3, three]] as const) {
      console.log(
        `mix, ${managers} manager(s): ${r.finals.length} issued, ${r.refusals} refused, ${r.ratio.toFixed(4)}x of ${r.allowedS} s; large ${r.perDomain[0]!.firstS}-${r.perDomain[0]!.lastS} s, mid last ${Math.max(...r.perDomain.slice(1, 11).map((d) => d.lastS))} s, ${small(r).length} small: first by ${Math.max(...small(r).map((d) => d.firstS))} s, last by ${Math.max(...small(r).map((d) => d.lastS))} s`,
      );
      expect(r.failures).toEqual([]);
      expect(r.refusals).toBe(0);
      expect(r.finals.length).toBe(r.names.length);
      expect(r.ratio).toBeLessThanOrEqual(1.05);
      // No small customer waits for the large one: each is done before it, and had its first
      // certificate within the first fifth of the run (turns, not arrival order: the large customer's
      // names were all submitted first).
      expect(Math.max(...small(r).map((d) => d.lastS))).toBeLessThan(r.perDomain[0]!.lastS);
      expect(Math.max(...small(r).map((d) => d.firstS))).toBeLessThan(r.allowedS / 5);
    }
    const refill = mixLimits.orders.periodMs / mixLimits.orders.count / 1000;
    for (const [i, d] of three.perDomain.entries()) expect(d.lastS, d.domain).toBeLessThanOrEqual(one.perDomain[i]!.lastS + refill);
  });

  it("takes first issuances in turns across registered domains: one customer's 10 names do not go before another's one", async () => {
    const b = bed({ orders: { count: 2, periodMs: 10_000 } });
    const m = b.manager();
    const names = [...Array.from({ length: 10 }, (_, i) => `n${i}.big.example`), "www.small.example", "www.tiny.example"];
    let settled = 0;
    const all = names.map((n) => m.manage([n]).finally(() => settled++));
    await b.clock.drive(() => settled === names.length, { ready: () => m.queued().length === names.length - settled });
    await Promise.all(all);
    const order = b.limited.events.filter((e) => e.kind === "newOrder" && !e.refused).map((e) => e.names[0]!);
    console.log(`order at the CA: ${order.join(" ")}`);
    expect(b.limited.refusals()).toEqual([]);
    // Arrival order was big x10, small, tiny: with turns, small and tiny are among the first three orders.
    expect(order.slice(0, 3).filter((n) => !n.endsWith(".big.example")).sort()).toEqual(["www.small.example", "www.tiny.example"]);
    expect(order).toHaveLength(12);
  });

  it("pauses the whole fleet on one rate-limit refusal until its Retry-After", async () => {
    // The budget allows 100 orders per 10 s, but the CA's account bucket (shared with an outside client) holds 3.
    const b = bed({ orders: { count: 3, periodMs: 60_000 } });
    const budget: CaLimits = { newOrdersPerAccount: { count: 100, periodMs: 10_000 } };
    const [m1, m2] = [b.manager(budget), b.manager(budget)];
    const run = async (m: CertificateManager, names: string[]) => {
      let settled = 0;
      const results = names.map((n) =>
        m.manage([n]).then(
          () => "ok",
          (err: unknown) => String(err),
        ).finally(() => settled++),
      );
      await b.clock.drive(() => settled === names.length, { ready: () => m.queued().length === names.length - settled });
      return Promise.all(results);
    };
    // Process 1: four orders, the CA takes three and refuses the fourth (Retry-After 20 s: one token of 3 per 60 s).
    const first = await run(m1, Array.from({ length: 4 }, (_, i) => `p${i}.pause.example`));
    expect(first.filter((o) => o !== "ok")).toHaveLength(1);
    const refusal = b.limited.events.find((e) => e.refused)!;
    const seen = b.limited.events.length;
    // Process 2 on the same store: its orders wait for the pause instead of meeting the same refusal.
    expect(await run(m2, ["q0.pause.example"])).toEqual(["ok"]);
    const later = b.limited.events.slice(seen).filter((e) => e.kind === "newOrder");
    console.log(`pause: process 2's first newOrder ${(later[0]!.at - refusal.at) / 1000} s after the refusal; ${b.limited.refusals().length} refusal(s) in all`);
    expect(later[0]!.at - refusal.at).toBeGreaterThanOrEqual(20_000);
    expect(b.limited.refusals()).toHaveLength(1);
  });

  it("with a wait bound (as the Worker sets), an order the budget cannot pay fails at once, sends nothing, and comes back when the budget refills", async () => {
    const b = bed({ orders: { count: 1, periodMs: 60_000 } });
    const m = new CertificateManager({
      storage: b.storage,
      directoryUrl: b.ca.directoryUrl,
      fetch: b.limited.fetch,
      termsOfServiceAgreed: true,
      caLimits: { newOrdersPerAccount: { count: 1, periodMs: 60_000 } },
      budgetClock: b.clock,
      budgetMaxWaitMs: 10_000,
    });
    await m.manage(["first.wait.example"]);
    let error: unknown;
    await m.manage(["second.wait.example"]).catch((err: unknown) => (error = err));
    expect(isEdgecertError(error, "budget_spent")).toBe(true);
    expect(String(error)).toContain("nothing was sent");
    // The failure state waits for the refill (one token of 1 per 60 s), not the minute of ordinary backoff.
    const failure = failureOf(error);
    expect(failure?.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(Date.now() + 50_000);
    expect(b.limited.events.filter((e) => e.kind === "newOrder").map((e) => e.names[0])).toEqual(["first.wait.example"]);
    expect(b.limited.refusals()).toEqual([]);
  });
});
