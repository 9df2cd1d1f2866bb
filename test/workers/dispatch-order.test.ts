import { describe, expect, it } from "vitest";
import { fairDispatchOrder, type DispatchEntry } from "../../workers/dispatch-order.ts";

// The order a tick hands its claimed entries out in (workers/dispatch-order.ts): a tick runs a few
// renewals at a time, and the CA budget's fair queue can only order the orders that reach it, so the
// tick itself starts every registered domain's first issuance before any domain's second, then spreads
// each domain's others over the batch in proportion to its share. Pure function, no Worker.
type Entry = DispatchEntry & { id: string; dueAt: number };
const entry = (name: string, dueAt: number, renewal = false): Entry => ({ id: name, names: [name], dueAt, ...(renewal ? { notAfter: dueAt + 1e9 } : {}) });
const domainOf = (e: Entry) => e.names[0]!.split(".").slice(-2).join(".");

describe("fairDispatchOrder", () => {
  it("starts each domain's first issuance first, then spreads the others by share, renewals first, each domain in due order", () => {
    // Added one customer after another, as a bulk add of a signup export lists them: 150/50/10 and
    // 40 customers with one name each.
    const counts = [150, 50, 10, ...Array<number>(40).fill(1)];
    const added = counts.flatMap((n, d) => Array.from({ length: n }, (_, i) => entry(`n${i}.cust${d}.test`, 1000 + d * 1000 + i)));
    const renewals = [entry("r0.cust1.test", 500_000, true), entry("r1.cust0.test", 600_000, true)];
    const order = fairDispatchOrder([...added, ...renewals], domainOf);
    expect(order).toHaveLength(added.length + renewals.length);
    expect(new Set(order.map((e) => e.id)).size).toBe(order.length);
    // Renewals first, in due order.
    expect(order.slice(0, 2).map((e) => e.id)).toEqual(["r0.cust1.test", "r1.cust0.test"]);
    const firsts = order.slice(2);
    // Every customer's first name in the first 43 places, in the order the customers were added (the
    // old order put each one-name customer in the middle of the batch: the 126th place of 250).
    expect(firsts.slice(0, counts.length).map((e) => e.id)).toEqual(counts.map((_, d) => `n0.cust${d}.test`));
    // After them, every prefix holds each domain's share of it, within one.
    const rest = firsts.slice(counts.length);
    for (let k = 1; k <= rest.length; k++) {
      for (const [d, n] of counts.entries()) {
        const got = rest.slice(0, k).filter((e) => domainOf(e) === `cust${d}.test`).length;
        expect(Math.abs(got - (k * (n - 1)) / rest.length)).toBeLessThanOrEqual(1);
      }
    }
    // Each domain's own entries keep their due order.
    for (const d of counts.keys()) {
      const dues = firsts.filter((e) => domainOf(e) === `cust${d}.test`).map((e) => e.dueAt);
      expect(dues).toEqual([...dues].sort((a, b) => a - b));
    }
  });
});
