import { describe, expect, it } from "vitest";
import { fairDispatchOrder, type DispatchEntry } from "../../workers/dispatch-order.ts";

// The order a tick hands its claimed entries out in (workers/dispatch-order.ts): a tick runs a few
// renewals at a time, and the CA budget's fair queue can only order the orders that reach it, so the
// tick itself spreads each registered domain's first issuances over the batch in proportion to its
// share. Pure function, no Worker.
type Entry = DispatchEntry & { id: string; dueAt: number };
const entry = (name: string, dueAt: number, renewal = false): Entry => ({ id: name, names: [name], dueAt, ...(renewal ? { notAfter: dueAt + 1e9 } : {}) });
const domainOf = (e: Entry) => e.names[0]!.split(".").slice(-2).join(".");

describe("fairDispatchOrder", () => {
  it("spreads each domain's first issuances over the batch by its share, renewals first, each domain in due order", () => {
    // Added one customer after another, as a bulk add of a signup export lists them (150/50/10).
    const counts = [150, 50, 10];
    const added = counts.flatMap((n, d) => Array.from({ length: n }, (_, i) => entry(`n${i}.cust${d}.test`, 1000 + d * 1000 + i)));
    const renewals = [entry("r0.cust1.test", 5000, true), entry("r1.cust0.test", 6000, true)];
    const order = fairDispatchOrder([...added, ...renewals], domainOf);
    expect(order).toHaveLength(added.length + renewals.length);
    expect(new Set(order.map((e) => e.id)).size).toBe(order.length);
    // Renewals first, in due order.
    expect(order.slice(0, 2).map((e) => e.id)).toEqual(["r0.cust1.test", "r1.cust0.test"]);
    const firsts = order.slice(2);
    // Every prefix holds each domain's share of it, within one (the smallest customer's first among
    // the first 21 places; in the order added it was the 201st).
    for (let k = 1; k <= firsts.length; k++) {
      for (const [d, n] of counts.entries()) {
        const got = firsts.slice(0, k).filter((e) => domainOf(e) === `cust${d}.test`).length;
        expect(Math.abs(got - (k * n) / firsts.length)).toBeLessThanOrEqual(1);
      }
    }
    expect(firsts.findIndex((e) => domainOf(e) === "cust2.test")).toBeLessThan(21);
    // Each domain's own entries keep their due order.
    for (const d of counts.keys()) {
      const dues = firsts.filter((e) => domainOf(e) === `cust${d}.test`).map((e) => e.dueAt);
      expect(dues).toEqual([...dues].sort((a, b) => a - b));
    }
  });
});
